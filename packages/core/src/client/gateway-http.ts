import { GatewayError } from '../errors/meshguard-error';
import type { GatewayUrl } from '../guard/remote-url';

/** The largest answer read by default (1 MiB): a decision is a few hundred bytes. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** An answer read whole, within the size cap and the time limit. */
interface GatewayAnswer {
  status: number;
  ok: boolean;
  text: string;
}

export interface GatewayHttp {
  /**
   * Sends a request and reads its whole answer, all within `timeoutMs` (headers and body alike)
   * and at most `maxBytes` of body (default: the client's cap). Throws a {@link GatewayError}
   * (`gateway_timeout`, `gateway_unreachable`, `gateway_too_large`, `gateway_aborted`) whose
   * message is safe to show (credentials hidden).
   */
  call(
    path: string,
    init: {
      method: string;
      body?: string | undefined;
      token: string;
      params?: URLSearchParams | undefined;
      maxBytes?: number | undefined;
      signal?: AbortSignal | undefined;
      /** This call's clock instead of the client's (a long poll). */
      timeoutMs?: number | undefined;
    },
  ): Promise<GatewayAnswer>;
}

export function createGatewayHttp(options: {
  url: GatewayUrl;
  fetch: typeof globalThis.fetch;
  timeoutMs: number;
  maxResponseBytes: number;
}): GatewayHttp {
  const { url, timeoutMs } = options;
  const failed = (code: string, what: string) =>
    new GatewayError(`the MeshGuard gateway at ${url.shown} ${what}`, { code });
  const timedOut = (ms: number) => failed('gateway_timeout', `did not answer within ${ms} ms`);

  return {
    async call(path, init) {
      const maxBytes = init.maxBytes ?? options.maxResponseBytes;
      const callTimeoutMs = init.timeoutMs ?? timeoutMs;
      const controller = new AbortController();
      // One clock for the whole exchange: connecting, the headers and every byte of the body. The
      // caller's signal ends it the same way.
      let ended: 'timeout' | 'aborted' | undefined;
      let onEnd: (() => void) | undefined;
      const end = (why: 'timeout' | 'aborted') => {
        if (ended) return;
        ended = why;
        controller.abort();
        onEnd?.();
      };
      const endError = () =>
        ended === 'timeout'
          ? timedOut(callTimeoutMs)
          : new GatewayError(`the call to the MeshGuard gateway at ${url.shown} was aborted`, {
              code: 'gateway_aborted',
            });
      const timer = setTimeout(() => end('timeout'), callTimeoutMs);
      const abort = () => end('aborted');
      init.signal?.addEventListener('abort', abort, { once: true });
      if (init.signal?.aborted) abort();
      try {
        let res: Response;
        try {
          const headers: Record<string, string> = { authorization: `Bearer ${init.token}` };
          if (init.body !== undefined) headers['content-type'] = 'application/json';
          res = await options.fetch(url.route(path, init.params), {
            method: init.method,
            headers,
            ...(init.body !== undefined ? { body: init.body } : {}),
            // Never follow a redirect: fetch would resend the body (an unredacted context) to
            // wherever it points and hand back that server's answer as the gateway's; a 3xx is
            // an answer that is not a decision (denied, and outcomes stay spooled).
            redirect: 'manual',
            signal: controller.signal,
          });
        } catch (error) {
          if (ended) throw endError();
          const cause = (error as { cause?: { code?: string } }).cause?.code;
          // The cause's message may quote the URL: only its code is shown.
          throw failed(
            'gateway_unreachable',
            `was unreachable (${cause ?? (error as Error).name ?? 'fetch failed'})`,
          );
        }
        const declared = Number(res.headers.get('content-length'));
        if (Number.isFinite(declared) && declared > maxBytes) {
          controller.abort();
          throw tooLarge(maxBytes);
        }
        const text = await readCapped(res, maxBytes, (stop) => {
          onEnd = stop;
          return ended !== undefined;
        }).catch((error: unknown) => {
          if (ended) throw endError();
          if (error === TOO_LARGE) {
            controller.abort();
            throw tooLarge(maxBytes);
          }
          throw failed('gateway_unreachable', `broke off its answer (${(error as Error).name})`);
        });
        return { status: res.status, ok: res.ok, text };
      } finally {
        clearTimeout(timer);
        init.signal?.removeEventListener('abort', abort);
      }
    },
  };

  function tooLarge(maxBytes: number): GatewayError {
    return failed('gateway_too_large', `answered more than ${maxBytes} bytes`);
  }
}

const TOO_LARGE = Symbol('too large');

/**
 * Reads a body as UTF-8 up to `maxBytes`; rejects with TOO_LARGE past it, and as soon as the
 * exchange ends (deadline or abort: `watch` registers what to do then), whatever the server is doing.
 */
async function readCapped(
  res: Response,
  maxBytes: number,
  watch: (stop: () => void) => boolean,
): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let stopped: ((error: unknown) => void) | undefined;
  const expiry = new Promise<never>((_, reject) => {
    stopped = reject;
  });
  expiry.catch(() => {}); // raced below; an end after the last read must not go unhandled
  if (watch(() => stopped?.(new Error('ended')))) throw new Error('ended');
  let size = 0;
  let text = '';
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expiry]);
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw TOO_LARGE;
      text += decoder.decode(value, { stream: true });
    }
    return text + decoder.decode();
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
}
