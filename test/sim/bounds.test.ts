/**
 * The bounds the README states hold: `npm run sim -- --bounds` prints them over 100 runs; here 25 runs
 * of each scenario (virtual time, about a second) must stay within every stated bound.
 */
import { measureBounds } from './bounds';

describe('the takeover and rebalance bounds the README states', () => {
  it('hold for a worker that dies, one that answers late, one that stops, and a newcomer', async () => {
    const bounds = await measureBounds(25);
    const broken = bounds
      .filter((b) => Math.max(...b.samples) > b.statedPeriods + 1e-9)
      .map(
        (b) => `${b.scenario}: ${b.measure} reached ${Math.max(...b.samples)} ${b.unit}, stated ${b.stated}`,
      );
    expect(broken).toEqual([]);
    expect(bounds.every((b) => b.samples.length === 25 && b.samples.every(Number.isFinite))).toBe(true);
  });
});
