import { z } from 'zod';
import { AuditEventSchema } from './audit-event';

/**
 * AuditEvent v1 as a JSON Schema (draft 2020-12), for consumers outside TypeScript. The package
 * ships it as `@meshguard/core/audit-event.schema.json`; a test keeps the file in step.
 */
export function auditEventJsonSchema(): Record<string, unknown> {
  return {
    $id: 'https://meshguard.dev/schemas/audit-event.v1.json',
    title: 'MeshGuard AuditEvent v1',
    description:
      'One audit event: a decision, an outcome or a session event, chained per writer stream with hash = sha256(prevHash + canonical JSON of the event without hash).',
    ...z.toJSONSchema(AuditEventSchema, { target: 'draft-2020-12', io: 'output' }),
  };
}
