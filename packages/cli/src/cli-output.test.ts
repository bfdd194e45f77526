import { describe, expect, it } from 'vitest';
import { colorWanted, plural } from './cli-output';
import { ROOT, runCli, SEED } from './test-helpers/cli-harness';
import { fitTo, textWidth } from './text-columns';

/** `policy validate` (a green ✓ when coloured) with only `colour` of the colour variables set. */
function validateWith(colour: Record<string, string>) {
  const { NO_COLOR: _no, FORCE_COLOR: _force, ...env } = process.env;
  return runCli(['policy', 'validate', SEED], { cwd: ROOT, env: { ...env, ...colour } });
}

describe('colour', () => {
  it('FORCE_COLOR colours output that goes to no terminal; NO_COLOR wins over it', () => {
    expect(validateWith({}).stdout).not.toContain('\u001b[');
    expect(validateWith({ FORCE_COLOR: '1' }).stdout).toContain('\u001b[32m✓');
    expect(validateWith({ FORCE_COLOR: '1', NO_COLOR: '1' }).stdout).not.toContain('\u001b[');
    expect(validateWith({ FORCE_COLOR: '0' }).stdout).not.toContain('\u001b[');
  });

  it('is decided as no-color.org and Node read the variables', () => {
    expect(colorWanted({}, true)).toBe(true);
    expect(colorWanted({}, false)).toBe(false);
    expect(colorWanted({ TERM: 'dumb' }, true)).toBe(false);
    // An empty NO_COLOR is not set (no-color.org); an empty FORCE_COLOR neither.
    expect(colorWanted({ NO_COLOR: '' }, true)).toBe(true);
    expect(colorWanted({ FORCE_COLOR: '' }, false)).toBe(false);
    for (const force of ['1', '2', '3', 'true'])
      expect(colorWanted({ FORCE_COLOR: force }, false)).toBe(true);
    for (const force of ['0', 'false']) expect(colorWanted({ FORCE_COLOR: force }, true)).toBe(false);
    expect(colorWanted({ NO_COLOR: '1', FORCE_COLOR: '1' }, true)).toBe(false);
  });
});

describe('plural', () => {
  it('agrees with the count', () => {
    expect(plural(0, 'rule')).toBe('0 rules');
    expect(plural(1, 'rule')).toBe('1 rule');
    expect(plural(2, 'rule')).toBe('2 rules');
    expect(plural(1, 'policy', 'policies')).toBe('1 policy');
    expect(plural(3, 'policy', 'policies')).toBe('3 policies');
  });
});

describe('text columns', () => {
  it('measures and cuts in terminal cells, never inside a character', () => {
    expect(textWidth('客服')).toBe(4);
    expect(textWidth('\u001b[31mdeny\u001b[39m')).toBe(4);
    expect(fitTo('客服助手', 6)).toBe('客服… ');
    expect(textWidth(fitTo('客服助手', 6))).toBe(6);
    expect(fitTo('ab', 4)).toBe('ab  ');
    expect(fitTo('👩‍💻👩‍💻👩‍💻', 5)).toBe('👩‍💻👩‍💻…');
  });
});
