import pc from 'picocolors';

/** Where a command writes; tests capture it. `color`: whether to colour (see {@link colorWanted}). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  color: boolean;
}

/**
 * Whether to colour: `NO_COLOR` (set and not empty) turns it off whatever else says (no-color.org);
 * `FORCE_COLOR` (set and not empty) turns it on where no terminal is, for a CI log or a pager,
 * unless it is `0` or `false` as Node reads it; otherwise only on a terminal that is not `dumb`.
 */
export function colorWanted(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force) return force !== '0' && force !== 'false';
  return isTTY && env.TERM !== 'dumb';
}

export function processIo(): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    color: colorWanted(process.env, Boolean(process.stdout.isTTY)),
  };
}

// Always-on colours: whether to use them is decided above, not by picocolors' own reading of the
// environment (which counts an empty NO_COLOR, and colours any CI log).
const colors = pc.createColors(true);

export function paint(io: CliIo) {
  const wrap = (f: (s: string) => string) => (s: string) => (io.color ? f(s) : s);
  return {
    green: wrap(colors.green),
    red: wrap(colors.red),
    yellow: wrap(colors.yellow),
    dim: wrap(colors.dim),
    bold: wrap(colors.bold),
    effect(effect: string) {
      if (effect === 'allow') return wrap(colors.green)(effect);
      if (effect === 'deny') return wrap(colors.red)(effect);
      return wrap(colors.yellow)(effect);
    },
  };
}

/**
 * A count and its noun, agreeing: `plural(1, 'rule')` is "1 rule", `plural(2, 'rule')` "2 rules",
 * `plural(3, 'policy', 'policies')` "3 policies". The one place the CLI chooses a plural.
 */
export function plural(count: number, one: string, other = `${one}s`): string {
  return `${count} ${isSingular(count) ? one : other}`;
}

/** Whether a count takes the singular ("1 event ... it"), for the words that agree with it. */
export function isSingular(count: number): boolean {
  return PLURAL_RULES.select(count) === 'one';
}

const PLURAL_RULES = new Intl.PluralRules('en');
