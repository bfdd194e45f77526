// The docs' "Limits" sections cannot go stale: each bullet names its limit with a marker
// (`<!-- limit: gateway-approver-route -->`), each marker has a probe (limit-probes.ts) that checks
// MeshGuard still does not do it, and a probe that finds the feature there fails the test, saying
// which doc to update. A bullet without a marker, a marker without a probe, a probe no doc uses,
// and a "not yet" said outside a Limits section fail too.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LIMIT_PROBES } from './limit-probes';
import { type LimitBullet, readLimitDocs, userDocs } from './limits-doc';

const docs = readLimitDocs();
const bulletsByMarker = new Map<string, LimitBullet[]>();
for (const bullet of docs.bullets) {
  for (const marker of bullet.markers)
    bulletsByMarker.set(marker, [...(bulletsByMarker.get(marker) ?? []), bullet]);
}
const markers = [...bulletsByMarker.keys()].sort();

describe('Limits sections: every limit is named, and each name has a probe', () => {
  it('reads the Limits sections of the READMEs and docs/', () => {
    expect(userDocs()).toEqual(
      expect.arrayContaining(['README.md', 'docs/gateway.md', 'packages/cli/README.md']),
    );
    expect(docs.bullets.length).toBeGreaterThanOrEqual(10);
  });

  it('every Limits bullet carries a marker, and nothing else breaks the convention', () => {
    expect(
      docs.bullets.filter((b) => b.markers.length === 0).map((b) => `${b.where}: ${b.text}`),
      'Limits bullets without a marker: add `<!-- limit: some-name -->` on a line of its own under the bullet, and a probe for it in tests/release/src/limit-probes.ts',
    ).toEqual([]);
    expect(docs.problems).toEqual([]);
  });

  it('every marker has a probe, and every probe a marker', () => {
    expect(
      markers
        .filter((marker) => !Object.hasOwn(LIMIT_PROBES, marker))
        .map((m) => `${m} (${bulletsByMarker.get(m)![0]!.where})`),
      'markers with no probe: add one to LIMIT_PROBES in tests/release/src/limit-probes.ts that checks the feature is still missing',
    ).toEqual([]);
    expect(
      Object.keys(LIMIT_PROBES).filter((name) => !bulletsByMarker.has(name)),
      'probes no Limits bullet names: the limit left the docs, so remove its probe',
    ).toEqual([]);
  });
});

describe('every limit the docs name still holds', () => {
  it.each(markers.filter((m) => Object.hasOwn(LIMIT_PROBES, m)))('%s', async (marker) => {
    const { limit, probe } = LIMIT_PROBES[marker]!;
    const where = bulletsByMarker.get(marker)!.map((b) => b.where);
    const found = await probe();
    expect(
      found,
      `${where.join(', ')} says MeshGuard does not do this (${limit}), and the probe found otherwise: ${found}. If it ships now, update the doc (drop or reword the bullet and its marker) and drop the probe "${marker}" in tests/release/src/limit-probes.ts; if only the code moved, update the probe`,
    ).toBeUndefined();
  });
});

describe('the Limits reader', () => {
  const root = mkdtempSync(join(tmpdir(), 'meshguard-limits-doc-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const read = (text: string) => {
    const file = 'docs/example.md';
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), text);
    return readLimitDocs([file], root);
  };

  it('reads bullets with their markers, continuation lines included, until the next heading', () => {
    const { bullets, problems } = read(
      [
        '# Tool',
        '',
        '## Limits in this version',
        '',
        '- No push: it polls.',
        '  <!-- limit: tool-polls -->',
        '- Two limits in one',
        'line (lazy continuation). <!-- limit: tool-a --> <!-- limit: tool-b -->',
        '',
        '## Next',
        '',
        '- Not a limit.',
        '',
        '```md',
        '## Limits',
        '- inside a code block',
        '```',
      ].join('\n'),
    );
    expect(problems).toEqual([]);
    expect(bullets).toEqual([
      { where: 'docs/example.md:5', text: 'No push: it polls.', markers: ['tool-polls'] },
      {
        where: 'docs/example.md:7',
        text: 'Two limits in one line (lazy continuation).',
        markers: ['tool-a', 'tool-b'],
      },
    ]);
  });

  it('finds a bullet without a marker, prose, a stray or malformed marker, a lead-in list and a "not yet"', () => {
    const { bullets, problems } = read(
      [
        '### Known limits',
        '- Unmarked.',
        '',
        'Some prose.',
        '- <!-- limit tool-x -->',
        '## Usage',
        'Works. <!-- limit: tool-y -->',
        'Other limits:',
        'Approvals are coming with the next release; tokens are not supported yet.',
      ].join('\n'),
    );
    expect(bullets.map((b) => [b.where, b.markers])).toEqual([
      ['docs/example.md:2', []],
      ['docs/example.md:5', []],
    ]);
    expect(problems).toEqual(
      [
        '4: prose in a Limits section',
        '5: a malformed limit marker',
        '7: a limit marker outside a Limits section',
        '8: a list of limits under no Limits heading',
        '9: says something is missing outside a Limits section',
      ].map((start) => expect.stringMatching(new RegExp(`^docs/example\\.md:${start}`))),
    );
  });
});
