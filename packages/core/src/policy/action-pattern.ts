/** A compiled action pattern: `*` matches any run of characters (including none). */
export type ActionMatcher = (action: string) => boolean;

export function isWildcard(pattern: string): boolean {
  return pattern.includes('*');
}

/**
 * Compiles a pattern into a matcher without regular expressions (no escaping pitfalls, no
 * catastrophic backtracking): the literal pieces between stars must appear in order, the first
 * anchored at the start and the last at the end.
 */
export function compileActionPattern(pattern: string): ActionMatcher {
  if (!isWildcard(pattern)) return (action) => action === pattern;
  if (/^\*+$/.test(pattern)) return () => true;
  const parts = pattern.split('*');
  const head = parts[0]!;
  const tail = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((p) => p.length > 0);
  const minLength = head.length + tail.length + middle.reduce((n, p) => n + p.length, 0);
  if (middle.length === 0) {
    return (action) => action.length >= minLength && action.startsWith(head) && action.endsWith(tail);
  }
  return (action) => {
    if (action.length < minLength || !action.startsWith(head) || !action.endsWith(tail)) return false;
    let at = head.length;
    const end = action.length - tail.length;
    for (const piece of middle) {
      const found = action.indexOf(piece, at);
      if (found < 0 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  };
}

/** Matches `action` against a pattern (compiling it each time: use {@link compileActionPattern} in loops). */
export function matchesAction(pattern: string, action: string): boolean {
  return compileActionPattern(pattern)(action);
}
