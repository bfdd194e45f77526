import type { ErrorReply } from '../protocol/gateway-error-wire';

const MARKER = Symbol.for('meshguard.error');

export interface MeshGuardErrorOptions {
  code?: string;
  cause?: unknown;
}

/**
 * The base of every error MeshGuard throws. `MeshGuardError.isInstance(e)` works across duplicate
 * installs of the package (where `instanceof` would not).
 *
 * @example
 * try { await guard.check(req) } catch (e) { if (MeshGuardError.isInstance(e)) console.error(e.code) }
 */
export class MeshGuardError extends Error {
  readonly [MARKER] = true;
  readonly code: string;

  constructor(message: string, options: MeshGuardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeshGuardError';
    this.code = options.code ?? 'meshguard_error';
  }

  static isInstance(error: unknown): error is MeshGuardError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }
}

/** Where a policy problem is: a file (or `<inline>`), 1-based line and column. */
export interface PolicyLocation {
  file: string;
  line: number;
  column: number;
}

export interface PolicyIssue extends PolicyLocation {
  message: string;
}

/** A policy that cannot be loaded. `issues` holds every problem found, each with file:line:col. */
export class PolicyError extends MeshGuardError {
  readonly issues: PolicyIssue[];
  readonly file: string;
  readonly line: number;
  readonly column: number;

  constructor(issues: PolicyIssue[], options: { cause?: unknown } = {}) {
    const first = issues[0] ?? { file: '<unknown>', line: 1, column: 1, message: 'invalid policy' };
    super(issues.map(formatPolicyIssue).join('\n'), { code: 'policy_invalid', cause: options.cause });
    this.name = 'PolicyError';
    this.issues = issues;
    this.file = first.file;
    this.line = first.line;
    this.column = first.column;
  }

  static override isInstance(error: unknown): error is PolicyError {
    return MeshGuardError.isInstance(error) && error.code === 'policy_invalid';
  }
}

export function formatPolicyIssue(issue: PolicyIssue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.message}`;
}

/** Bad configuration: a missing option, an unusable environment variable, a missing peer package. */
export class ConfigError extends MeshGuardError {
  constructor(message: string, options: MeshGuardErrorOptions = {}) {
    super(message, { code: options.code ?? 'config_invalid', cause: options.cause });
    this.name = 'ConfigError';
  }
}

const GATEWAY_MARKER = Symbol.for('meshguard.gateway_error');

/**
 * The gateway could not be reached, refused (`status`, and `reply`: its error body, whose `error`
 * is the `code`), or answered something unusable (`gateway_not_json`, `gateway_invalid`).
 */
export class GatewayError extends MeshGuardError {
  readonly [GATEWAY_MARKER] = true;
  readonly status: number | undefined;
  readonly reply: ErrorReply | undefined;

  constructor(
    message: string,
    options: MeshGuardErrorOptions & { status?: number | undefined; reply?: ErrorReply | undefined } = {},
  ) {
    super(message, { code: options.code ?? 'gateway_error', cause: options.cause });
    this.name = 'GatewayError';
    this.status = options.status;
    this.reply = options.reply;
  }

  static override isInstance(error: unknown): error is GatewayError {
    return (
      MeshGuardError.isInstance(error) &&
      (error as unknown as Record<symbol, unknown>)[GATEWAY_MARKER] === true
    );
  }
}

/** A request or event that does not match the protocol; `field` names where. */
export class ValidationError extends MeshGuardError {
  readonly field: string;

  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super(field ? `${field}: ${message}` : message, { code: 'validation_failed', cause: options.cause });
    this.name = 'ValidationError';
    this.field = field;
  }
}
