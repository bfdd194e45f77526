import { GatewayError, MeshGuardError, PolicyError } from '@meshguard/core';
import { CommanderError } from 'commander';
import type { CliIo } from './cli-output';

/**
 * Every exit code of `meshguard`, in one table (the README's "Exit codes" lists the same).
 * 69 and 70 are sysexits.h's EX_UNAVAILABLE and EX_SOFTWARE.
 */
export const EXIT = {
  ok: 0,
  /** A check said no: a policy test case failed, the audit trail is broken, no such agent; `policy explain --exit-code`: deny. */
  failed: 1,
  /** Bad input: a flag, a file, a policy, a database; or the gateway refused the request. */
  usage: 2,
  /** `policy explain --exit-code`: the decision requires approval. */
  approval: 3,
  /** The gateway could not be reached (refused, no such host) or did not answer in time. */
  network: 69,
  /** A bug: an error the CLI did not expect. */
  internal: 70,
} as const;

/** Bad command-line input: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const WHERE = '--gateway (or MESHGUARD_GATEWAY_URL)';

/** What to check, by the cause of a network failure (the code the core client shows). */
const NETWORK_HINTS: Record<string, string> = {
  ECONNREFUSED: `nothing listens there: is the gateway running, and is ${WHERE} right?`,
  ENOTFOUND: `no such host: is ${WHERE} right?`,
  EAI_AGAIN: `the host name could not be looked up: is the network up, and is ${WHERE} right?`,
  ECONNRESET: `the connection was cut: is ${WHERE} a MeshGuard gateway?`,
  EHOSTUNREACH: `no route to the host: is the network up, and is ${WHERE} right?`,
  ENETUNREACH: `no route to the host: is the network up, and is ${WHERE} right?`,
  gateway_timeout: `is it overloaded, or is ${WHERE} some other server?`,
};

/** A failure to reach the gateway at all, as opposed to its refusing a request. */
function isNetworkError(error: unknown): error is GatewayError {
  return (
    GatewayError.isInstance(error) &&
    (error.code === 'gateway_unreachable' || error.code === 'gateway_timeout')
  );
}

/** Prints an error the way the CLI shows errors (one line, or file:line:col lines) and returns its exit code. */
export function reportError(io: CliIo, error: unknown): number {
  if (error instanceof CommanderError) {
    // --help and --version exit through here with code 0; usage errors were printed already.
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (error instanceof UsageError) {
    io.err(`meshguard: ${error.message}`);
    return EXIT.usage;
  }
  if (PolicyError.isInstance(error)) {
    for (const issue of (error as PolicyError).issues)
      io.err(`${issue.file}:${issue.line}:${issue.column}: ${issue.message}`);
    return EXIT.usage;
  }
  if (isNetworkError(error)) {
    const cause = error.code === 'gateway_timeout' ? error.code : /\(([A-Z_]+)\)$/.exec(error.message)?.[1];
    const hint = NETWORK_HINTS[cause ?? ''] ?? `is the gateway running, and is ${WHERE} right?`;
    io.err(`meshguard: network error: ${error.message}: ${hint}`);
    return EXIT.network;
  }
  if (MeshGuardError.isInstance(error)) {
    io.err(`meshguard: ${error.message}`);
    return EXIT.usage;
  }
  io.err(`meshguard: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.DEBUG) io.err(error instanceof Error ? (error.stack ?? '') : '');
  return EXIT.internal;
}

/** Parses a `--context` JSON object. */
export function parseJsonObject(flag: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag}: invalid JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`${flag}: must be a JSON object, e.g. '{"amount": 150}'`);
  }
  return value as Record<string, unknown>;
}

export function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A date-time without a zone is read as UTC, not as the machine's local time, so the same
 * command or policy test gives the same answer on every machine.
 */
export function asUtc(text: string): string {
  return /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text.trim()) ? `${text.trim()}Z` : text;
}
