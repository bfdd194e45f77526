import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { auditEventJsonSchema } from './audit-event-json-schema';

describe('audit-event.schema.json', () => {
  it('matches the zod schema (regenerate with: node scripts/write-audit-schema.mjs)', () => {
    const committed = JSON.parse(
      readFileSync(new URL('../../audit-event.schema.json', import.meta.url), 'utf8'),
    );
    expect(committed).toEqual(auditEventJsonSchema());
  });

  it('describes every AuditEvent field', () => {
    const schema = auditEventJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        'id',
        'ts',
        'type',
        'traceId',
        'agent',
        'action',
        'effect',
        'decisionId',
        'seq',
        'prevHash',
        'hash',
      ]),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['id', 'hash', 'seq', 'stream']));
  });
});
