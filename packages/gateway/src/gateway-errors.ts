import { MeshGuardError, PolicyError, type ValidationError } from '@meshguard/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

/** The short code of the documented error body for a status the framework itself answers. */
const CODES: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  408: 'request_timeout',
  413: 'too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

/** What the router refuses (a parameter over its length, a malformed URL): the 400 a schema violation gets. */
export function refuseUrl(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  return reply.code(400).send({
    error: 'bad_request',
    message:
      error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? 'a path parameter is over 256 characters'
        : 'the URL is not valid',
  });
}

/** A 400 for a body the gateway will not read, naming the field at fault. */
class BodyError extends Error {
  readonly statusCode = 400;
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/**
 * Where a parsed JSON body holds a key that could reach an object's prototype: `__proto__`
 * anywhere, or `prototype` inside a `constructor` object (the keys secure-json-parse refuses).
 * Returns the dotted path (`context.__proto__`), or undefined.
 */
export function forbiddenKeyPath(value: unknown): string | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: '' }];
  while (stack.length > 0) {
    const { value: node, path } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    for (const key of Object.keys(node)) {
      const at = path ? `${path}.${key}` : key;
      const child = (node as Record<string, unknown>)[key];
      if (key === '__proto__') return at;
      if (
        key === 'constructor' &&
        child !== null &&
        typeof child === 'object' &&
        Object.hasOwn(child, 'prototype')
      ) {
        return `${at}.prototype`;
      }
      stack.push({ value: child, path: at });
    }
  }
  return undefined;
}

/**
 * The gateway's JSON parser, error handler and 404: every error the gateway or the framework
 * answers has the documented body (`error`, `message`, and `field` where a field is at fault).
 * Wrapped with fastify-plugin because all three must hold for the whole gateway (the route plugins
 * registered after it, and URLs no route takes), not only inside a context of its own.
 */
export const errorHandling = fp(async (app) => installErrorHandling(app), {
  name: 'meshguard-errors',
  fastify: '5.x',
});

function installErrorHandling(app: FastifyInstance): void {
  // Fastify's own parser answers a `__proto__` key as "not valid JSON"; this one names it.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(new BodyError('the body is empty but its content-type is application/json', 'body'), undefined);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      done(new BodyError(`the body is not valid JSON (${(error as Error).message})`, 'body'), undefined);
      return;
    }
    const at = forbiddenKeyPath(value);
    if (at) {
      const key = at.endsWith('.prototype') ? 'constructor.prototype' : '__proto__';
      done(new BodyError(`${at}: ${key} is not allowed`, at), undefined);
      return;
    }
    done(null, value);
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const first = error.validation[0];
      const path =
        first?.instancePath?.replace(/^\//, '').replaceAll('/', '.') || error.validationContext || 'body';
      return reply.code(400).send({
        error: 'bad_request',
        message: `${path}: ${first?.message ?? 'invalid'}`,
        field: path,
      });
    }
    if (error instanceof BodyError) {
      return reply.code(400).send({ error: 'bad_request', message: error.message, field: error.field });
    }
    if (PolicyError.isInstance(error)) {
      return reply.code(400).send({ error: 'policy_invalid', message: error.message, issues: error.issues });
    }
    if (MeshGuardError.isInstance(error) && error.code === 'validation_failed') {
      return reply
        .code(400)
        .send({ error: 'bad_request', message: error.message, field: (error as ValidationError).field });
    }
    const status = error.statusCode;
    if (status === 413)
      return reply.code(413).send({ error: 'too_large', message: 'the request body is over the limit' });
    if (status === 415) {
      return reply.code(415).send({
        error: 'unsupported_media_type',
        message: `the body's content-type (${String(request.headers['content-type'] ?? 'none').slice(0, 100)}) is neither JSON nor text`,
      });
    }
    if (status && status >= 400 && status < 500) {
      return reply.code(status).send({ error: CODES[status] ?? 'bad_request', message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'the gateway could not handle the request' });
  });
}
