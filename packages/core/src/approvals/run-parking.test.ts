import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileParking } from './run-parking';

describe('file parking of paused runs', () => {
  it('parks privately, and of two claims one wins; put back, it can be claimed again', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'mg-park-')), 'parked');
    const parking = createFileParking(dir);
    await parking.park({ approvalId: 'apr_1', framework: 'openai-agents', state: { secret: 'args' } });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'apr_1.json'))).mode & 0o777).toBe(0o600);
    expect(await parking.list()).toEqual(['apr_1']);
    const [a, b] = await Promise.all([parking.claim('apr_1'), parking.claim('apr_1')]);
    const winner = a ?? b;
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(winner).toMatchObject({ framework: 'openai-agents', state: { secret: 'args' } });
    expect(await parking.get('apr_1')).toBeUndefined();
    await winner!.putBack();
    const again = await parking.claim('apr_1');
    await again!.done();
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses an id that could name a path', async () => {
    const parking = createFileParking(await mkdtemp(join(tmpdir(), 'mg-park-')));
    await expect(parking.claim('../../etc/passwd')).rejects.toMatchObject({ code: 'approval_id_invalid' });
    await expect(parking.park({ approvalId: 'a/b', framework: 'x', state: 1 })).rejects.toMatchObject({
      code: 'approval_id_invalid',
    });
  });
});
