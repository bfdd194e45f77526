import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApproverRecord, GatewayState } from '@meshguard/core';

/**
 * Approver tokens: `mga_<id>.<secret>`, an opaque random secret (256 bits) of which the database
 * keeps only the SHA-256. Not a JWT on purpose: an approver token can never pass for an agent
 * token, nor the other way round, and revoking the approver ends it at once.
 */
const PREFIX = 'mga_';
const SHAPE = /^mga_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Whether a bearer token looks like an approver token (checked by `verifyApproverToken`). */
export function isApproverToken(token: string): boolean {
  return token.startsWith(PREFIX);
}

/** Creates an approver and its token (shown once). */
export async function createApprover(
  state: GatewayState,
  input: { name: string; tags: string[] },
): Promise<{ approver: ApproverRecord; token: string }> {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const approver = await state.createApprover({ id, name: input.name, tags: input.tags }, hashSecret(secret));
  return { approver, token: `${PREFIX}${id}.${secret}` };
}

/** The approver a token belongs to; undefined when it is malformed, unknown, wrong or revoked. */
export async function verifyApproverToken(
  state: GatewayState,
  token: string,
): Promise<ApproverRecord | undefined> {
  const match = SHAPE.exec(token);
  if (!match) return undefined;
  const found = await state.approverCredentials(match[1]!);
  if (!found || found.approver.revokedAt) return undefined;
  const given = Buffer.from(hashSecret(match[2]!), 'hex');
  const expected = Buffer.from(found.secretHash, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? found.approver : undefined;
}
