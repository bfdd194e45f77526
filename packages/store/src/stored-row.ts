import type { AuditEvent } from '@meshguard/core';

/** An event as stored: its body (the canonical JSON the hash covers) with the hash put back. */
export function rowToEvent(body: string, hash: string): AuditEvent {
  const event = JSON.parse(body) as AuditEvent;
  event.hash = hash;
  return event;
}

/** `rowToEvent`, or undefined when the body is not a JSON object (it was edited). */
export function parseEvent(body: string, hash: string): AuditEvent | undefined {
  try {
    const event = rowToEvent(body, hash);
    return typeof event === 'object' && event !== null ? event : undefined;
  } catch {
    return undefined;
  }
}

/** PostgreSQL text cannot hold NUL: the query columns hold U+FFFD instead (the body keeps it). */
export function columnText(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}
