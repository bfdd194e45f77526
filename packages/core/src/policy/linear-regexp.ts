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

/** `/acme/i`: a JavaScript regular expression literal, slashes and flags (at least one) included. */
const JS_LITERAL = /^\/(.+)\/([dgimsuvy]+)$/;

/** JavaScript flags RE2 also has, written inline (`(?i)`); the others mean nothing to a match. */
const INLINE_FLAGS = new Set(['i', 'm', 's']);

/**
 * Why a `matches` pattern is refused, or undefined when RE2 accepts it. Besides what RE2 cannot
 * compile, a JavaScript regular expression literal (`/acme/i`) is refused: RE2 would match its
 * slashes and flags as text, so a rule written that way would silently never match.
 */
export function linearRegExpProblem(source: string): string | undefined {
  try {
    RE2JS.compile(source);
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replace(
      /^error parsing regexp: /,
      '',
    );
    const hint = /\(\?[=!<]|\\[1-9]/.test(source)
      ? ' (lookahead, lookbehind and backreferences are not supported: matching runs in linear time, RE2 syntax)'
      : /unsupported Perl syntax: `\(\?[a-zA-Z]/.test(message)
        ? ' (the inline flags are i, m, s and U: "(?i)acme" matches "ACME" too)'
        : '';
    return `not a valid regular expression: ${message}${hint}`;
  }
  const literal = JS_LITERAL.exec(source);
  if (literal) {
    const flags = [...new Set(literal[2])].filter((flag) => INLINE_FLAGS.has(flag)).join('');
    const written = `${flags ? `(?${flags})` : ''}${literal[1]}`;
    return `"${source}" is written as a JavaScript regular expression literal, whose slashes and flags would be matched as text: write "${written}" (flags go inline, as "(?i)")`;
  }
  return undefined;
}
