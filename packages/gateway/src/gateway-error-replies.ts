import { ErrorReplySchema } from './gateway-schemas';

// Every status a route can answer is declared with its body, so the OpenAPI document (and the
// reference generated from it) is the whole truth; openapi.test.ts holds each route to it.

/** The error body, described with when a route answers it. */
export const errorReply = (when: string) => ErrorReplySchema.describe(when);

/** What an agent route answers a missing or wrong token. */
export const agentAuthErrors = {
  401: errorReply('No token, or a forged, expired or revoked one.'),
  403: errorReply('The admin token: this route takes an agent token.'),
};

/** What an admin route answers a missing or wrong token. */
export const adminAuthErrors = {
  401: errorReply('No token, or one that is neither the admin token nor a valid agent token.'),
  403: errorReply('An agent token: this route takes the admin token.'),
  429: errorReply(
    'Too many failed admin-token attempts from this client address: try again after `Retry-After` seconds.',
  ),
};

/** What a route that takes a body answers one it cannot read. */
export const bodyErrors = {
  400: errorReply('Malformed JSON, or a field that breaks the schema (`field` names it).'),
  413: errorReply('The body is over the size limit (1 MiB by default).'),
  415: errorReply('A body that is neither JSON nor text.'),
};

export const queryErrors = {
  400: errorReply('A query parameter that breaks the schema (`field` names it).'),
};

/** Fastify reads a body sent with a DELETE (or a bodiless POST) too: these routes take none, but answer one. */
export const deleteErrors = {
  400: errorReply('A bad path parameter (`field` names it), or a body sent that is malformed JSON.'),
  413: errorReply('A body sent (the route takes none) over the size limit.'),
  415: errorReply('A body sent (the route takes none) that is neither JSON nor text.'),
};

export const notImplemented = errorReply('The audit store cannot answer this (a memory store).');
