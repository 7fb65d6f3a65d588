/** Tables and key/value blocks for people; the same values go out as JSON with --json. */
import type { ActiveWorkers } from '../core/checkpointer';
import type { Lease } from '../core/lease-row';

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

export function renderLease(lease: Lease): string {
  return renderFields([
    ['shard', lease.shardId],
    ['owner', lease.owner],
    ['lease timeout', lease.leaseTimeout],
    ['lease counter', lease.leaseCounter],
    ['checkpoint', lease.checkpoint],
    ['checkpointed at', lease.checkpointedAt],
    ['parent', lease.parentShardId],
    ['claim', lease.claimRequest],
    ['claimed at', lease.claimedAt],
  ]);
}

export function renderLeases(leases: readonly Lease[]): string {
  if (leases.length === 0) return 'no shards\n';
  return renderTable(
    ['SHARD', 'OWNER', 'LEASE TIMEOUT', 'COUNTER', 'CHECKPOINT', 'PARENT', 'CLAIM'],
    leases.map((l) => [
      l.shardId,
      dash(l.owner),
      dash(l.leaseTimeout),
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
