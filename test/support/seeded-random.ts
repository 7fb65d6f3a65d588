/**
 * Deterministic randomness for tests: mulberry32, and seeds derived from a run seed and labels, so
 * that each actor (and each stream of draws inside it) has its own reproducible sequence whatever
 * the interleaving of the others.
 */

export type Random = () => number;

/** mulberry32: a 32-bit state, uniform in [0, 1). Plenty for schedules, no good for anything else. */
export function mulberry32(seed: number): Random {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from a run seed and labels (FNV-1a over their text, then one mixing round). */
export function deriveSeed(seed: number, ...labels: ReadonlyArray<string | number>): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const ch of labels.join('\u0000')) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

export function seededRandom(seed: number, ...labels: ReadonlyArray<string | number>): Random {
  return mulberry32(deriveSeed(seed, ...labels));
}

/** An integer in [min, max]. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: Random, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick: no items');
  return items[Math.floor(random() * items.length)] as T;
}

/** One key of `weights`, drawn in proportion to its weight (the keys in their given order). */
export function weighted<K extends string>(random: Random, weights: Readonly<Record<K, number>>): K {
  const entries = Object.entries(weights) as Array<[K, number]>;
  const total = entries.reduce((sum, [, w]) => sum + Math.max(0, w), 0);
  let x = random() * total;
  for (const [key, w] of entries) {
    x -= Math.max(0, w);
    if (x < 0) return key;
  }
  return (entries[entries.length - 1] as [K, number])[0];
}
