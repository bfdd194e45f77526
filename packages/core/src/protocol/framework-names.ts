/**
 * The framework each adapter stamps on its events, one name per adapter, the same as its package
 * and its docs (`@meshguard/bedrock` stamps `bedrock`).
 */
export const FRAMEWORK_NAMES = {
  openaiAgents: 'openai-agents',
  bedrock: 'bedrock',
  vertex: 'vertex',
} as const;

/**
 * Older spellings of a framework name, by the name stamped now: trails recorded before the rename
 * still match a filter on either spelling. The one alias table; every filter reads it.
 */
const OLDER_SPELLINGS: Readonly<Record<string, readonly string[]>> = {
  // @meshguard/bedrock 0.1.0 stamped `bedrock-agents`.
  [FRAMEWORK_NAMES.bedrock]: ['bedrock-agents'],
};

const SPELLINGS = new Map<string, readonly string[]>();
for (const [name, older] of Object.entries(OLDER_SPELLINGS)) {
  const all = [name, ...older];
  for (const spelling of all) SPELLINGS.set(spelling, all);
}

/**
 * Every spelling a `framework` filter for `name` matches: the name stamped now and its older
 * spellings, whichever of them is asked for; any other name matches only itself.
 *
 * @example
 * frameworkSpellings('bedrock-agents'); // ['bedrock', 'bedrock-agents']
 */
export function frameworkSpellings(name: string): readonly string[] {
  return SPELLINGS.get(name) ?? [name];
}
