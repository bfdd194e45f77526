import { RE2JS } from 're2js';

/** A regular expression that runs in time linear in its input. */
export interface LinearRegExp {
  /** Whether the pattern matches somewhere in `text` (unanchored, as `RegExp.prototype.test`). */
  test(text: string): boolean;
}

/**
 * Compiles a policy's `matches` pattern with RE2 semantics (re2js, a pure-JS port of RE2): no
 * backtracking, so a hostile value cannot stall the event loop the way `(a+)+$` does in
 * JavaScript's own engine. What RE2 cannot run in linear time (lookahead, lookbehind,
 * backreferences) is refused here, at load, with the reason. Throws on an invalid pattern.
 *
 * @example
 * compileLinearRegExp('@example\\.com$').test('a@example.com') // true
 */
export function compileLinearRegExp(source: string): LinearRegExp {
  const re = RE2JS.compile(source);
  return { test: (text) => re.matcher(text).find() };
}

/** Why a `matches` pattern is refused, or undefined when RE2 accepts it. */
export function linearRegExpProblem(source: string): string | undefined {
  try {
    RE2JS.compile(source);
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const unsupported = /\(\?[=!<]|\\[1-9]/.test(source)
      ? ' (lookahead, lookbehind and backreferences are not supported: matching runs in linear time, RE2 syntax)'
      : '';
    return `not a valid regular expression: ${message.replace(/^error parsing regexp: /, '')}${unsupported}`;
  }
}
