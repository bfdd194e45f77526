import {
  type ClaimedRun,
  ConfigError,
  createFileParking,
  MeshGuardError,
  type ParkedRun,
  type RunParking,
} from '@meshguard/core';
import { claimParkedGroup } from '@meshguard/core/internal';
import type { FunctionResponsePart, GeminiContent, GeminiFunctionCall } from './gemini-parts';
import { FRAMEWORK } from './vertex-governance';

// A Gemini chat paused on approvals, as it is parked: the history to rebuild the chat from (the
// model's calls verbatim: ids, thought signatures) and the calls to answer. It holds the calls'
// arguments and the conversation, so it lives in the private parking (0600), never in the trail.

/** A parked call: as the model made it, its response once worked out, the approval it waits on. */
interface ParkedCall {
  call: GeminiFunctionCall;
  /** Its function response, once worked out (a call answered before the chat paused, or after). */
  response?: FunctionResponsePart;
  /** The approval request it waits on, and the `require_approval` decision that opened it. */
  approval?: { id: string; expiresAt: string; decisionId: string };
}

export interface ParkedChat {
  v: 1;
  /** The MeshGuard agent whose calls these are. */
  agentId: string;
  traceId: string;
  pausedAt: string;
  /** The chat's history, the model's function-call turn last (verbatim: ids, thought signatures). */
  history: GeminiContent[];
  calls: ParkedCall[];
  /** Every approval the chat waits on: it is parked under each, and resumes once all are answered. */
  approvalIds: string[];
}

// This package reads Gemini's shapes structurally (it depends on neither SDK, nor on zod): the
// parked state is checked field by field, and one that does not read is an error, never guessed at.
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const optional = (v: unknown, check: (v: unknown) => boolean) => v === undefined || check(v);

function isContent(v: unknown): boolean {
  return (
    isObject(v) &&
    optional(v.role, (r) => typeof r === 'string') &&
    optional(v.parts, (parts) => Array.isArray(parts) && parts.every(isObject))
  );
}

function isParkedCall(v: unknown): boolean {
  if (!isObject(v) || !isObject(v.call)) return false;
  const { call, response, approval } = v;
  const answered =
    response === undefined ||
    (isObject(response) &&
      isObject(response.functionResponse) &&
      typeof response.functionResponse.name === 'string' &&
      optional(response.functionResponse.id, (id) => typeof id === 'string') &&
      isObject(response.functionResponse.response));
  const waits =
    approval === undefined ||
    (isObject(approval) && isText(approval.id) && isTime(approval.expiresAt) && isText(approval.decisionId));
  return (
    optional(call.id, (id) => typeof id === 'string') &&
    optional(call.name, (n) => typeof n === 'string') &&
    answered &&
    waits
  );
}

/** The parked state, checked; a `MeshGuardError` (`parked_run_invalid`) says what does not read. */
function checkParkedChat(state: unknown, approvalId: string): ParkedChat {
  const problem = !isObject(state)
    ? 'not an object'
    : state.v !== 1
      ? `version ${JSON.stringify(state.v)} (this version reads 1)`
      : !isText(state.agentId) || !isText(state.traceId) || !isTime(state.pausedAt)
        ? 'agentId, traceId or pausedAt missing'
        : !Array.isArray(state.history) || state.history.length === 0 || !state.history.every(isContent)
          ? 'history is not a list of contents'
          : !Array.isArray(state.calls) || state.calls.length === 0 || !state.calls.every(isParkedCall)
            ? 'calls are not parked calls'
            : !Array.isArray(state.approvalIds) ||
                state.approvalIds.length === 0 ||
                !state.approvalIds.every(isText)
              ? 'approvalIds missing'
              : undefined;
  if (problem) {
    throw new MeshGuardError(
      `the Gemini chat parked under approval ${approvalId} cannot be read (${problem}): written by another version, or edited`,
      { code: 'parked_run_invalid' },
    );
  }
  return state as unknown as ParkedChat;
}

/** Where chats are parked: the one given, or `true` for `createFileParking()` (`.meshguard/parked`). */
export function parkingOf(parking: RunParking | true): RunParking {
  return parking === true ? createFileParking() : parking;
}

/** Parks a chat under every approval it waits on. */
export async function parkChat(parking: RunParking, state: ParkedChat): Promise<void> {
  for (const approvalId of state.approvalIds) await parking.park({ approvalId, framework: FRAMEWORK, state });
}

function readParked(run: ParkedRun): ParkedChat {
  if (run.framework !== FRAMEWORK) {
    throw new ConfigError(
      `approval ${run.approvalId} parked a ${run.framework} run, not a Gemini chat: resume it with that adapter`,
      { code: 'parked_run_foreign' },
    );
  }
  return checkParkedChat(run.state, run.approvalId);
}

/**
 * Claims every parked copy of the chat `approvalId` belongs to, in id order so that of two
 * resumers (of the same approval or of two of one chat's) one gets them all. Undefined when
 * nothing is parked under the id, or another resumer holds the chat.
 */
export function claimParkedChat(
  parking: RunParking,
  approvalId: string,
): Promise<{ state: ParkedChat; claims: ClaimedRun[] } | undefined> {
  return claimParkedGroup(parking, approvalId, readParked);
}
