import { ConfigError } from '../errors/meshguard-error';

/** What a hidden credential is shown as. */
const HIDDEN = '***';

/**
 * A gateway URL as it may be shown (reasons given to the model, logs, the spool, the trail): a
 * user name and password become `***`, and so does the value of every query parameter (a proxy's
 * `?token=` or `?api_key=`: any of them may be a credential). Text that is not a URL has whatever
 * looks like `user:pass@` after a `//` hidden the same way.
 *
 * @example
 * redactUrl('https://bot:s3cret@gw.example.com/?token=abc'); // 'https://***@gw.example.com/?token=***'
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Up to the last `@` of the run: a password with a `/`, `?` or `#` in it is what made the URL
    // unparseable, and must not be shown from that character on.
    return url.replace(/\/\/\S*@/g, `//${HIDDEN}@`).replace(/([?&][^=&#\s]*=)[^&#\s]*/g, `$1${HIDDEN}`);
  }
  const userinfo = parsed.username || parsed.password ? `${HIDDEN}@` : '';
  const query = [...parsed.searchParams.keys()]
    .map((key) => `${encodeURIComponent(key)}=${HIDDEN}`)
    .join('&');
  const path = parsed.pathname === '/' && !url.replace(/[?#].*$/, '').endsWith('/') ? '' : parsed.pathname;
  return `${parsed.protocol}//${userinfo}${parsed.host}${path}${query ? `?${query}` : ''}`;
}

/** A gateway base URL, parsed: where to send requests, and how to name it in any text. */
export interface GatewayUrl {
  /** The URL of a gateway route (`/v1/check`), the base's query parameters kept. */
  route(path: string, params?: URLSearchParams): string;
  /** The base with its credentials hidden: the only form any message may quote. */
  readonly shown: string;
}

/**
 * Parses the gateway URL. It must be http(s), and it may not carry a user name or password (the
 * agent token authenticates; `fetch` would refuse them anyway): the error shows the URL with them
 * hidden.
 */
export function parseGatewayUrl(url: string): GatewayUrl {
  const shown = redactUrl(url.replace(/\/+$/, ''));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`MESHGUARD_GATEWAY_URL is not a URL: "${shown}"`, { code: 'gateway_url_invalid' });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`the gateway URL must be http(s): "${shown}"`, { code: 'gateway_url_invalid' });
  }
  if (parsed.username || parsed.password) {
    throw new ConfigError(
      `the gateway URL "${shown}" carries a user name or password: remove them (the agent token authenticates to the gateway)`,
      { code: 'gateway_url_invalid' },
    );
  }
  const basePath = parsed.pathname.replace(/\/+$/, '');
  return {
    shown,
    route(path, params) {
      const target = new URL(parsed.href);
      target.pathname = `${basePath}${path}`;
      target.hash = '';
      if (params) for (const [key, value] of params) target.searchParams.set(key, value);
      return target.href;
    },
  };
}
