import { describe, expect, it } from 'vitest';
import { parseGatewayUrl, redactUrl } from './remote-url';

describe('redactUrl', () => {
  it('hides a user name and password and every query value', () => {
    expect(redactUrl('https://bot:pw@gw.example.com/?token=abc&x=1')).toBe(
      'https://***@gw.example.com/?token=***&x=***',
    );
    expect(redactUrl('http://127.0.0.1:8787')).toBe('http://127.0.0.1:8787');
    expect(redactUrl('http://127.0.0.1:8787/base/?key=k')).toBe('http://127.0.0.1:8787/base/?key=***');
  });

  it('hides them in text that is not a URL too', () => {
    expect(redactUrl('not a url //bot:pw@host?token=abc')).toBe('not a url //***@host?token=***');
  });

  // A password with an unescaped `/`, `?` or `#` makes the URL unparseable; the error that says
  // so quoted it whole.
  it('hides a password that made the URL unparseable', () => {
    for (const secret of ['pa/ss', 'p?ss', 'p#ss']) {
      const url = `http://bot:${secret}@127.0.0.1:8787`;
      expect(redactUrl(url)).toBe('http://***@127.0.0.1:8787');
      expect(() => parseGatewayUrl(url)).toThrow(/"http:\/\/\*\*\*@127\.0\.0\.1:8787"/);
    }
  });
});

describe('parseGatewayUrl', () => {
  it('builds route URLs keeping the base path and query', () => {
    const url = parseGatewayUrl('https://gw.example.com/mesh/?token=abc');
    expect(url.route('/v1/check')).toBe('https://gw.example.com/mesh/v1/check?token=abc');
    expect(url.route('/v1/audit', new URLSearchParams({ limit: '5' }))).toBe(
      'https://gw.example.com/mesh/v1/audit?token=abc&limit=5',
    );
    expect(url.shown).toBe('https://gw.example.com/mesh/?token=***');
  });
});
