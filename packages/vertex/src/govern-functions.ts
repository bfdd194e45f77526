import {
  ActionSchema,
  type AgentIdentity,
  type ApprovalAnswer,
  type CheckContext,
  ConfigError,
  type Decision,
} from '@meshguard/core';
import { approvalFailedDecision, checkApprovalAnswer, NO_APPROVER } from '@meshguard/core/internal';
import type {
  FunctionDeclarationLike,
  FunctionResponsePart,
  GeminiContent,
  GeminiFunctionCall,
  GeminiPart,
  GeminiResponse,
} from './gemini-parts';
import { functionCallsOf } from './gemini-parts';
import { debug, type GovernanceOptions, kit, resolveGovernance } from './vertex-governance';

/** What a handler learns about the call it answers. */
export interface FunctionCallInfo {
  name: string;
  /** The model's call id (Gemini 2.5+), echoed in the `functionResponse`. */
  id: string | undefined;
  action: string;
  decision: Decision;
}

/** One function the model may call: its declaration, what runs it, and its policy action. */
export interface GovernedFunction<D extends FunctionDeclarationLike = FunctionDeclarationLike> {
  /** The declaration the model sees (`name` may be left out: the key in `functions` is the name). */
  declaration: D;
  /**
   * Runs an allowed call. An object result is the `functionResponse.response`; anything else is
   * sent as `{ output: result }`; a throw as `{ error: message }` (recorded as an `error` outcome).
   */
  // A method, so handlers may name their own argument type (`({ email }: { email: string })`).
  handler(args: Record<string, unknown>, call: FunctionCallInfo): unknown;
  /** The policy action (default `tool:<name>`), e.g. `write:refund`. */
  action?: string;
}

/** A call policy wants a human to approve. */
export interface ApprovalRequest {
  name: string;
  id: string | undefined;
  args: Record<string, unknown>;
  action: string;
  decision: Decision;
}

// The adapter contract's answer, under the name this package has always exported.
export type { ApprovalAnswer };

/**
 * `D` is your SDK's declaration type (`FunctionDeclaration` of `@google/genai` or of
 * `@google-cloud/vertexai`), so `governed.tool` goes into that SDK's `tools` as it is.
 */
export interface GovernFunctionsOptions<D extends FunctionDeclarationLike = FunctionDeclarationLike>
  extends GovernanceOptions {
  functions: Record<string, GovernedFunction<D>>;
  /**
   * Answers `require_approval` decisions. Without it such calls do not run (the model is told
   * approval is required and nobody could give it). On a rejection the model is told the
   * answer's `message` (default: `Rejected by <by>: <the policy's reason>`).
   */
  onApprovalRequired?: (request: ApprovalRequest) => ApprovalAnswer | Promise<ApprovalAnswer>;
  /** Reshapes a call's arguments into the check's context (default: the arguments). */
  context?: (args: Record<string, unknown>, call: { name: string; action: string }) => CheckContext;
}

/** `@google/genai`'s `CallableTool`, for automatic function calling. */
export interface GovernedCallableTool<D extends FunctionDeclarationLike = FunctionDeclarationLike> {
  tool(): Promise<{ functionDeclarations: D[] }>;
  callTool(functionCalls: GeminiFunctionCall[]): Promise<FunctionResponsePart[]>;
}

export interface GovernedFunctions<D extends FunctionDeclarationLike = FunctionDeclarationLike> {
  /** The declarations, named, for `tools: [{ functionDeclarations }]`. */
  readonly declarations: D[];
  /** `{ functionDeclarations }`: a tool to put in a request's `tools`. */
  readonly tool: { functionDeclarations: D[] };
  /** The trace every decision of these functions is recorded under. */
  readonly traceId: string;
  readonly agent: AgentIdentity;
  /**
   * Answers the model's function calls: each is checked first; allowed calls run their handler,
   * denied ones answer with the policy's reason. One `functionResponse` per call, in order, with
   * the call's name and id. Takes the calls, the parts or content holding them, or a response.
   */
  respond(
    input: GeminiResponse | GeminiContent | ReadonlyArray<GeminiPart | GeminiFunctionCall>,
  ): Promise<FunctionResponsePart[]>;
  /** A governed `CallableTool` for `@google/genai`'s automatic function calling. */
  callableTool(): GovernedCallableTool<D>;
}

// Vertex's rule for function names.
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

/**
 * Governs Gemini function calling: the declarations to offer, and a handler that checks every
 * `functionCall` against policy before its function runs, recording decision and outcome.
 *
 * @example
 * const functions = governFunctions({ guard, identity: { name: 'Support', tags: ['vertex', 'support'] },
 *   functions: { process_refund: { action: 'write:refund', handler: refund,
 *     declaration: { description: 'Refund an order', parametersJsonSchema: refundSchema } } } });
 * const chat = ai.chats.create({ model: 'gemini-2.5-flash', config: { tools: [functions.tool] } });
 * const { text } = await runGovernedChat({ chat, message: 'Refund $150 on ORD-2', functions });
 */
export function governFunctions<D extends FunctionDeclarationLike = FunctionDeclarationLike>(
  options: GovernFunctionsOptions<D>,
): GovernedFunctions<D> {
  const scope = resolveGovernance('governFunctions', options);
  const table = validateFunctions<D>(options.functions);
  const declarations = [...table.values()].map((f) => f.declaration);

  const decide = async (call: GeminiFunctionCall, index: number) => {
    const name = call.name ?? '';
    const entry = table.get(name);
    const action = entry?.action ?? `tool:${name || 'unnamed'}`;
    const args = argsOf(call.args);
    const context = options.context ? options.context(args, { name, action }) : args;
    const checked = await kit.check({
      ...scope,
      action,
      kind: 'tool',
      context,
      spanId: call.id ? `call:${call.id}`.slice(0, 256) : `call:${index}`,
    });
    return { call, name, id: call.id, entry, action, args, checked };
  };
  type Pending = Awaited<ReturnType<typeof decide>>;

  // What the model is told, and what is recorded, for a call that does not run.
  const refuse = async (p: Pending, text: string, outcome: 'blocked' | 'rejected' | 'error', extra = {}) => {
    await kit.recordOutcome(p.checked, { outcome, ...extra });
    return answer(p, { error: text });
  };

  const approval = async (p: Pending): Promise<FunctionResponsePart | 'run'> => {
    const { decision } = p.checked;
    if (!options.onApprovalRequired) {
      return refuse(
        p,
        kit.denialText(
          { ...decision, reason: `${decision.reason} (${NO_APPROVER})` },
          p.action,
          options.denialMessage,
        ),
        'blocked',
      );
    }
    let reply: ApprovalAnswer;
    try {
      reply = checkApprovalAnswer(
        await options.onApprovalRequired({
          name: p.name,
          id: p.id,
          args: p.args,
          action: p.action,
          decision,
        }),
      );
    } catch (error) {
      // Fails closed: an approver that throws or answers nonsense approved nothing.
      const message = error instanceof Error ? error.message : String(error);
      debug('approval of %s failed: %O', p.action, error);
      return refuse(
        p,
        kit.denialText(approvalFailedDecision(decision, message), p.action, options.denialMessage),
        'blocked',
        { error: message },
      );
    }
    if (!reply.approve) {
      const message = reply.message ?? `Rejected by ${reply.by}: ${decision.reason}`;
      return refuse(p, message, 'rejected', { actor: reply.by, reason: message });
    }
    await kit.recordOutcome(p.checked, { outcome: 'approved', actor: reply.by });
    return 'run';
  };

  const run = async (p: Pending): Promise<{ part: FunctionResponsePart; record: () => Promise<void> }> => {
    const started = Date.now();
    try {
      const result = await p.entry!.handler(p.args, {
        name: p.name,
        id: p.id,
        action: p.action,
        decision: p.checked.decision,
      });
      const response = isPlainObject(result) ? result : { output: result === undefined ? null : result };
      return {
        part: answer(p, response),
        record: () => kit.recordOutcome(p.checked, { outcome: 'success', durationMs: Date.now() - started }),
      };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return {
        part: answer(p, { error: message }),
        record: () =>
          kit.recordOutcome(p.checked, {
            outcome: 'error',
            error: message.slice(0, 4096),
            durationMs: Date.now() - started,
          }),
      };
    }
  };

  const respond: GovernedFunctions<D>['respond'] = async (input) => {
    const calls = callsOf(input);
    // Every call is decided (and approved) first, in the model's order, so the trail reads like
    // the turn and nothing runs if deciding a later call fails; the allowed calls then run
    // together, and their outcomes are recorded in the same order.
    const answers: Array<FunctionResponsePart | Pending> = [];
    for (const [index, call] of calls.entries()) {
      const p = await decide(call, index);
      const { effect } = p.checked.decision;
      if (effect === 'deny') {
        answers.push(
          await refuse(p, kit.denialText(p.checked.decision, p.action, options.denialMessage), 'blocked'),
        );
      } else if (!p.entry) {
        const known = [...table.keys()].join(', ');
        answers.push(
          await refuse(p, `Unknown function "${p.name}": the functions are ${known}`, 'error', {
            error: `no function named "${p.name}"`,
          }),
        );
      } else if (isFragment(call)) {
        // A call whose arguments are streamed over several chunks (`streamFunctionCallArguments`):
        // what was checked is not what the function would get, so it never runs.
        const message = `the arguments of "${p.name}" were streamed in parts (streamFunctionCallArguments), which MeshGuard cannot check: turn streamFunctionCallArguments off`;
        answers.push(await refuse(p, `Not run: ${message}`, 'error', { error: message }));
      } else if (effect === 'require_approval') {
        const verdict = await approval(p);
        answers.push(verdict === 'run' ? p : verdict);
      } else if (effect === 'allow' && p.checked.decision.allowed === true) {
        answers.push(p);
      } else {
        // Fails closed: only an allow runs a function, whatever else a guard may answer.
        const reason = `the decision (effect ${JSON.stringify(effect)}, allowed ${String(p.checked.decision.allowed)}) is not an allow`;
        answers.push(await refuse(p, `Blocked by policy: ${reason}`, 'blocked', { error: reason }));
      }
    }
    const ran = await Promise.all(answers.map((a) => ('functionResponse' in a ? a : run(a))));
    const parts: FunctionResponsePart[] = [];
    for (const item of ran) {
      if ('functionResponse' in item) parts.push(item);
      else {
        await item.record();
        parts.push(item.part);
      }
    }
    return parts;
  };

  return {
    declarations,
    tool: { functionDeclarations: declarations },
    traceId: scope.traceId,
    agent: scope.agent,
    respond,
    callableTool: () => ({
      tool: async () => ({ functionDeclarations: declarations }),
      callTool: (functionCalls) => respond(functionCalls),
    }),
  };
}

function validateFunctions<D extends FunctionDeclarationLike>(
  functions: unknown,
): Map<string, GovernedFunction<D>> {
  if (!isPlainObject(functions) || Object.keys(functions).length === 0) {
    throw new ConfigError(
      'governFunctions: `functions` must map at least one function name to { declaration, handler }',
      {
        code: 'functions_invalid',
      },
    );
  }
  const table = new Map<string, GovernedFunction<D>>();
  for (const [name, entry] of Object.entries(functions)) {
    const where = `governFunctions: functions.${name}`;
    if (!FUNCTION_NAME.test(name)) {
      throw new ConfigError(
        `${where}: not a valid Gemini function name (a letter or _, then letters, digits, _ . : -; at most 64)`,
        { code: 'functions_invalid' },
      );
    }
    const fn = entry as Partial<GovernedFunction<D>> | undefined;
    if (!isPlainObject(fn))
      throw new ConfigError(`${where}: must be { declaration, handler, action? }`, {
        code: 'functions_invalid',
      });
    if (!isPlainObject(fn.declaration))
      throw new ConfigError(`${where}.declaration: must be a function declaration object`, {
        code: 'functions_invalid',
      });
    if (fn.declaration.name !== undefined && fn.declaration.name !== name) {
      throw new ConfigError(
        `${where}.declaration.name: is "${String(fn.declaration.name)}", but the function is registered as "${name}"`,
        { code: 'functions_invalid' },
      );
    }
    if (typeof fn.handler !== 'function')
      throw new ConfigError(`${where}.handler: must be a function`, { code: 'functions_invalid' });
    if (fn.action !== undefined && !ActionSchema.safeParse(fn.action).success) {
      throw new ConfigError(
        `${where}.action: "${String(fn.action)}" is not an action (verb:resource, e.g. write:refund)`,
        { code: 'functions_invalid' },
      );
    }
    table.set(name, {
      ...fn,
      handler: fn.handler,
      declaration: { ...fn.declaration, name },
    } as GovernedFunction<D>);
  }
  return table;
}

/** The function calls in whatever the caller handed over. */
function callsOf(
  input: GeminiResponse | GeminiContent | ReadonlyArray<GeminiPart | GeminiFunctionCall>,
): GeminiFunctionCall[] {
  if (Array.isArray(input)) {
    return input.flatMap((item: GeminiPart & GeminiFunctionCall) => {
      if (item.functionCall) return [item.functionCall];
      // A bare FunctionCall (what `response.functionCalls` and `callTool` hand over).
      return 'name' in item && !item.functionResponse ? [item as GeminiFunctionCall] : [];
    });
  }
  if (isPlainObject(input) && 'candidates' in input) return functionCallsOf(input as GeminiResponse);
  if (isPlainObject(input) && 'parts' in input) return callsOf((input as GeminiContent).parts ?? []);
  throw new ConfigError('respond(): expected a response, a content, or function calls / parts', {
    code: 'calls_invalid',
  });
}

/** A piece of a call whose arguments Vertex streams over several chunks (`partialArgs`, `willContinue`). */
function isFragment(call: GeminiFunctionCall): boolean {
  return call.partialArgs !== undefined || call.willContinue === true;
}

function argsOf(args: unknown): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  return isPlainObject(args) ? args : { input: args };
}

function answer(
  p: { name: string; id: string | undefined },
  response: Record<string, unknown>,
): FunctionResponsePart {
  return { functionResponse: { ...(p.id ? { id: p.id } : {}), name: p.name || 'unnamed', response } };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
