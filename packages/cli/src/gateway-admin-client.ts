import { createGatewayClient, type GatewayClient, isGatewayRefusal, MeshGuardError } from '@meshguard/core';
import { UsageError } from './cli-error';

/**
 * The gateway as the CLI's admin commands and audit reader talk to it, with the admin token. It
 * reads answers of any size (a page of events can be large); every call ends within `timeoutMs`.
 */
export function openAdminClient(url: string, token: string, timeoutMs: number): GatewayClient {
  try {
    return createGatewayClient({ url, token, timeoutMs, maxResponseBytes: Number.POSITIVE_INFINITY });
  } catch (error) {
    if (MeshGuardError.isInstance(error)) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * A call the gateway refused as a usage error (`the gateway refused: <its message>`, `prefix` in
 * place of `the gateway refused`); any other failure as it is.
 */
export function asUsageError(error: unknown, prefix = 'the gateway refused'): unknown {
  if (!isGatewayRefusal(error)) return error;
  return new UsageError(`${prefix}: ${error.reply?.message ?? error.status}`);
}
