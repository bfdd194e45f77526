import { describe, expect, it } from 'vitest';
import { RecentMap } from './recent-map';

describe('RecentMap', () => {
  it('keeps at least the last half of its capacity and never more than all of it', () => {
    const map = new RecentMap<number, string>(100);
    for (let i = 0; i < 1_000; i++) {
      map.set(i, `v${i}`);
      expect(map.size).toBeLessThanOrEqual(100);
      for (let back = 0; back < Math.min(50, i + 1); back++) expect(map.get(i - back)).toBe(`v${i - back}`);
    }
    expect(map.has(0)).toBe(false);
    expect(map.get(0)).toBeUndefined();
  });

  it('replaces a value in place, without holding the key twice', () => {
    const map = new RecentMap<string, number>(4);
    map.set('a', 1).set('b', 2).set('c', 3); // 'a' and 'b' move to the older generation
    map.set('a', 10);
    expect(map.get('a')).toBe(10);
    expect(map.size).toBe(3);
  });

  it('forgets a deleted key in either generation', () => {
    const map = new RecentMap<string, number>(4);
    map.set('a', 1).set('b', 2).set('c', 3);
    expect(map.delete('a')).toBe(true);
    expect(map.delete('c')).toBe(true);
    expect(map.delete('zz')).toBe(false);
    expect(map.has('a') || map.has('c')).toBe(false);
    expect(map.get('b')).toBe(2);
  });

  it('refuses a capacity it cannot honour', () => {
    expect(() => new RecentMap(1)).toThrow(/at least 2/);
    expect(() => new RecentMap(2.5)).toThrow(/whole number/);
  });
});
