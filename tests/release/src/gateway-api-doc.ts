// Generates docs/gateway-api.md from the OpenAPI document the gateway serves at
// `GET /v1/openapi.json`: a gateway is created in-process (memory audit store, in-memory SQLite
// state) and asked for it. Routes, auth, parameters, bodies and status codes come from the
// document; what each route is for comes from ROUTES below, and a route missing there (or listed
// there but no longer served) stops the generator, so a new route cannot go undocumented.
import { createMemoryStore } from '@meshguard/core';
import { createGateway } from '@meshguard/gateway';
import { openSqliteGatewayState } from '@meshguard/store';
import { flattenFields, type JsonSchema, markdownTable, typeOf } from './json-schema-fields';

export const GATEWAY_API_DOC = 'docs/gateway-api.md';

interface OpenApiOperation {
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: JsonSchema }>;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: JsonSchema }> }>;
}

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  components?: { securitySchemes?: Record<string, { type: string; scheme?: string; bearerFormat?: string }> };
  paths: Record<string, Record<string, OpenApiOperation>>;
}

/** What each route is for (hand-written), keyed by `METHOD /path` as the OpenAPI document has it. */
export const ROUTES: Readonly<
  Record<
    string,
    {
      summary: string;
      notes?: string;
      /** Statuses the route answers that its OpenAPI entry does not declare. */
      undeclared?: readonly string[];
    }
  >
> = {
  'POST /v1/check': {
    summary:
      'Decides one action for the calling agent and records the decision in the audit trail. A deny is a 200 with `allowed: false`.',
    notes:
      'The agent is the one the token names: identity fields in the body are ignored. `context` holds the tool arguments (`amount` for `amount_max`...) and is redacted before it is stored.',
  },
  'POST /v1/check/batch': {
    summary:
      'Decides up to 1,000 actions for the calling agent in one request; the decisions come back in request order and are recorded in one append.',
    notes:
      'If the decisions cannot be recorded, every one of them is a deny (an action that cannot be audited does not run).',
  },
  'POST /v1/reachable': {
    summary:
      'Whether any context could allow the action for the calling agent, without recording anything: adapters use it at offer time, to hide a tool or handoff no call could be allowed.',
  },
  'POST /v1/audit': {
    summary:
      'Records outcome events (what happened after a decision), joined to their decision by `decisionId`. Idempotent by event `id`: an id the gateway already holds is ignored, so a retry never duplicates.',
    notes: "The agent is the token's; an outcome cannot be attributed to a decision another agent got.",
  },
  'GET /v1/audit': {
    summary:
      'Queries the audit trail: filters as query parameters, a page of events, and a cursor for the next page.',
    notes:
      'Time filters take ISO date-times. Each event is an AuditEvent v1 ([audit-events.md](audit-events.md)).',
  },
  'GET /v1/audit/tail': {
    summary:
      'The latest events (`lines`, default 20), or the events recorded after a cursor (`after`), with the cursor to follow from: what `meshguard audit tail -f` polls.',
    undeclared: ['501'],
  },
  'GET /v1/audit/stats': {
    summary:
      'Counts over the trail between `since` and `until`: the total, and by effect, action, agent and event type (what `meshguard audit stats` shows).',
    undeclared: ['501'],
  },
  'GET /v1/audit/verify': {
    summary:
      'Verifies the hash chain of every stream and reports the first broken event, if any (`ok`, `checked`, `streams`, `problem`).',
  },
  'POST /v1/agents': {
    summary:
      'Registers an agent and issues its token (an EdDSA JWT, shown once): 201 with the agent, the token and its expiry.',
    notes: '`ttl` is the token lifetime in seconds. 409 when an agent with that id exists.',
  },
  'GET /v1/agents': {
    summary: 'Lists the registered agents, revoked ones with `revokedAt`.',
  },
  'DELETE /v1/agents/{id}': {
    summary: 'Revokes an agent: every token of it fails from its next request.',
    undeclared: ['204', '404'],
  },
  'DELETE /v1/tokens/{jti}': {
    summary: "Revokes one token by its `jti` claim; the agent's other tokens keep working.",
    undeclared: ['204'],
  },
  'PUT /v1/policies': {
    summary:
      'Replaces the policy set in force with these files, as a new version. An invalid set is refused (400 with `issues`: `file`, `line`, `column`, `message`) and the set in force stays.',
    notes:
      'Takes effect at once on this gateway and within a second on every other gateway process on the same database.',
  },
  'GET /v1/policies': {
    summary: 'The policy set in force: its version and files (version 0 and no files before the first push).',
  },
  'GET /.well-known/jwks.json': {
    summary: 'The public key(s) agent tokens are signed with (JWKS, Ed25519), for anyone verifying a token.',
  },
  'GET /healthz': {
    summary: 'Liveness, and the version of the policy set in force: `{ status: "ok", policyVersion }`.',
  },
  'GET /metrics': {
    summary:
      'Prometheus metrics (text format): `meshguard_checks_total{effect}`, `meshguard_check_duration_seconds`, `meshguard_audit_queue_depth`, and the process defaults.',
  },
  'GET /v1/openapi.json': {
    summary: 'This API as an OpenAPI 3.1 document (what this page is generated from).',
  },
};

const AUTH: Readonly<Record<string, string>> = {
  agentToken: 'agent token (`Authorization: Bearer <agent token>`)',
  adminToken: 'admin token (`Authorization: Bearer <admin token>`)',
};

const STATUS_MEANING: Readonly<Record<string, string>> = {
  '200': 'OK',
  '201': 'created',
  '204': 'done, no body',
  '400': 'malformed JSON or a schema violation (`field` names it)',
  '401': 'missing, forged, expired or revoked token',
  '403': 'the wrong kind of token for this route',
  '404': 'not found',
  '409': 'conflict',
  '413': 'body over the size limit (1 MiB by default)',
  '501': 'not supported by this store',
};

/** Creates a gateway in-process and returns the OpenAPI document it serves. */
export async function fetchGatewayOpenApi(): Promise<OpenApiDocument> {
  const gateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken: 'docs-generator-admin-token-0123456789',
  });
  try {
    const res = await gateway.app.inject({ method: 'GET', url: '/v1/openapi.json' });
    if (res.statusCode !== 200)
      throw new Error(`GET /v1/openapi.json answered ${res.statusCode}: ${res.body}`);
    return res.json() as OpenApiDocument;
  } finally {
    await gateway.close();
  }
}

/** The Markdown of docs/gateway-api.md. */
export function renderGatewayApiDoc(doc: OpenApiDocument): string {
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      key: `${method.toUpperCase()} ${path}`,
      method,
      path,
      op,
    })),
  );
  const undocumented = operations.filter((o) => !ROUTES[o.key]).map((o) => o.key);
  if (undocumented.length > 0) {
    throw new Error(
      `the gateway serves route(s) ROUTES in tests/release/src/gateway-api-doc.ts does not describe: ${undocumented.join(', ')}`,
    );
  }
  const served = new Set(operations.map((o) => o.key));
  const gone = Object.keys(ROUTES).filter((key) => !served.has(key));
  if (gone.length > 0) {
    throw new Error(
      `ROUTES in tests/release/src/gateway-api-doc.ts describes route(s) the gateway no longer serves: ${gone.join(', ')}`,
    );
  }

  const out: string[] = [
    '# Gateway HTTP API reference',
    '',
    '<!-- Generated by tests/release/src/gateway-api-doc.ts from the OpenAPI document the gateway serves: do not edit by hand; run `pnpm docs:generate`. -->',
    '',
    `${doc.info.description ?? ''} Every route of \`@meshguard/gateway\`, from the OpenAPI ${doc.openapi}`,
    'document it serves at `GET /v1/openapi.json`. How to run the gateway, issue agent tokens and',
    'push policies is in [gateway.md](gateway.md); the events `GET /v1/audit` returns are described in',
    '[audit-events.md](audit-events.md).',
    '',
    'Bodies are JSON (`content-type: application/json`). Versioned routes live under `/v1`.',
    '',
    '## Authentication',
    '',
    '- **Agent routes** take an agent token: an EdDSA JWT the gateway issued (`POST /v1/agents`).',
    '  The agent a request acts for is the one its verified token names, whatever the body says.',
    '- **Admin routes** take the admin token (`MESHGUARD_ADMIN_TOKEN`).',
    '- **Open routes** (keys, health, metrics, this document) take none.',
    '',
    'No token, or a forged, expired or revoked one: 401. An agent token on an admin route, or the',
    'admin token on an agent route: 403.',
    '',
    '## Errors',
    '',
    'A deny is not an error: it is a 200 whose decision says `allowed: false`. Errors have one body:',
    '',
    errorBodyTable(operations.map((o) => o.op)),
    '',
    markdownTable(
      ['status', 'when'],
      ['400', '401', '403', '404', '409', '413', '501'].map((s) => [`${s}`, STATUS_MEANING[s]!]),
    ),
    '',
    'A 400 for a schema violation names the field (`field: "action"`, `message: "action: ..."`); a',
    'refused policy push adds `issues` with the `file:line:column` of every problem.',
    '',
    '## Routes',
    '',
    markdownTable(
      ['route', 'auth', 'what'],
      operations.map((o) => [
        `[\`${o.key}\`](#${anchor(o.key)})`,
        authOf(o.op).short,
        firstSentence(ROUTES[o.key]!.summary),
      ]),
    ),
  ];
  for (const o of operations) out.push('', ...renderOperation(o.key, o.op));
  return `${out.join('\n')}\n`;
}

function renderOperation(key: string, op: OpenApiOperation): string[] {
  const route = ROUTES[key]!;
  const auth = authOf(op);
  const lines = [`### \`${key}\``, '', route.summary, '', `**Auth:** ${auth.long}.`];
  if (route.notes) lines.push('', route.notes);
  for (const where of ['path', 'query'] as const) {
    const params = (op.parameters ?? []).filter((p) => p.in === where);
    if (params.length === 0) continue;
    lines.push(
      '',
      `**${where === 'path' ? 'Path' : 'Query'} parameters:**`,
      '',
      markdownTable(
        ['name', 'type', 'required', 'constraints'],
        params.map((p) => [
          `\`${p.name}\``,
          p.schema ? typeOf(p.schema) : 'string',
          p.required ? 'yes' : 'no',
          p.schema ? constraints(p.schema) : '',
        ]),
      ),
    );
  }
  const body = op.requestBody?.content?.['application/json']?.schema;
  if (body) {
    lines.push('', '**Request body:**', '', fieldTable(body));
  }
  const undeclared = route.undeclared ?? [];
  // Fastify's swagger adds a schema-less "Default Response" 200 to a route that declares none:
  // not what a route answering 204 does.
  const statuses = Object.entries(op.responses ?? {})
    .filter(([s, r]) => !(undeclared.some((u) => u.startsWith('2')) && s === '200' && !r.content))
    .map(([s]) => s);
  // The auth hooks answer 401 and 403 on every route that takes a token, declared or not.
  if (auth.secured) statuses.push('401', '403');
  // Parameters are validated by the same schemas as bodies: a bad one is a 400, declared or not.
  if ((op.parameters ?? []).length > 0) statuses.push('400');
  statuses.push(...undeclared);
  const list = [...new Set(statuses)].sort();
  const unknown = list.filter((s) => !STATUS_MEANING[s]);
  if (unknown.length > 0)
    throw new Error(`no meaning for status(es) ${unknown.join(', ')} in STATUS_MEANING`);
  lines.push(
    '',
    `**Responses:** ${list.map((s) => (s === '204' ? '204 (no body)' : s.startsWith('2') ? s : `[${s}](#errors)`)).join(', ')}.`,
  );
  for (const status of statuses.filter((s) => s.startsWith('2'))) {
    const content = op.responses?.[status]?.content;
    const schema = content?.['application/json']?.schema;
    if (!schema) continue;
    if (schema.properties && Object.keys(schema.properties).length > 0) {
      lines.push('', `**${status} body:**`, '', fieldTable(schema));
    }
  }
  return lines;
}

function fieldTable(schema: JsonSchema): string {
  const rows = flattenFields(schema, {
    maxDepth: 4,
    // An audit event is described in full on its own page.
    opaque: (s) =>
      s.properties && 'prevHash' in s.properties && 'hash' in s.properties
        ? 'AuditEvent ([audit-events.md](audit-events.md))'
        : s.items?.properties && 'prevHash' in s.items.properties && 'hash' in s.items.properties
          ? 'array of AuditEvent ([audit-events.md](audit-events.md))'
          : undefined,
  });
  // The schemas carry no descriptions yet; when they do (zod .describe), they show up here.
  const described = rows.some((r) => r.description);
  return markdownTable(
    ['field', 'type', 'required', 'constraints', ...(described ? ['description'] : [])],
    rows.map((r) => [
      `\`${r.path}\``,
      r.type,
      r.required ? 'yes' : 'no',
      r.constraints.join('; '),
      ...(described ? [r.description ?? ''] : []),
    ]),
  );
}

function constraints(schema: JsonSchema): string {
  return flattenFields({ properties: { x: schema } })[0]!.constraints.join('; ');
}

function errorBodyTable(ops: OpenApiOperation[]): string {
  for (const op of ops) {
    const schema = op.responses?.['400']?.content?.['application/json']?.schema;
    if (schema) return fieldTable(schema);
  }
  throw new Error(
    'no route of the OpenAPI document declares a 400 body: the error body cannot be documented',
  );
}

function authOf(op: OpenApiOperation): { short: string; long: string; secured: boolean } {
  const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
  if (schemes.length === 0) return { short: 'none', long: 'none', secured: false };
  const unknown = schemes.filter((s) => !AUTH[s]);
  if (unknown.length > 0) {
    throw new Error(
      `unknown security scheme(s) ${unknown.join(', ')}: describe them in AUTH in gateway-api-doc.ts`,
    );
  }
  return {
    short: schemes.map((s) => (s === 'agentToken' ? 'agent' : 'admin')).join(' or '),
    long: schemes.map((s) => AUTH[s]).join(' or '),
    secured: true,
  };
}

function firstSentence(text: string): string {
  const end = text.search(/[.:](\s|$)/);
  return end === -1 ? text : text.slice(0, end);
}

/** GitHub's heading anchor for `### \`POST /v1/check\``. */
function anchor(key: string): string {
  return key
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replaceAll(' ', '-');
}
