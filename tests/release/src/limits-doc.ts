// Reads what the docs say MeshGuard does not do: every bullet of every "Limits" section (a heading
// "Limits...", or "Known limits...") of the Markdown a user reads, with the markers that name each
// limit (`<!-- limit: gateway-approver-route -->`), and what breaks the convention: a limit without
// a marker, prose in a Limits section, a marker elsewhere, a list of limits under no Limits heading,
// or a "not yet" said outside one.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './workspace';

export interface LimitBullet {
  /** `file:line` of the bullet's first line. */
  where: string;
  /** The bullet's text, markers left out, on one line. */
  text: string;
  /** The limit markers it carries. */
  markers: string[];
}

export interface LimitDocs {
  bullets: LimitBullet[];
  /** Lines that break the convention, as `file:line: what is wrong`. */
  problems: string[];
}

const MARKER = /<!--\s*limit:\s*([a-z0-9]+(?:-[a-z0-9]+)*)\s*-->/g;
const MARKER_LIKE = /<!--\s*limits?\b/i;
const HEADING = /^(#{1,6})\s+(.*)$/;
const LIMITS_HEADING = /^(known\s+)?limits\b/i;
const BULLET = /^[-*]\s+/;
/** "Limits:", "Other limits:", "Other behaviour and limits:" opening a paragraph or a list. */
const LIMITS_LEAD_IN = /^(?:[\w-]+\s+){0,3}limits:/i;
/** What promises a feature rather than describing one: belongs in a Limits section, with a marker. */
const NOT_YET =
  /\b(not (?:supported|implemented|available) yet|not yet (?:supported|implemented|available|there)|not there yet|coming soon|is coming|coming with|planned|not in this version|in a (?:later|future|next) version)\b/i;

/** The Markdown files a user reads: the READMEs of the repository and its packages, and docs/. */
export function userDocs(root = REPO_ROOT): string[] {
  const files = ['README.md', 'CONTRIBUTING.md', 'bench/README.md'].filter((f) => existsSync(join(root, f)));
  const walk = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) return walk(path);
      return entry.name.endsWith('.md') ? [path] : [];
    });
  if (existsSync(join(root, 'docs'))) files.push(...walk('docs'));
  for (const group of ['packages', 'apps']) {
    if (!existsSync(join(root, group))) continue;
    for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
      const readme = `${group}/${entry.name}/README.md`;
      if (entry.isDirectory() && existsSync(join(root, readme))) files.push(readme);
    }
  }
  return files.sort();
}

/** Every Limits bullet of `files`, and every line that breaks the convention. */
export function readLimitDocs(files = userDocs(), root = REPO_ROOT): LimitDocs {
  const bullets: LimitBullet[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    let fenced = false;
    /** The level of the Limits heading we are under, or 0. */
    let limitsLevel = 0;
    let bullet: (LimitBullet & { lines: string[] }) | undefined;
    let afterBlank = false;
    const close = () => {
      if (!bullet) return;
      const joined = bullet.lines.join(' ');
      bullet.markers = [...joined.matchAll(MARKER)].map((m) => m[1]!);
      bullet.text = joined.replace(MARKER, '').replace(/\s+/g, ' ').trim();
      const { lines: _, ...done } = bullet;
      bullets.push(done);
      bullet = undefined;
    };
    lines.forEach((line, index) => {
      const where = `${file}:${index + 1}`;
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return;
      }
      if (fenced) return;
      const heading = HEADING.exec(line);
      if (heading) {
        close();
        const level = heading[1]!.length;
        if (limitsLevel && level <= limitsLevel) limitsLevel = 0;
        if (LIMITS_HEADING.test(heading[2]!.trim())) limitsLevel = level;
        return;
      }
      if (MARKER_LIKE.test(line) && !line.match(MARKER)) {
        problems.push(`${where}: a malformed limit marker (write <!-- limit: some-name -->): ${line.trim()}`);
      }
      if (!limitsLevel) {
        // What a code span holds is quoted, not said.
        const said = line.replace(/`[^`]*`/g, '');
        if (line.match(MARKER))
          problems.push(`${where}: a limit marker outside a Limits section: ${line.trim()}`);
        if (LIMITS_LEAD_IN.test(said.replace(BULLET, '').trim()))
          problems.push(
            `${where}: a list of limits under no Limits heading: make it a "## Limits" section, each bullet with its marker: ${line.trim()}`,
          );
        if (NOT_YET.test(said))
          problems.push(
            `${where}: says something is missing outside a Limits section: move it into one (with its marker) or say what is there: ${line.trim()}`,
          );
        return;
      }
      if (BULLET.test(line)) {
        close();
        bullet = { where, text: '', markers: [], lines: [line.replace(BULLET, '')] };
      } else if (line.trim() === '') {
        afterBlank = true;
        return;
      } else if (bullet && (/^\s/.test(line) || !afterBlank)) {
        // An indented line continues the bullet; so does an unindented one right after it (lazily).
        bullet.lines.push(line.trim());
      } else {
        close();
        problems.push(
          `${where}: prose in a Limits section: write each limit as a bullet with its marker: ${line.trim()}`,
        );
      }
      afterBlank = false;
    });
    close();
  }
  return { bullets, problems };
}
