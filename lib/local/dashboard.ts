/**
 * The local server's page at `/`: every shard with its owner, lease expiry, counter, checkpoint,
 * parent and pending claim, refreshed every two seconds. Plain server-rendered HTML, so watching a
 * fleet rebalance needs nothing but a browser.
 */
import type { Checkpointer } from '../core/checkpointer';
import type { Lease } from '../core/lease-row';
import { parseLeaseTime } from '../core/lease-time';
import { leaseIsLive } from '../core/rules';

const MAX_ROWS = 1000;

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function expiry(lease: Lease, nowMs: number): string {
  if (lease.leaseTimeout === undefined) return '';
  const at = parseLeaseTime(lease.leaseTimeout);
  if (at === undefined) return escapeHtml(lease.leaseTimeout);
  const seconds = ((at - nowMs) / 1000).toFixed(1);
  return at > nowMs ? `in ${seconds} s` : `expired ${seconds.replace('-', '')} s ago`;
}

function row(lease: Lease, nowMs: number): string {
  const live = leaseIsLive(lease, nowMs) ? 'live' : 'free';
  const cells = [
    escapeHtml(lease.shardId),
    escapeHtml(lease.owner ?? '—'),
    expiry(lease, nowMs),
    String(lease.leaseCounter),
    escapeHtml(lease.checkpoint ?? ''),
    escapeHtml(lease.parentShardId ?? ''),
    escapeHtml(lease.claimRequest ?? ''),
  ];
  return `<tr class="${live}">${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
}

export async function renderDashboard(
  checkpointer: Checkpointer,
  tableName: string,
  nowMs: number,
): Promise<string> {
  const leases: Lease[] = [];
  let cursor: string | undefined;
  do {
    const page = await checkpointer.listShards({ limit: 1000, ...(cursor && { cursor }) });
    leases.push(...page.shards);
    cursor = page.nextCursor;
  } while (cursor && leases.length < MAX_ROWS);
  const owners = new Set(leases.filter((l) => l.owner).map((l) => l.owner));
  const more = cursor ? `<p>Showing the first ${leases.length} shards.</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>shardlease · ${escapeHtml(tableName)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
tr.free td:nth-child(2){color:#999}code{background:#f4f4f4;padding:0 .2rem}
</style></head><body>
<h1>shardlease <small>local</small></h1>
<p>Table <code>${escapeHtml(tableName)}</code> · ${leases.length} shards · ${owners.size} workers ·
${escapeHtml(new Date(nowMs).toISOString())}</p>
<table><thead><tr><th>shard</th><th>owner</th><th>lease</th><th>counter</th><th>checkpoint</th>
<th>parent</th><th>claim</th></tr></thead>
<tbody>${leases.map((l) => row(l, nowMs)).join('\n')}</tbody></table>${more}
</body></html>`;
}
