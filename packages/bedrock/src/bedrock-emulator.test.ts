import {
  BedrockAgentRuntimeClient,
  InvokeAgentCommand,
  type InvokeAgentCommandInput,
  InvokeInlineAgentCommand,
  type InvokeInlineAgentCommandInput,
} from '@aws-sdk/client-bedrock-agent-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describe, expect, it } from 'vitest';
import { useEmulator } from './support-fixtures';
import {
  type BedrockScriptStep,
  bedrockChunk,
  bedrockCollaboratorTrace,
  bedrockFiles,
  bedrockFunctionInput,
  bedrockKnowledgeBaseTrace,
  bedrockReturnControl,
} from './testing';

const startEmulator = useEmulator();

async function start(script: BedrockScriptStep[]) {
  const emulator = await startEmulator(script);
  return { emulator, client: new BedrockAgentRuntimeClient(emulator.clientConfig) };
}

/** Sends a request and reads its whole stream: the events, or the error the stream (or send) threw. */
async function invoke(client: BedrockAgentRuntimeClient, input: Partial<InvokeAgentCommandInput>) {
  const events: Array<Record<string, unknown>> = [];
  try {
    const response = await client.send(
      new InvokeAgentCommand({
        agentId: 'AGENT00001',
        agentAliasId: 'ALIAS00001',
        sessionId: 'session-1',
        ...input,
      }),
    );
    for await (const event of response.completion ?? [])
      events.push(event as unknown as Record<string, unknown>);
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as Error & { $fault?: string } };
  }
}

const lookup = bedrockFunctionInput('CustomerSupport', 'lookup_customer', { email: 'john@example.com' });
const answer = (fields: Record<string, unknown>) => ({
  functionResult: {
    actionGroup: 'CustomerSupport',
    function: 'lookup_customer',
    agentId: 'AGENT00001',
    responseBody: { TEXT: { body: 'John Doe' } },
    ...fields,
  },
});

describe('the Bedrock emulator (the real client, over HTTP/2 cleartext)', () => {
  it('streams chunk, trace, returnControl and files frames the real client decodes', async () => {
    const { emulator, client } = await start([
      [
        bedrockCollaboratorTrace('BillingSpecialist', 'Check invoice INV-7'),
        bedrockKnowledgeBaseTrace('KB12345678', 'refund policy', { by: 'BillingSpecialist' }),
        bedrockFiles([{ name: 'report.csv', type: 'text/csv', content: 'a,b\n1,2\n' }]),
        bedrockChunk('Hello '),
        bedrockChunk('there'),
        bedrockReturnControl([lookup], 'inv-1'),
      ],
    ]);
    const { events, error } = await invoke(client, { inputText: 'Hi', enableTrace: true });
    expect(error).toBeUndefined();
    expect(emulator.requests[0]!.httpVersion).toBe('2.0');
    const [handoff, kb, files, hello, there, returned] = events;
    expect(handoff!.trace).toMatchObject({
      sessionId: 'session-1',
      agentId: 'AGENT00001',
      callerChain: [
        { agentAliasArn: 'arn:aws:bedrock:us-east-1:123456789012:agent-alias/AGENT00001/ALIAS00001' },
      ],
      trace: {
        orchestrationTrace: {
          invocationInput: {
            invocationType: 'AGENT_COLLABORATOR',
            agentCollaboratorInvocationInput: {
              agentCollaboratorName: 'BillingSpecialist',
              input: { type: 'TEXT', text: 'Check invoice INV-7' },
            },
          },
        },
      },
    });
    expect((handoff!.trace as { eventTime: unknown }).eventTime).toBeInstanceOf(Date);
    const kbPart = kb!.trace as { collaboratorName: string; callerChain: unknown[] };
    expect(kbPart.collaboratorName).toBe('BillingSpecialist');
    expect(kbPart.callerChain).toHaveLength(2);
    const file = (files!.files as { files: Array<{ name: string; bytes: Uint8Array }> }).files[0]!;
    expect([file.name, Buffer.from(file.bytes).toString()]).toEqual(['report.csv', 'a,b\n1,2\n']);
    expect(Buffer.from((hello!.chunk as { bytes: Uint8Array }).bytes).toString()).toBe('Hello ');
    expect(Buffer.from((there!.chunk as { bytes: Uint8Array }).bytes).toString()).toBe('there');
    expect(returned!.returnControl).toEqual({
      invocationId: 'inv-1',
      invocationInputs: [
        {
          functionInvocationInput: {
            actionGroup: 'CustomerSupport',
            function: 'lookup_customer',
            actionInvocationType: 'RESULT',
            agentId: 'AGENT00001',
            parameters: [{ name: 'email', type: 'string', value: 'john@example.com' }],
          },
        },
      ],
    });
    expect(emulator.problems).toEqual([]);
  });

  it('accepts HTTP/1.1 too (NodeHttpHandler)', async () => {
    const emulator = await startEmulator([[bedrockChunk('over HTTP/1.1')]]);
    const client = new BedrockAgentRuntimeClient({
      ...emulator.clientConfig,
      requestHandler: new NodeHttpHandler(),
    });
    const { events, error } = await invoke(client, { inputText: 'Hi' });
    expect(error).toBeUndefined();
    expect(Buffer.from((events[0]!.chunk as { bytes: Uint8Array }).bytes).toString()).toBe('over HTTP/1.1');
    expect(emulator.requests[0]!.httpVersion).toBe('1.1');
  });

  it('accepts a reply with the same invocationId and every echoed field, and hands the results to the script', async () => {
    const { emulator, client } = await start([
      [bedrockReturnControl([lookup], 'inv-1')],
      (request) => [bedrockChunk(`Got ${request.results[0]!.body}`)],
    ]);
    await invoke(client, { inputText: 'Who is John?' });
    const { events, error } = await invoke(client, {
      sessionState: { invocationId: 'inv-1', returnControlInvocationResults: [answer({})] },
    });
    expect(error).toBeUndefined();
    expect(Buffer.from((events[0]!.chunk as { bytes: Uint8Array }).bytes).toString()).toBe('Got John Doe');
    expect(emulator.problems).toEqual([]);
  });

  const refusals: Array<[string, Record<string, unknown>, string]> = [
    [
      'an unknown invocationId',
      { invocationId: 'inv-unknown', returnControlInvocationResults: [answer({})] },
      'Validation failed: Unknown invocationId: inv-unknown; the session is waiting for results of invocationId: inv-1',
    ],
    [
      'a result without the echoed agentId',
      { invocationId: 'inv-1', returnControlInvocationResults: [answer({ agentId: undefined })] },
      'Validation failed: Unexpected actionGroup: CustomerSupport or function : lookup_customer encountered for invocationId: inv-1',
    ],
    [
      'a result for an input never asked',
      {
        invocationId: 'inv-1',
        returnControlInvocationResults: [answer({}), answer({ function: 'delete_customer' })],
      },
      'Validation failed: Unexpected actionGroup: CustomerSupport or function : delete_customer (agentId: AGENT00001) encountered for invocationId: inv-1',
    ],
    [
      'no result for an input',
      { invocationId: 'inv-1', returnControlInvocationResults: [answer({ function: 'lookup_customer' })] },
      'Validation failed: No result for actionGroup: CustomerSupport or function : get_order_details of invocationId: inv-1',
    ],
    [
      'a result without a response body',
      {
        invocationId: 'inv-1',
        returnControlInvocationResults: [
          answer({ responseBody: undefined }),
          answer({ function: 'get_order_details' }),
        ],
      },
      'Validation failed: responseBody is required for actionGroup: CustomerSupport or function : lookup_customer',
    ],
  ];
  it.each(refusals)('answers %s with a validationException frame', async (_, sessionState, message) => {
    const { emulator, client } = await start([
      [
        bedrockReturnControl(
          [lookup, bedrockFunctionInput('CustomerSupport', 'get_order_details', { order_id: 'ORD-1' })],
          'inv-1',
        ),
      ],
      [bedrockChunk('unreachable')],
    ]);
    await invoke(client, { inputText: 'Who is John?' });
    const { events, error } = await invoke(client, { sessionState });
    expect(events).toEqual([]);
    expect(error?.name).toBe('ValidationException');
    expect(error?.message).toBe(message);
    expect(emulator.problems).toEqual([message]);
    expect(emulator.remaining).toBe(1);
  });

  it('answers results when nothing waits for them with a validationException', async () => {
    const { emulator, client } = await start([]);
    const { error } = await invoke(client, {
      sessionState: { invocationId: 'inv-1', returnControlInvocationResults: [answer({})] },
    });
    expect(error?.name).toBe('ValidationException');
    expect(emulator.problems).toEqual([
      'Validation failed: Unknown invocationId: inv-1; no action in this session is waiting for results',
    ]);
  });

  it('refuses a result the request model rejects (no actionGroup) with an HTTP 400 before any stream', async () => {
    const { emulator, client } = await start([[bedrockReturnControl([lookup], 'inv-1')]]);
    await invoke(client, { inputText: 'Who is John?' });
    const { error } = await invoke(client, {
      sessionState: {
        invocationId: 'inv-1',
        returnControlInvocationResults: [answer({ actionGroup: undefined })],
      },
    });
    expect(error?.name).toBe('ValidationException');
    expect((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(400);
    const message =
      "1 validation error detected: Value null at 'sessionState.returnControlInvocationResults.1.member.functionResult.actionGroup' failed to satisfy constraint: Member must not be null";
    expect(error?.message).toBe(message);
    expect(emulator.problems).toEqual([message]);
  });

  it('ends the turn with a dependencyFailedException when a result says FAILURE', async () => {
    const { client } = await start([
      [bedrockReturnControl([lookup], 'inv-1')],
      [bedrockChunk('unreachable')],
    ]);
    await invoke(client, { inputText: 'Who is John?' });
    const { error } = await invoke(client, {
      sessionState: {
        invocationId: 'inv-1',
        returnControlInvocationResults: [answer({ responseState: 'FAILURE' })],
      },
    });
    expect(error?.name).toBe('DependencyFailedException');
    expect(error?.message).toBe(
      'The action group CustomerSupport failed to complete (responseState FAILURE)',
    );
  });

  it('refuses an inline agent continuation that does not resend the action group it answers for', async () => {
    const { emulator, client } = await start([
      [bedrockReturnControl([lookup], 'inv-1')],
      [bedrockChunk('unreachable')],
    ]);
    const configuration: Omit<InvokeInlineAgentCommandInput, 'sessionId'> = {
      foundationModel: 'anthropic.claude-3-5-sonnet-20241022-v2:0',
      instruction: 'You are a helpful support agent for an online shop.',
      actionGroups: [
        {
          actionGroupName: 'CustomerSupport',
          actionGroupExecutor: { customControl: 'RETURN_CONTROL' },
          functionSchema: {
            functions: [{ name: 'lookup_customer', parameters: { email: { type: 'string' } } }],
          },
        },
      ],
    };
    const first = await client.send(
      new InvokeInlineAgentCommand({ ...configuration, sessionId: 'inline-1', inputText: 'Who?' }),
    );
    for await (const _ of first.completion ?? []) void _;
    // `send` resolves with the first frame: an exception as the first frame rejects it.
    const error = await client
      .send(
        new InvokeInlineAgentCommand({
          ...configuration,
          actionGroups: [],
          sessionId: 'inline-1',
          inlineSessionState: {
            invocationId: 'inv-1',
            returnControlInvocationResults: [
              {
                functionResult: {
                  actionGroup: 'CustomerSupport',
                  function: 'lookup_customer',
                  responseBody: { TEXT: { body: 'John' } },
                },
              },
            ],
          },
        }),
      )
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.name).toBe('ValidationException');
    expect(emulator.problems).toEqual([
      "Validation failed: action group CustomerSupport is not in the request's configuration (InvokeInlineAgent must resend the whole configuration on every call)",
    ]);
  });

  it('refuses an unsigned request like the service (403)', async () => {
    const { emulator } = await start([]);
    const response = await fetch(
      `${emulator.url}/agents/AGENT00001/agentAliases/ALIAS00001/sessions/s-1/text`,
      {
        method: 'POST',
        body: '{}',
      },
    );
    expect(response.status).toBe(403);
    expect(response.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
  });
});
