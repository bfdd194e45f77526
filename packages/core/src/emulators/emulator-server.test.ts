import { connect } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { createEmulatorRecord } from './emulator-record';
import { readJsonBody, sendJson, startEmulatorServer } from './emulator-server';

describe('the emulator server', () => {
  it('answers HTTP/1.1 and HTTP/2 cleartext on one port, and notes a handler that fails', async () => {
    const record = createEmulatorRecord<string, unknown>(['first']);
    const server = await startEmulatorServer({
      h2c: true,
      problems: record.problems,
      fail: (res) => void sendJson(res, 500, { error: 'emulator error' }),
      handle: async (req, res) => {
        const read = await readJsonBody(req);
        if (!read.ok) throw new Error(`not JSON: ${read.raw}`);
        record.requests.push(read.json);
        await sendJson(res, 200, { step: record.next() ?? null, http: req.httpVersion }, { 'x-test': '1' });
      },
    });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      const one = await fetch(server.url, { method: 'POST', body: '{"a":1}' });
      expect(one.headers.get('x-test')).toBe('1');
      expect(await one.json()).toEqual({ step: 'first', http: '1.1' });
      expect(record.remaining).toBe(0);

      const session = connect(server.url);
      const two = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/' });
        let text = '';
        stream.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
        stream.end('{"b":2}');
      });
      session.close();
      expect(JSON.parse(two)).toEqual({ step: null, http: '2.0' });

      const failed = await fetch(server.url, { method: 'POST', body: 'nope' });
      expect(failed.status).toBe(500);
      expect(record.requests).toEqual([{ a: 1 }, { b: 2 }]);
      expect(record.problems).toEqual(['emulator error: Error: not JSON: nope']);
    } finally {
      await server.close();
    }
  });
});
