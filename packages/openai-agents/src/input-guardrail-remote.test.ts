// The input guardrail reads `allowed`: behind a gateway that answers `allowed: true` with
// `effect: "deny"`, it must still trip (the remote guard refuses the inconsistent answer).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteGuard, uuidv7 } from '@meshguard/core';
import { Agent, InputGuardrailTripwireTriggered, Runner } from '@openai/agents';
import { assistantMessage, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { meshguardInputGuardrail } from './input-guardrail';
import { supportOptions } from './support-fixtures';

describe('meshguardInputGuardrail over a gateway', () => {
  it('trips when the gateway answers allowed: true with effect deny', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          req.url === '/v1/check'
            ? JSON.stringify({
                decisionId: uuidv7(),
                allowed: true,
                effect: 'deny',
                reason: 'Denied by rule no-support',
                mode: 'enforce',
                evaluatedAt: new Date().toISOString(),
              })
            : JSON.stringify({ accepted: 0, recorded: [], rejected: [] }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const spool = mkdtempSync(join(tmpdir(), 'mg-oa-inconsistent-'));
    const guard = createRemoteGuard({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      agentToken: 'token',
      spoolDir: spool,
    });
    try {
      const model = new ScriptedModel([[assistantMessage('Hi!')]]);
      const agent = new Agent({
        name: 'Customer Support Agent',
        instructions: 'Help.',
        model,
        inputGuardrails: [meshguardInputGuardrail(supportOptions(guard, 'trace_inconsistent'))],
      });
      const error = await new Runner({ tracingDisabled: true }).run(agent, 'Hello').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputGuardrailTripwireTriggered);
      expect(model.calls).toHaveLength(0);
      const decision = (error as InputGuardrailTripwireTriggered).result.output.outputInfo as {
        allowed: boolean;
        reason: string;
      };
      expect(decision.allowed).toBe(false);
      expect(decision.reason).toMatch(/answered inconsistently/);
    } finally {
      await guard.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(spool, { recursive: true, force: true });
    }
  });
});
