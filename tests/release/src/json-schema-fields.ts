// Turns a JSON Schema (as zod's toJSONSchema and fastify's OpenAPI document print them) into the
// rows of a reference table: one row per field, nested objects flattened into dotted paths
// (`agent.tier`, `delegation[].id`), so a reader sees every field with its type and limits.

/** The subset of JSON Schema the MeshGuard schemas use. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

export interface FieldRow {
  /** `agent.tier`, `delegation[].id`. */
  path: string;
  type: string;
  required: boolean;
  constraints: string[];
  description?: string;
  schema: JsonSchema;
}

export interface FlattenOptions {
  /** Stop expanding objects below this many path segments (the field itself is still listed). */
  maxDepth?: number;
  /** Paths not to expand (listed as one row): e.g. an embedded audit event. */
  opaque?: (schema: JsonSchema) => string | undefined;
}

/** Every field of an object schema, depth first, in the schema's own order. */
export function flattenFields(schema: JsonSchema, options: FlattenOptions = {}): FieldRow[] {
  const rows: FieldRow[] = [];
  walk(schema, '', 0, rows, options);
  return rows;
}

function walk(schema: JsonSchema, prefix: string, depth: number, rows: FieldRow[], options: FlattenOptions) {
  const required = new Set(schema.required ?? []);
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    const opaque = options.opaque?.(field);
    rows.push({
      path,
      type: opaque ?? typeOf(field),
      required: required.has(name),
      constraints: opaque ? [] : constraintsOf(field),
      description: field.description,
      schema: field,
    });
    if (opaque || (options.maxDepth !== undefined && depth + 1 >= options.maxDepth)) continue;
    if (field.properties) walk(field, path, depth + 1, rows, options);
    else if (field.items?.properties) {
      const itemOpaque = options.opaque?.(field.items);
      if (!itemOpaque) walk(field.items, `${path}[]`, depth + 1, rows, options);
    }
  }
}

/** A readable type: `string`, `integer`, `array of string`, `object`, `"decision" or "outcome"`. */
export function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (schema.enum) return schema.enum.every((v) => typeof v === 'string') ? 'string' : 'any JSON value';
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(' or ');
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : schema.type;
  if (type === 'array') return `array of ${schema.items ? typeOf(schema.items) : 'any'}`;
  if (type === 'object' && !schema.properties) return 'object (any JSON values)';
  return type ?? 'any JSON value';
}

/** The limits a schema puts on a value, as short phrases. */
function constraintsOf(schema: JsonSchema): string[] {
  const out: string[] = [];
  if (schema.enum) out.push(`one of ${schema.enum.map((v) => `\`${JSON.stringify(v)}\``).join(', ')}`);
  if (schema.minLength !== undefined && schema.maxLength !== undefined) {
    out.push(`${schema.minLength} to ${schema.maxLength} characters`);
  } else if (schema.minLength !== undefined) {
    out.push(`at least ${schema.minLength} character${schema.minLength === 1 ? '' : 's'}`);
  } else if (schema.maxLength !== undefined) {
    out.push(`at most ${schema.maxLength} characters`);
  }
  // A format says it better than the long pattern zod writes beside it (ISO date-times).
  if (schema.format !== undefined) out.push(FORMATS[schema.format] ?? `format ${schema.format}`);
  else if (schema.pattern !== undefined) out.push(`matches \`${schema.pattern}\``);
  // zod bounds every integer to the safe range: not a limit worth a reader's attention.
  if (schema.exclusiveMinimum !== undefined) out.push(`> ${schema.exclusiveMinimum}`);
  if (schema.minimum !== undefined && schema.minimum !== -Number.MAX_SAFE_INTEGER)
    out.push(`>= ${schema.minimum}`);
  if (schema.maximum !== undefined && schema.maximum !== Number.MAX_SAFE_INTEGER)
    out.push(`<= ${schema.maximum}`);
  if (schema.exclusiveMaximum !== undefined) out.push(`< ${schema.exclusiveMaximum}`);
  if (schema.minItems !== undefined)
    out.push(`at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`);
  if (schema.maxItems !== undefined) out.push(`at most ${schema.maxItems} items`);
  const items = schema.items;
  if (items && !items.properties) {
    for (const c of constraintsOf(items)) out.push(`each item: ${c}`);
  }
  if (schema.default !== undefined) out.push(`default \`${JSON.stringify(schema.default)}\``);
  if (schema.properties && schema.additionalProperties === false) out.push('no other keys');
  return out;
}

const FORMATS: Readonly<Record<string, string>> = {
  'date-time': 'an ISO 8601 date-time with a zone (`2026-01-05T10:00:00Z`)',
};

/** A Markdown table with padded columns; `|` in a cell is escaped. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const cells = [header, ...rows].map((row) => row.map((cell) => cell.replaceAll('|', '\\|')));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  const [head, ...body] = cells;
  return [line(head!), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}
