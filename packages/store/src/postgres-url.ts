import { ConfigError } from '@meshguard/core';

/** Takes `?schema=` out of the URL (pg does not know it) and names the server without credentials. */
export function readUrl(url: string): { connectionString: string; schema?: string; where: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ConfigError('the PostgreSQL store URL is not a valid URL', {
      code: 'store_url_invalid',
      cause: error,
    });
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigError(`"${parsed.protocol}" is not a PostgreSQL URL scheme`, {
      code: 'store_url_invalid',
    });
  }
  const schema = parsed.searchParams.get('schema') ?? undefined;
  let connectionString = url;
  if (schema !== undefined) {
    parsed.searchParams.delete('schema');
    connectionString = parsed.toString();
  }
  const where = `postgres://${parsed.host}${parsed.pathname}`;
  return schema === undefined ? { connectionString, where } : { connectionString, schema, where };
}
