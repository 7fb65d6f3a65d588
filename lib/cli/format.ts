/** Tables and key/value blocks for people; the same values go out as JSON with --json. */
import type { ActiveWorkers } from '../core/checkpointer';
import type { Lease } from '../core/lease-row';

/** A duration in words, coarse: `8s`, `4m 10s`, `3h 5m`, `2d 4h`. */
export function humanDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const [m, h, d] = [Math.floor(s / 60), Math.floor(s / 3600), Math.floor(s / 86_400)];
  if (s < 3600) return s % 60 === 0 ? `${m}m` : `${m}m ${s % 60}s`;
  if (s < 86_400) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
  return h % 24 === 0 ? `${d}d` : `${d}d ${h % 24}h`;
}

/** A lease timeout relative to `now`: `in 8s`, `expired 3m ago`, or `-` when there is none. */
export function relativeExpiry(leaseTimeout: string | undefined, now: number): string {
  if (leaseTimeout === undefined) return '-';
  const at = Date.parse(leaseTimeout);
  if (Number.isNaN(at)) return leaseTimeout;
  const ms = at - now;
  return ms > 0 ? `in ${humanDuration(ms)}` : `expired ${humanDuration(ms)} ago`;
}

const dash = (value: string | number | undefined): string =>
  value === undefined || value === '' ? '-' : String(value);

/** Left-aligned columns, two spaces apart, header first. */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

export function renderFields(fields: ReadonlyArray<readonly [string, string | number | undefined]>): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return `${fields.map(([k, v]) => `${k.padEnd(width)}  ${dash(v)}`).join('\n')}\n`;
}

export function renderLease(lease: Lease, now: number): string {
  const timeout =
    lease.leaseTimeout === undefined
      ? undefined
      : `${lease.leaseTimeout} (${relativeExpiry(lease.leaseTimeout, now)})`;
  return renderFields([
    ['shard', lease.shardId],
    ['owner', lease.owner],
    ['lease timeout', timeout],
    ['lease counter', lease.leaseCounter],
    ['checkpoint', lease.checkpoint],
    ['checkpointed at', lease.checkpointedAt],
    ['parent', lease.parentShardId],
    ['claim', lease.claimRequest],
    ['claimed at', lease.claimedAt],
  ]);
}

export function renderLeases(leases: readonly Lease[], now: number): string {
  if (leases.length === 0) return 'no shards\n';
  return renderTable(
    ['SHARD', 'OWNER', 'EXPIRES', 'COUNTER', 'CHECKPOINT', 'PARENT', 'CLAIM'],
    leases.map((l) => [
      l.shardId,
      dash(l.owner),
      relativeExpiry(l.leaseTimeout, now),
      String(l.leaseCounter),
      dash(l.checkpoint),
      dash(l.parentShardId),
      dash(l.claimRequest),
    ]),
  );
}

export function renderWorkers(active: ActiveWorkers): string {
  const workers = Object.keys(active.workers).sort();
  const table =
    workers.length === 0
      ? 'no live workers\n'
      : renderTable(
          ['WORKER', 'LEASES', 'SHARDS'],
          workers.map((w) => {
            const shards = (active.workers[w] ?? []).map((l) => l.shardId).sort();
            return [w, String(shards.length), shards.join(', ')];
          }),
        );
  const unassigned = active.unassigned.length === 0 ? 'none' : active.unassigned.join(', ');
  return `${table}unassigned: ${unassigned}\n`;
}
