// Regenerates audit-event.schema.json from the zod schema (run after `pnpm build`):
//   node scripts/write-audit-schema.mjs
import { writeFileSync } from 'node:fs';
import { auditEventJsonSchema } from '../dist/internal.js';

const file = new URL('../audit-event.schema.json', import.meta.url);
writeFileSync(file, `${JSON.stringify(auditEventJsonSchema(), null, 2)}\n`);
console.log('wrote audit-event.schema.json');
