import { Agent, fileSearchTool, Runner, webSearchTool } from '@openai/agents';
import { assistantMessage, ScriptedModel } from '@openai/agents/testing';
import { governAgent } from '../govern-agent';
import type { GovernanceOptions } from '../governance-context';
import { supportOptions } from '../support-fixtures';

const hosted = (id: string, name: string, providerData: Record<string, unknown>) => ({
  type: 'hosted_tool_call' as const,
  id,
  name,
  status: 'completed',
  providerData: { type: name, ...providerData },
});

/**
 * One governed run of the real Runner in which the model made three hosted calls: a web search
 * for "headphones return policy" (ws_ok), one for "ACME headphones prices" (ws_no) and a file
 * search with the queries "warranty terms" and "acme price match" (fs_no). Returns the run's
 * result and the options `recordHostedToolCalls` takes.
 */
export async function runHostedSearches(guard: GovernanceOptions['guard'], traceId: string) {
  const model = new ScriptedModel([
    [
      hosted('ws_ok', 'web_search_call', { action: { type: 'search', query: 'headphones return policy' } }),
      hosted('ws_no', 'web_search_call', { action: { type: 'search', query: 'ACME headphones prices' } }),
      hosted('fs_no', 'file_search_call', { queries: ['warranty terms', 'acme price match'] }),
      assistantMessage('Returns are accepted within 30 days.'),
    ],
  ]);
  const agent = new Agent({
    name: 'Customer Support Agent',
    instructions: 'Answer with sources.',
    model,
    tools: [webSearchTool(), fileSearchTool(['vs_support'])],
  });
  const options = supportOptions(guard, traceId);
  const result = await new Runner({ tracingDisabled: true }).run(governAgent(agent, options), 'Prices?');
  return { result, options };
}
