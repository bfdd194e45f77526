import { ActionSchema, ConfigError } from '@meshguard/core';
import {
  type FunctionDeclarationLike,
  type FunctionResponsePart,
  functionCallsOf,
  type GeminiContent,
  type GeminiFunctionCall,
  type GeminiPart,
  type GeminiResponse,
} from './gemini-parts';
import type { GovernedFunction } from './govern-functions';

// The functions `governFunctions` is given, checked once, and the calls and answers it handles.

// Vertex's rule for function names.
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

/** The functions table, each entry checked (a bad one is a `ConfigError` naming it). */
export function validateFunctions<D extends FunctionDeclarationLike>(
  functions: unknown,
): Map<string, GovernedFunction<D>> {
  if (!isPlainObject(functions) || Object.keys(functions).length === 0) {
    throw new ConfigError(
      'governFunctions: `functions` must map at least one function name to { declaration, handler }',
      {
        code: 'functions_invalid',
      },
    );
  }
  const table = new Map<string, GovernedFunction<D>>();
  for (const [name, entry] of Object.entries(functions)) {
    const where = `governFunctions: functions.${name}`;
    if (!FUNCTION_NAME.test(name)) {
      throw new ConfigError(
        `${where}: not a valid Gemini function name (a letter or _, then letters, digits, _ . : -; at most 64)`,
        { code: 'functions_invalid' },
      );
    }
    const fn = entry as Partial<GovernedFunction<D>> | undefined;
    if (!isPlainObject(fn))
      throw new ConfigError(`${where}: must be { declaration, handler, action? }`, {
        code: 'functions_invalid',
      });
    if (!isPlainObject(fn.declaration))
      throw new ConfigError(`${where}.declaration: must be a function declaration object`, {
        code: 'functions_invalid',
      });
    if (fn.declaration.name !== undefined && fn.declaration.name !== name) {
      throw new ConfigError(
        `${where}.declaration.name: is "${String(fn.declaration.name)}", but the function is registered as "${name}"`,
        { code: 'functions_invalid' },
      );
    }
    if (typeof fn.handler !== 'function')
      throw new ConfigError(`${where}.handler: must be a function`, { code: 'functions_invalid' });
    if (fn.action !== undefined && !ActionSchema.safeParse(fn.action).success) {
      throw new ConfigError(
        `${where}.action: "${String(fn.action)}" is not an action (verb:resource, e.g. write:refund)`,
        { code: 'functions_invalid' },
      );
    }
    table.set(name, {
      ...fn,
      handler: fn.handler,
      declaration: { ...fn.declaration, name },
    } as GovernedFunction<D>);
  }
  return table;
}

/** The function calls in whatever the caller handed over. */
export function callsOf(
  input: GeminiResponse | GeminiContent | ReadonlyArray<GeminiPart | GeminiFunctionCall>,
): GeminiFunctionCall[] {
  if (Array.isArray(input)) {
    return input.flatMap((item: GeminiPart & GeminiFunctionCall) => {
      if (item.functionCall) return [item.functionCall];
      // A bare FunctionCall (what `response.functionCalls` and `callTool` hand over).
      return 'name' in item && !item.functionResponse ? [item as GeminiFunctionCall] : [];
    });
  }
  if (isPlainObject(input) && 'candidates' in input) return functionCallsOf(input as GeminiResponse);
  if (isPlainObject(input) && 'parts' in input) return callsOf((input as GeminiContent).parts ?? []);
  throw new ConfigError('respond(): expected a response, a content, or function calls / parts', {
    code: 'calls_invalid',
  });
}

/** A piece of a call whose arguments Vertex streams over several chunks (`partialArgs`, `willContinue`). */
export function isFragment(call: GeminiFunctionCall): boolean {
  return call.partialArgs !== undefined || call.willContinue === true;
}

export function argsOf(args: unknown): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  return isPlainObject(args) ? args : { input: args };
}

export function answer(
  p: { name: string; id: string | undefined },
  response: Record<string, unknown>,
): FunctionResponsePart {
  return { functionResponse: { ...(p.id ? { id: p.id } : {}), name: p.name || 'unnamed', response } };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
