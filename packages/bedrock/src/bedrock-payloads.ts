import { z } from 'zod';

/**
 * The parts of Bedrock's event-stream payloads MeshGuard acts on, parsed at the boundary (the
 * AWS SDK types them, but the service is the authority: fields may be missing or new). Field
 * names follow the AWS API reference (bedrock-agent-runtime).
 */

/** A typed parameter as Bedrock sends it: every value is a string, whatever its `type`. */
const BedrockParameterSchema = z.object({
  name: z.string(),
  type: z.string().optional(),
  value: z.string().optional(),
});
export type BedrockParameter = z.infer<typeof BedrockParameterSchema>;

export const INVOCATION_TYPES = ['RESULT', 'USER_CONFIRMATION', 'USER_CONFIRMATION_AND_RESULT'] as const;

const FunctionInvocationInputSchema = z.object({
  actionGroup: z.string().min(1),
  function: z.string().min(1),
  parameters: z.array(BedrockParameterSchema).optional(),
  actionInvocationType: z.string().optional(),
  agentId: z.string().optional(),
  collaboratorName: z.string().optional(),
});

const ApiInvocationInputSchema = z.object({
  actionGroup: z.string().min(1),
  httpMethod: z.string().min(1),
  apiPath: z.string().min(1),
  parameters: z.array(BedrockParameterSchema).optional(),
  requestBody: z
    .object({
      content: z.record(z.string(), z.object({ properties: z.array(BedrockParameterSchema).optional() })),
    })
    .optional(),
  actionInvocationType: z.string().optional(),
  agentId: z.string().optional(),
  collaboratorName: z.string().optional(),
});

export const InvocationInputMemberSchema = z.union([
  z.object({ functionInvocationInput: FunctionInvocationInputSchema }),
  z.object({ apiInvocationInput: ApiInvocationInputSchema }),
]);
export type InvocationInputMember = z.infer<typeof InvocationInputMemberSchema>;

/** `returnControl` (and the inline agent's): at most 5 inputs, one invocation id for all. */
export const ReturnControlPayloadSchema = z.object({
  invocationId: z.string().min(1),
  invocationInputs: z.array(InvocationInputMemberSchema).min(1).max(5),
});
export type ReturnControlPayload = z.infer<typeof ReturnControlPayloadSchema>;

const InvocationInputTraceSchema = z.object({
  traceId: z.string().optional(),
  invocationType: z.string().optional(),
  actionGroupInvocationInput: z
    .object({
      actionGroupName: z.string().optional(),
      function: z.string().optional(),
      apiPath: z.string().optional(),
      verb: z.string().optional(),
      executionType: z.string().optional(),
      invocationId: z.string().optional(),
    })
    .optional(),
  knowledgeBaseLookupInput: z
    .object({ text: z.string().optional(), knowledgeBaseId: z.string().optional() })
    .optional(),
  agentCollaboratorInvocationInput: z
    .object({
      agentCollaboratorName: z.string().optional(),
      agentCollaboratorAliasArn: z.string().optional(),
    })
    .optional(),
  codeInterpreterInvocationInput: z
    .object({ code: z.string().optional(), files: z.array(z.string()).optional() })
    .loose()
    .optional(),
});
export type InvocationInputTrace = z.infer<typeof InvocationInputTraceSchema>;

/** A trace part (both `TracePart` and `InlineAgentTracePart`), as far as MeshGuard reads it. */
export const TracePartSchema = z.object({
  callerChain: z.array(z.object({ agentAliasArn: z.string().optional() })).optional(),
  collaboratorName: z.string().optional(),
  trace: z
    .object({
      orchestrationTrace: z.object({ invocationInput: InvocationInputTraceSchema.optional() }).optional(),
      routingClassifierTrace: z.object({ invocationInput: InvocationInputTraceSchema.optional() }).optional(),
    })
    .optional(),
});
export type TracePart = z.infer<typeof TracePartSchema>;

/**
 * A Bedrock parameter value as the JSON value its declared type names: Bedrock sends `"150"`
 * for a number and `"true"` for a boolean, so `amount_max` would otherwise never see a number.
 * A value that does not parse as its type is kept as the string it was.
 *
 * @example
 * parameterValue({ name: 'amount', type: 'number', value: '150' }) // 150
 */
export function parameterValue(parameter: BedrockParameter): unknown {
  const raw = parameter.value;
  if (raw === undefined) return undefined;
  switch (parameter.type) {
    case 'number':
    case 'integer': {
      const trimmed = raw.trim();
      const n = Number(trimmed);
      return trimmed !== '' && Number.isFinite(n) ? n : raw;
    }
    case 'boolean': {
      const lower = raw.trim().toLowerCase();
      return lower === 'true' ? true : lower === 'false' ? false : raw;
    }
    case 'array':
    case 'object':
      return parseStructured(raw);
    default:
      return raw;
  }
}

function parseStructured(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    // Models often write arrays Python-style (['a', 'b']): retry with double quotes.
    try {
      return JSON.parse(raw.replaceAll("'", '"'));
    } catch {
      return raw;
    }
  }
}

/** Parameters as one object, each value converted from its declared type. */
export function parameterObject(
  parameters: readonly BedrockParameter[] | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of parameters ?? []) {
    // Defined, not assigned: a parameter named `__proto__` stays a value, never the object's prototype.
    Object.defineProperty(out, p.name, {
      value: parameterValue(p),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
