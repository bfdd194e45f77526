import type {
  AdapterCheckRequest,
  AgentIdentity,
  ApprovalAnswer,
  ApprovalRequest as ApprovalRecord,
  CheckContext,
  CheckedAction,
  Decision,
  Guard,
} from '@meshguard/core';
import {
  approvalFailedDecision,
  approvalReason,
  checkApprovalAnswer,
  failedCheckReason,
  NO_APPROVER,
} from '@meshguard/core/internal';
import { answer, argsOf, callsOf, isFragment, isPlainObject, validateFunctions } from './function-table';
import type {
  FunctionDeclarationLike,
  FunctionResponsePart,
  GeminiContent,
  GeminiFunctionCall,
  GeminiPart,
  GeminiResponse,
} from './gemini-parts';
import {
  answeredAtGateway,
  approvalsOf,
  awaitApprovalAnswer,
  checkWithApproval,
  isAllowed,
  notApprovedReason,
  withdrawApproval,
} from './vertex-approvals';
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
   * Answers `require_approval` decisions. With a store that keeps approval requests, the answer
   * is recorded on the decision's request (the approver's way) and the call is checked again with
   * its `approvalId` right before it runs. Without it such calls do not run (the model is told
   * approval is required and nobody could give it), unless `runGovernedChat` has `parking`: then
   * the chat waits for a person. On a rejection the model is told the answer's `message`
   * (default: `Blocked by policy: Rejected by <by> (approval apr_...)`, or `Rejected by <by>:
   * <the policy's reason>` where the store keeps no requests).
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

  const decide = async (call: GeminiFunctionCall, index: number, traceId: string) => {
    const name = call.name ?? '';
    const entry = table.get(name);
    const action = entry?.action ?? `tool:${name || 'unnamed'}`;
    const args = argsOf(call.args);
    const context = options.context ? options.context(args, { name, action }) : args;
    const request: AdapterCheckRequest = {
      guard: scope.guard,
      agent: scope.agent,
      traceId,
      action,
      kind: 'tool',
      context,
      spanId: call.id ? `call:${call.id}`.slice(0, 256) : `call:${index}`,
    };
    const checked = await kit.check(request);
    return { call, name, id: call.id, entry, action, args, request, checked } as Pending;
  };

  // What the model is told, and what is recorded, for a call that does not run.
  const refuse = async (p: Pending, text: string, outcome: 'blocked' | 'rejected' | 'error', extra = {}) => {
    await kit.recordOutcome(p.checked, { outcome, ...extra });
    return answer(p, { error: text });
  };

  const approval = async (p: Pending, park: boolean): Promise<FunctionResponsePart | 'run' | WaitingCall> => {
    const { decision } = p.checked;
    const ref = decision.approval;
    if (ref && park && !options.onApprovalRequired) {
      // A person answers later, elsewhere: the chat is parked and resumed once they have.
      return {
        call: p.call,
        action: p.action,
        approval: { id: ref.id, expiresAt: ref.expiresAt },
        decisionId: decision.decisionId,
      };
    }
    if (!options.onApprovalRequired) {
      // Nothing runs unapproved: with no one to ask, the call is refused (and its request withdrawn).
      if (ref) await withdrawApproval(scope.guard, ref.id, NO_APPROVER);
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
      if (ref) await withdrawApproval(scope.guard, ref.id, `the approver failed: ${message}`);
      return refuse(
        p,
        kit.denialText(approvalFailedDecision(decision, message), p.action, options.denialMessage),
        'blocked',
        { error: message },
      );
    }
    if (ref && reply.approve && answeredAtGateway(scope.guard)) {
      // A gateway's request, answered there by an approver: approved here, the call waits for
      // that answer (up to the request's expiry) and runs only if they approved (see `run`).
      p.approvalId = ref.id;
      try {
        const state = await awaitApprovalAnswer(scope.guard, ref.id, ref.expiresAt);
        if (state?.status !== 'approved')
          p.notApproved = { reason: notApprovedReason(state, ref.id, ref.expiresAt) };
      } catch (error) {
        p.notApproved = { reason: failedCheckReason('the approval could not be read', error) };
      }
      return 'run';
    }
    const approvals = ref ? approvalsOf(scope.guard) : undefined;
    if (ref && approvals) {
      // The approver's path: the answer is recorded on the request, and the call checked again
      // with its id right before it runs (see `run`).
      let answered: ApprovalRecord;
      try {
        answered = await approvals.answer(ref.id, {
          approve: reply.approve,
          by: reply.by,
          comment: reply.message,
        });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        debug('answering approval %s failed: %O', ref.id, error);
        return refuse(
          p,
          kit.denialText(approvalFailedDecision(decision, message), p.action, options.denialMessage),
          'blocked',
          { error: message },
        );
      }
      p.approvalId = ref.id;
      if (!reply.approve) p.notApproved = { reason: approvalReason(answered), message: reply.message };
      return 'run';
    }
    if (ref && reply.approve && !approvals) {
      // A request this guard can neither answer nor read (a guard written by hand around a
      // gateway's): an approval here approves nothing.
      const reason = `approval ${ref.id} can be neither answered nor read through this guard`;
      const text = kit.denialText(approvalFailedDecision(decision, reason), p.action, options.denialMessage);
      return refuse(p, text, 'blocked', { error: reason });
    }
    // No approval request to answer (a store that keeps none, or a gateway's rejected here): an outcome.
    const rejection = reply.message ?? `Rejected by ${reply.by}: ${decision.reason}`;
    if (!reply.approve) return refuse(p, rejection, 'rejected', { actor: reply.by, reason: rejection });
    await kit.recordOutcome(p.checked, { outcome: 'approved', actor: reply.by });
    return 'run';
  };

  const run = async (p: Pending): Promise<{ part: FunctionResponsePart; record: () => Promise<void> }> => {
    let checked = p.checked;
    if (p.approvalId !== undefined) {
      checked = p.rechecked ?? (await checkWithApproval(p.request, p.approvalId));
      // Not approved: refused whatever the check says (it records the deny), with the answer's
      // words; approved: only an allow of exactly this call runs it.
      const refused = p.notApproved
        ? (p.notApproved.message ??
          kit.denialText(
            { ...checked.decision, allowed: false, effect: 'deny', reason: p.notApproved.reason },
            p.action,
            options.denialMessage,
          ))
        : isAllowed(checked.decision)
          ? undefined
          : kit.denialText(checked.decision, p.action, options.denialMessage);
      if (refused !== undefined) {
        const final = checked;
        return {
          part: answer(p, { error: refused }),
          record: () =>
            kit.recordOutcome(final, { outcome: 'blocked', ...(p.notApproved ? { reason: refused } : {}) }),
        };
      }
    }
    const started = Date.now();
    try {
      const result = await p.entry!.handler(p.args, {
        name: p.name,
        id: p.id,
        action: p.action,
        decision: checked.decision,
      });
      const response = isPlainObject(result) ? result : { output: result === undefined ? null : result };
      return {
        part: answer(p, response),
        record: () => kit.recordOutcome(checked, { outcome: 'success', durationMs: Date.now() - started }),
      };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return {
        part: answer(p, { error: message }),
        record: () =>
          kit.recordOutcome(checked, {
            outcome: 'error',
            error: message.slice(0, 4096),
            durationMs: Date.now() - started,
          }),
      };
    }
  };

  /** Runs the calls decided to run, together, and records their outcomes in order. */
  const settle = async (
    answers: Array<FunctionResponsePart | WaitingCall | Pending>,
  ): Promise<Array<FunctionResponsePart | WaitingCall>> => {
    // Calls a person answered are checked again with their approval first, one by one in the
    // model's order (so the trail reads like the turn), right before the handlers run.
    for (const a of answers) {
      if ('checked' in a && a.approvalId !== undefined) {
        a.rechecked = await checkWithApproval(a.request, a.approvalId);
      }
    }
    const ran = await Promise.all(
      answers.map((a) => ('functionResponse' in a || !('checked' in a) ? a : run(a))),
    );
    const out: Array<FunctionResponsePart | WaitingCall> = [];
    for (const item of ran) {
      if ('part' in item) {
        await item.record();
        out.push(item.part);
      } else out.push(item);
    }
    return out;
  };

  const answerCalls = async (
    calls: GeminiFunctionCall[],
    traceId: string,
    park: boolean,
  ): Promise<Array<FunctionResponsePart | WaitingCall>> => {
    // Every call is decided (and approved) first, in the model's order, so the trail reads like
    // the turn and nothing runs if deciding a later call fails; the allowed calls then run
    // together, and their outcomes are recorded in the same order.
    const answers: Array<FunctionResponsePart | WaitingCall | Pending> = [];
    for (const [index, call] of calls.entries()) {
      const p = await decide(call, index, traceId);
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
        const verdict = await approval(p, park);
        answers.push(verdict === 'run' ? p : verdict);
      } else if (effect === 'allow' && p.checked.decision.allowed === true) {
        answers.push(p);
      } else {
        // Fails closed: only an allow runs a function, whatever else a guard may answer.
        const reason = `the decision (effect ${JSON.stringify(effect)}, allowed ${String(p.checked.decision.allowed)}) is not an allow`;
        answers.push(await refuse(p, `Blocked by policy: ${reason}`, 'blocked', { error: reason }));
      }
    }
    return settle(answers);
  };

  const respond: GovernedFunctions<D>['respond'] = async (input) => {
    const parts = await answerCalls(callsOf(input), scope.traceId, false);
    return parts.filter((p): p is FunctionResponsePart => 'functionResponse' in p);
  };

  /** A parked call whose approval request was answered: checked again with its id, then run or refused. */
  const answerApproved = async (
    call: GeminiFunctionCall,
    index: number,
    traceId: string,
    approvalId: string,
    notApproved: NotApproved | undefined,
  ): Promise<FunctionResponsePart> => {
    const name = call.name ?? '';
    const entry = table.get(name);
    const action = entry?.action ?? `tool:${name || 'unnamed'}`;
    const args = argsOf(call.args);
    const request: AdapterCheckRequest = {
      guard: scope.guard,
      agent: scope.agent,
      traceId,
      action,
      kind: 'tool',
      spanId: call.id ? `call:${call.id}`.slice(0, 256) : `call:${index}`,
    };
    try {
      request.context = options.context ? options.context(args, { name, action }) : args;
    } catch (error) {
      // Nothing can be decided: refused (and recorded), never thrown into a resume half done.
      const failed = kit.failed(request, failedCheckReason("the check's context could not be built", error));
      await kit.recordOutcome(failed, { outcome: 'blocked' });
      return answer(
        { name, id: call.id },
        { error: kit.denialText(failed.decision, action, options.denialMessage) },
      );
    }
    // Its first check was made when it was parked; `run` checks it again with the approval.
    const p: Pending = {
      call,
      name,
      id: call.id,
      entry,
      action,
      args,
      request,
      checked: kit.failed(request, 'parked'),
    };
    if (!p.entry) {
      const known = [...table.keys()].join(', ');
      const checked = await checkWithApproval(p.request, approvalId);
      await kit.recordOutcome(checked, { outcome: 'error', error: `no function named "${p.name}"` });
      return answer(p, { error: `Unknown function "${p.name}": the functions are ${known}` });
    }
    p.approvalId = approvalId;
    if (notApproved !== undefined) p.notApproved = notApproved;
    const [part] = await settle([p]);
    return part as FunctionResponsePart;
  };

  const governed: GovernedFunctions<D> = {
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
  internals.set(governed as GovernedFunctions, {
    guard: scope.guard,
    agent: scope.agent,
    answerCalls,
    answerApproved,
  });
  return governed;
}

/** Why a person's answer let nothing run: the request's answer in words, or the approver's message. */
interface NotApproved {
  /** `Rejected by maria (approval apr_...)`, `Approval apr_... expired at ...`: heard as a denial. */
  reason: string;
  /** The approver's own words for the model (an in-process answer's `message`), heard as they are. */
  message?: string | undefined;
}

/** A call waiting for a person's answer to its approval request (the chat is parked). */
export interface WaitingCall {
  call: GeminiFunctionCall;
  action: string;
  approval: { id: string; expiresAt: string };
  /** The `require_approval` decision that opened the request. */
  decisionId: string;
}

/** What `runGovernedChat` and `resumeParkedChat` use of governed functions, beyond `respond`. */
export interface FunctionsInternals {
  guard: Guard;
  agent: AgentIdentity;
  /** Answers the calls of a turn; with `park`, calls whose approval request is open wait. */
  answerCalls(
    calls: GeminiFunctionCall[],
    traceId: string,
    park: boolean,
  ): Promise<Array<FunctionResponsePart | WaitingCall>>;
  /** Answers a parked call once a person answered its approval request (`notApproved`: the refusal). */
  answerApproved(
    call: GeminiFunctionCall,
    index: number,
    traceId: string,
    approvalId: string,
    notApproved: NotApproved | undefined,
  ): Promise<FunctionResponsePart>;
}

const internals = new WeakMap<GovernedFunctions, FunctionsInternals>();

/** The internals of functions `governFunctions` made (undefined for anything else). */
export function functionsInternals(functions: GovernedFunctions): FunctionsInternals | undefined {
  return internals.get(functions);
}

/** One call as `respond` handles it. */
interface Pending {
  call: GeminiFunctionCall;
  name: string;
  id: string | undefined;
  entry: GovernedFunction<FunctionDeclarationLike> | undefined;
  action: string;
  args: Record<string, unknown>;
  request: AdapterCheckRequest;
  checked: CheckedAction;
  /** Set once a person answered its approval request here: checked again with it before it runs. */
  approvalId?: string;
  /** Why, when the person did not approve. */
  notApproved?: NotApproved;
  /** The check with the approval, made right before the handlers run. */
  rechecked?: CheckedAction;
}
