import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AgentIdentitySchema } from '../protocol/agent-identity';
import { CheckRequestSchema } from '../protocol/check-request';
import { MeshGuardError, ValidationError } from './meshguard-error';
import { parseWithSchema, safeParseWithSchema } from './parse-with-schema';

const agent = { id: 'a-1', name: 'bot' };

describe('parseWithSchema', () => {
  it('returns what the schema parses, defaults filled', () => {
    expect(parseWithSchema(AgentIdentitySchema, agent, 'identity')).toEqual({
      id: 'a-1',
      name: 'bot',
      tags: [],
      tier: 'basic',
    });
  });

  it('throws a ValidationError naming the path of the first problem, never a ZodError', () => {
    let thrown: unknown;
    try {
      parseWithSchema(CheckRequestSchema, { action: 'read:x', agent: { ...agent, id: '' } }, 'request');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect(thrown).not.toBeInstanceOf(z.ZodError);
    const error = thrown as ValidationError;
    expect(MeshGuardError.isInstance(error)).toBe(true);
    expect(error.code).toBe('validation_failed');
    expect(error.field).toBe('agent.id');
    expect(error.message).toMatch(/^agent\.id: /);
    // The schema's own report stays reachable for whoever debugs it.
    expect(error.cause).toBeInstanceOf(z.ZodError);
  });

  it('names the input as a whole by `what` when the problem is the input itself', () => {
    expect(() => parseWithSchema(AgentIdentitySchema, 'not an object', 'identity')).toThrow(/^identity: /);
    const parsed = safeParseWithSchema(AgentIdentitySchema, null, 'identity');
    expect(parsed.success ? undefined : parsed.error.field).toBe('identity');
  });

  it('names fields under where the input sits, with a hint after the problem', () => {
    const parsed = safeParseWithSchema(
      AgentIdentitySchema,
      { id: 'a', name: 'b', tags: ['ok', 7] },
      { under: 'events.3.agent', hint: 'the event is refused' },
    );
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(parsed.error.field).toBe('events.3.agent.tags.1');
    expect(parsed.error.message).toMatch(/^events\.3\.agent\.tags\.1: .+ \(the event is refused\)$/);
    const whole = safeParseWithSchema(AgentIdentitySchema, 42, { under: 'returnControl' });
    expect(whole.success ? undefined : whole.error.field).toBe('returnControl');
  });

  it('returns the data on success without throwing', () => {
    expect(safeParseWithSchema(AgentIdentitySchema, agent, 'identity')).toEqual({
      success: true,
      data: { id: 'a-1', name: 'bot', tags: [], tier: 'basic' },
    });
  });
});
