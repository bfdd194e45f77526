import type { AgentIdentity, OutcomeEvent } from '@meshguard/core';
import type { Span, SpanData, Trace, TracingProcessor } from '@openai/agents';
import { type GovernanceOptions, guardFor, identityOf, kit } from './governance-context';

type AnySpan = Span<SpanData>;

/**
 * Mirrors the SDK's agent, function, handoff and guardrail spans into the audit trail under the
 * same trace id, so `meshguard audit trace <id>` shows the OpenAI run beside its decisions.
 * Opt-in: `addTraceProcessor(new MeshGuardTracingProcessor({ guard, identities }))`. Each span
 * becomes one `observed` event (or `error`, or `blocked` for a tripped guardrail); its id comes
 * from the span, so a span is never recorded twice.
 */
export class MeshGuardTracingProcessor implements TracingProcessor {
  readonly #options: GovernanceOptions;
  /** Agent names by span id (agent and turn spans), to find who ran a function span. */
  readonly #agents = new Map<string, string>();
  readonly #parents = new Map<string, string | null>();
  readonly #pending = new Set<Promise<void>>();

  constructor(options: GovernanceOptions) {
    this.#options = options;
  }

  async onTraceStart(_trace: Trace): Promise<void> {}

  async onTraceEnd(_trace: Trace): Promise<void> {
    // Spans leave #parents and #agents as they end; only the records in flight are left to wait for.
    await this.forceFlush();
  }

  async onSpanStart(span: AnySpan): Promise<void> {
    const data = span.spanData as { type: string; name?: string; agent_name?: string };
    this.#parents.set(span.spanId, span.parentId);
    if (data.type === 'agent' && data.name) this.#agents.set(span.spanId, data.name);
    if (data.type === 'turn' && data.agent_name) this.#agents.set(span.spanId, data.agent_name);
  }

  async onSpanEnd(span: AnySpan): Promise<void> {
    const event = this.#eventOf(span);
    this.#parents.delete(span.spanId);
    this.#agents.delete(span.spanId);
    if (!event) return;
    const pending = kit
      .recordObserved(guardFor(this.#options, event.agent!.name), event)
      .finally(() => this.#pending.delete(pending));
    this.#pending.add(pending);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
  }

  async forceFlush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #agentOf(span: AnySpan): string | undefined {
    let id: string | null | undefined = span.parentId;
    for (let hops = 0; id && hops < 32; hops++) {
      const name = this.#agents.get(id);
      if (name) return name;
      id = this.#parents.get(id);
    }
    return undefined;
  }

  #eventOf(span: AnySpan): OutcomeEvent | undefined {
    const data = span.spanData as {
      type: string;
      name?: string;
      from_agent?: string;
      to_agent?: string;
      triggered?: boolean;
    };
    let agentName: string | undefined;
    let action: string;
    let kind: OutcomeEvent['kind'];
    switch (data.type) {
      case 'agent':
        agentName = data.name;
        action = `invoke:${data.name}`;
        kind = 'session';
        break;
      case 'function':
        agentName = this.#agentOf(span);
        action = this.#options.actions?.[data.name ?? ''] ?? `tool:${data.name}`;
        kind = 'tool';
        break;
      case 'handoff':
        agentName = data.from_agent ?? this.#agentOf(span);
        action = `handoff:${data.to_agent ?? 'unknown'}`;
        kind = 'handoff';
        break;
      case 'guardrail':
        agentName = this.#agentOf(span);
        action = `guardrail:${data.name}`;
        kind = 'guardrail';
        break;
      default:
        return undefined;
    }
    if (!agentName) return undefined;
    let agent: AgentIdentity;
    try {
      agent = identityOf(this.#options, agentName);
    } catch {
      return undefined; // an agent MeshGuard does not govern
    }
    const started = span.startedAt ? Date.parse(span.startedAt) : Number.NaN;
    const ended = span.endedAt ? Date.parse(span.endedAt) : Number.NaN;
    const event: OutcomeEvent = {
      id: `openai-span:${span.spanId}`,
      outcome: span.error ? 'error' : data.triggered ? 'blocked' : 'observed',
      agent,
      action,
      kind,
      traceId: span.traceId,
      spanId: span.spanId,
      context: { span: data.type },
    };
    if (span.error) event.error = span.error.message;
    if (Number.isFinite(started) && Number.isFinite(ended)) event.durationMs = Math.max(0, ended - started);
    if (span.endedAt && Number.isFinite(ended)) event.ts = new Date(ended).toISOString();
    return event;
  }
}
