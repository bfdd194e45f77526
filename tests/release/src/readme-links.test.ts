// Every link of every packed README works where users read it: on npmjs.com and in node_modules,
// where the repository's other files are not. A relative link must name a file in the tarball; a
// link into this repository must name a file or folder it has (and, for `#anchor`, a heading of
// that page); any other URL must be on a host of a small allow-list. Nothing is fetched: the
// repository is read from this checkout.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { headingSlug, markdownAnchors, markdownLinks } from './markdown-links';
import { type PackedTarball, tarball } from './packed-tarball';
import { REPO_ROOT, REPOSITORY_URL } from './workspace';

const packed = inject('packed');

/** Hosts a packed README may link to besides this repository; add one when a README needs it. */
const ALLOWED_HOSTS = new Set(['github.com', 'docs.aws.amazon.com']);
/** Pages of the repository that are neither a file nor a folder. */
const REPOSITORY_PAGES = new Set(['', '/issues', '/security/advisories/new']);

/** The files git knows about (committed or not yet committed, minus ignored ones): the repository. */
const repositoryFiles = new Set(
  execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter(Boolean),
);

function anchorProblem(markdown: string, anchor: string, where: string): string | undefined {
  return markdownAnchors(markdown).has(decodeURIComponent(anchor))
    ? undefined
    : `no heading #${anchor} in ${where}`;
}

function repositoryLinkProblem(url: URL): string | undefined {
  const rest = url.pathname.slice(new URL(REPOSITORY_URL).pathname.length).replace(/\/$/, '');
  const anchor = url.hash.slice(1);
  const page = /^\/(blob|tree)\/main\/(.+)$/.exec(rest);
  if (!page) {
    return REPOSITORY_PAGES.has(rest) && !anchor
      ? undefined
      : `${rest} is neither a file (/blob/main/...), a folder (/tree/main/...) nor a known page of the repository`;
  }
  const path = decodeURIComponent(page[2]!);
  if (page[1] === 'tree') {
    if (![...repositoryFiles].some((file) => file.startsWith(`${path}/`))) {
      return `${path} is not a folder of the repository`;
    }
    // GitHub shows a folder's README under the `readme` anchor.
    return !anchor || anchor === 'readme' ? undefined : `#${anchor} on a folder page`;
  }
  if (!repositoryFiles.has(path)) return `${path} is not a file of the repository`;
  if (!anchor) return undefined;
  if (!path.endsWith('.md')) return `#${anchor} on ${path}, which has no headings`;
  return anchorProblem(readFileSync(join(REPO_ROOT, path), 'utf8'), anchor, path);
}

/** Why a link of a packed README is dead where it is read, or undefined when it resolves. */
function linkProblem(target: string, pkg: PackedTarball, readme: string): string | undefined {
  if (target.startsWith('#')) return anchorProblem(readme, target.slice(1), 'this README');
  let url: URL | undefined;
  try {
    url = new URL(target);
  } catch {
    url = undefined;
  }
  if (!url) {
    if (target.startsWith('/')) return 'a path from the site root, which is npmjs.com, not the package';
    const [path = '', anchor] = target.split('#');
    const file = posix.normalize(decodeURIComponent(path.split('?')[0] ?? ''));
    if (file.startsWith('../'))
      return 'outside the package: dead once installed (link the repository instead)';
    if (!pkg.files.includes(file)) return `${file} is not in the tarball`;
    if (!anchor) return undefined;
    return file.endsWith('.md') ? anchorProblem(pkg.read(file), anchor, file) : `#${anchor} on ${file}`;
  }
  if (url.protocol !== 'https:') return `${url.protocol} link (only https)`;
  if (
    `${url.origin}${url.pathname}`.replace(/\/$/, '') === REPOSITORY_URL ||
    target.startsWith(`${REPOSITORY_URL}/`)
  ) {
    return repositoryLinkProblem(url);
  }
  return ALLOWED_HOSTS.has(url.hostname) ? undefined : `${url.hostname} is not an allowed host`;
}

describe.each(packed.map((p) => [p.name, p] as const))('%s README, as packed', (_name, pkg) => {
  it('links only to what resolves: files it ships, files of the repository, allowed hosts', () => {
    const packedTarball = tarball(pkg.tarball);
    const readme = packedTarball.read('README.md');
    const links = markdownLinks(readme);
    const problems = links.flatMap((link) => {
      const problem = linkProblem(link.target, packedTarball, readme);
      return problem ? [`${pkg.dir}/README.md:${link.line}: ${link.target}: ${problem}`] : [];
    });
    expect(problems).toEqual([]);
  });
});

describe('Markdown links and anchors, as the README check reads them', () => {
  it('finds inline, reference, HTML, auto and bare links, and none in code', () => {
    const markdown = [
      'See [the docs](../../docs/a.md#one "title") and ![logo](img/logo.png).',
      '[ref]: https://example.com/ref',
      '<a href="https://example.com/html">x</a> <https://example.com/auto>',
      'Bare https://example.com/bare. And `https://example.com/span` in code.',
      '```sh',
      'curl https://example.com/fenced',
      '```',
      '(see https://example.com/paren)',
    ].join('\n');
    expect(markdownLinks(markdown)).toEqual([
      { target: '../../docs/a.md#one', line: 1 },
      { target: 'img/logo.png', line: 1 },
      { target: 'https://example.com/ref', line: 2 },
      { target: 'https://example.com/html', line: 3 },
      { target: 'https://example.com/auto', line: 3 },
      { target: 'https://example.com/bare', line: 4 },
      { target: 'https://example.com/paren', line: 8 },
    ]);
  });

  it('gives headings the anchors GitHub gives them, and none to comments in code', () => {
    expect(headingSlug('Durability: durable (default) or batched')).toBe(
      'durability-durable-default-or-batched',
    );
    expect(headingSlug('`createGuard()` options and [links](x.md)')).toBe('createguard-options-and-links');
    const anchors = markdownAnchors(
      ['# Title', '## Usage', '```sh', '# not a heading', '```', '## Usage ##', '<a id="custom"></a>'].join(
        '\n',
      ),
    );
    expect([...anchors]).toEqual(['title', 'usage', 'usage-1', 'custom']);
  });
});
