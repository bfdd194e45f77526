import { redactUrl } from '@meshguard/core/internal';
import type { FastifyServerOptions } from 'fastify';

/**
 * The gateway's logger options, with request URLs logged as `redactUrl` shows them: a client's
 * gateway URL may carry a credential in its query (a proxy's `?token=`), and the request log
 * line must not keep it.
 */
export function redactingLogger(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false;
  const options = logger === true ? {} : logger;
  return {
    ...options,
    serializers: {
      req: (req: {
        method?: string;
        url?: string;
        host?: string;
        ip?: string;
        socket?: { remotePort?: number };
      }) => ({
        method: req.method,
        url: req.url === undefined ? undefined : redactUrl(req.url),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
      ...(options as { serializers?: Record<string, unknown> }).serializers,
    },
  };
}
