/**
 * The local server's page at `/` and the snapshot behind it at `/dashboard.json`. The page is one
 * dependency-free HTML document whose inline script renders the snapshot and fetches a fresh one every
 * second, replacing the summary and the rows in place (no reload: the scroll position and anything a
 * person selected stay). The snapshot is computed here, on the server's clock: shards in lineage order
 * (every parent before its children, siblings by id), each with its state (live, expiring, expired,
 * free, ended) and pending claim, the lease's remaining time and the checkpoint's age; and a summary
 * per worker that counts only live leases (an expired owner is not a worker).
 */
import type { Checkpointer } from '../core/checkpointer';
import type { Lease } from '../core/lease-row';
import { parseLeaseTime } from '../core/lease-time';
import { leaseIsLive } from '../core/rules';
import { SHARD_END } from '../core/sequence-number';

const MAX_ROWS = 1000;

/** `expiring`: live, but less than half a lease left, i.e. at least one renewal was missed. */
export type ShardState = 'live' | 'expiring' | 'expired' | 'free' | 'ended';

export interface DashboardShard {
  readonly shardId: string;
  /** Parent and adjacent parent (a merge), when the shard has them. */
  readonly parentShardIds: readonly string[];
  /** 0 for a shard whose parents have no row; a child is one deeper than its parent. */
  readonly depth: number;
  readonly state: ShardState;
  readonly owner?: string;
  readonly leaseCounter: number;
  /** Milliseconds until the lease expires (negative: since it expired). */
  readonly expiresInMs?: number;
  readonly checkpoint?: string;
  /** Milliseconds since the checkpoint was written, when the row says when. */
  readonly checkpointAgeMs?: number;
  readonly claimRequest?: string;
}

export interface DashboardWorker {
  readonly workerId: string;
  /** Live leases, expiring ones included. */
  readonly leases: number;
  readonly expiring: number;
}

export interface DashboardSnapshot {
  readonly table: string;
  /** The server's time, RFC 3339. */
  readonly now: string;
  readonly leaseDurationMs: number;
  readonly shards: readonly DashboardShard[];
  /** Workers holding a live lease, most leases first. */
  readonly workers: readonly DashboardWorker[];
  readonly counts: Readonly<Record<ShardState | 'claimed', number>>;
  /** More rows exist than the page shows. */
  readonly truncated: boolean;
}

const byId = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

function stateOf(lease: Lease, nowMs: number, leaseDurationMs: number): ShardState {
  if (lease.checkpoint === SHARD_END) return 'ended';
  if (lease.owner === undefined) return 'free';
  // Live or not is the table's own rule (the core's), judged exactly as the service's writes judge it.
  if (!leaseIsLive(lease, nowMs)) return 'expired';
  const at = lease.leaseTimeout === undefined ? undefined : parseLeaseTime(lease.leaseTimeout);
  return at !== undefined && at - nowMs < leaseDurationMs / 2 ? 'expiring' : 'live';
}

/** Parents before children, depth-first; siblings and roots by id. Rows in a parent cycle come last. */
function lineageOrder(leases: readonly Lease[]): Array<{ lease: Lease; depth: number }> {
  const known = new Map(leases.map((l) => [l.shardId, l]));
  const children = new Map<string, Lease[]>();
  const roots: Lease[] = [];
  for (const lease of leases) {
    const parent = [lease.parentShardId, lease.adjacentParentShardId].find((p) => p && known.has(p));
    if (parent === undefined) roots.push(lease);
    else children.set(parent, [...(children.get(parent) ?? []), lease]);
  }
  const ordered: Array<{ lease: Lease; depth: number }> = [];
  const seen = new Set<string>();
  const visit = (lease: Lease, depth: number) => {
    if (seen.has(lease.shardId)) return;
    seen.add(lease.shardId);
    ordered.push({ lease, depth });
    const kids = [...(children.get(lease.shardId) ?? [])].sort((a, b) => byId(a.shardId, b.shardId));
    for (const kid of kids) visit(kid, depth + 1);
  };
  for (const root of [...roots].sort((a, b) => byId(a.shardId, b.shardId))) visit(root, 0);
  for (const lease of [...leases].sort((a, b) => byId(a.shardId, b.shardId))) visit(lease, 0);
  return ordered;
}

export async function dashboardSnapshot(
  checkpointer: Checkpointer,
  tableName: string,
  nowMs: number,
  leaseDurationMs: number,
): Promise<DashboardSnapshot> {
  const leases: Lease[] = [];
  let cursor: string | undefined;
  do {
    const page = await checkpointer.listShards({ limit: 1000, ...(cursor && { cursor }) });
    leases.push(...page.shards);
    cursor = page.nextCursor;
  } while (cursor && leases.length < MAX_ROWS);

  const counts = { live: 0, expiring: 0, expired: 0, free: 0, ended: 0, claimed: 0 };
  const workers = new Map<string, { leases: number; expiring: number }>();
  const shards = lineageOrder(leases).map(({ lease, depth }): DashboardShard => {
    const state = stateOf(lease, nowMs, leaseDurationMs);
    counts[state]++;
    if (lease.claimRequest !== undefined) counts.claimed++;
    if ((state === 'live' || state === 'expiring') && lease.owner !== undefined) {
      const worker = workers.get(lease.owner) ?? { leases: 0, expiring: 0 };
      worker.leases++;
      if (state === 'expiring') worker.expiring++;
      workers.set(lease.owner, worker);
    }
    const timeout = lease.leaseTimeout === undefined ? undefined : parseLeaseTime(lease.leaseTimeout);
    const checkpointedAt =
      lease.checkpointedAt === undefined ? undefined : parseLeaseTime(lease.checkpointedAt);
    return {
      shardId: lease.shardId,
      parentShardIds: [lease.parentShardId, lease.adjacentParentShardId].filter(
        (p): p is string => p !== undefined,
      ),
      depth,
      state,
      ...(lease.owner !== undefined && { owner: lease.owner }),
      leaseCounter: lease.leaseCounter,
      ...(timeout !== undefined && lease.owner !== undefined && { expiresInMs: timeout - nowMs }),
      ...(lease.checkpoint !== undefined && { checkpoint: lease.checkpoint }),
      ...(checkpointedAt !== undefined && { checkpointAgeMs: Math.max(0, nowMs - checkpointedAt) }),
      ...(lease.claimRequest !== undefined && { claimRequest: lease.claimRequest }),
    };
  });
  return {
    table: tableName,
    now: new Date(nowMs).toISOString(),
    leaseDurationMs,
    shards,
    workers: [...workers.entries()]
      .map(([workerId, w]) => ({ workerId, ...w }))
      .sort((a, b) => b.leases - a.leases || byId(a.workerId, b.workerId)),
    counts,
    truncated: cursor !== undefined,
  };
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JSON safe inside a <script> element: no `<` (so no `</script>`), no line separators. */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');

const STYLE = `
*{box-sizing:border-box}
body{font:13px system-ui,sans-serif;margin:0;padding:12px 16px;color:#1d2329;background:#fff}
h1{font-size:18px;margin:0 0 4px}h2{font-size:14px;margin:14px 0 6px}
.meta{color:#555;margin:0 0 8px}.meta code{background:#f2f3f5;padding:0 3px}
#status.down{color:#b3261e;font-weight:600}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600;white-space:nowrap}
.live{background:#d8f3dc;color:#1b5e20}.expiring{background:#fff1c2;color:#7a5200}
.expired{background:#fde0dc;color:#9b1c12}.free{background:#eceff1;color:#455a64}
.ended{background:#e3e7fd;color:#283593}.claimed{background:#f3e0fb;color:#6a1b9a}
#workers{list-style:none;padding:0;margin:0;max-width:760px}
#workers li{display:grid;grid-template-columns:minmax(90px,180px) 1fr 150px;gap:8px;align-items:center;margin:2px 0}
.wname{font-family:ui-monospace,monospace;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.bar{height:10px;background:#eceff1;border-radius:5px;overflow:hidden}
.bar span{display:block;height:100%;background:#2e7d32}
.wcount{white-space:nowrap;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:12px}
th{position:sticky;top:0;background:#fff;text-align:left;font-weight:600;border-bottom:2px solid #ccd}
td,th{padding:3px 5px;white-space:nowrap}td{border-bottom:1px solid #e4e6ea}
td.id,td.owner,td.claim,td.checkpoint{font-family:ui-monospace,monospace}
td.num,td.age{text-align:right;font-variant-numeric:tabular-nums}
.lineage{display:block;color:#667;font-size:11px}
tr.state-free td.owner,tr.state-ended td.owner{color:#999}
tr.state-expired td.owner{text-decoration:line-through;color:#9b1c12}
.muted{color:#999}
td.claim span{color:#6a1b9a;font-weight:600}
`;

/** Runs in the browser: renders a snapshot, then fetches a fresh one every second. */
const SCRIPT = `
(function () {
  var stateNames = ['live', 'expiring', 'expired', 'free', 'ended', 'claimed'];
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) {
      if (key === 'text') node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function seconds(ms) { return (Math.abs(ms) / 1000).toFixed(1) + ' s'; }
  function age(ms) {
    if (ms < 60000) return seconds(ms) + ' ago';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ago';
    return Math.floor(ms / 3600000) + ' h ago';
  }
  function shortCheckpoint(cp) { return cp.length > 14 ? '\\u2026' + cp.slice(-12) : cp; }
  function lease(shard) {
    if (shard.expiresInMs === undefined) return '';
    return shard.expiresInMs > 0 ? 'in ' + seconds(shard.expiresInMs) : seconds(shard.expiresInMs) + ' ago';
  }
  function row(shard) {
    var idCell = el('td', { class: 'id', title: shard.shardId }, [
      el('span', { class: 'sid', text: (shard.depth > 0 ? '\\u21b3 ' : '') + shard.shardId }),
      shard.parentShardIds.length
        ? el('span', { class: 'lineage', text: 'child of ' + shard.parentShardIds.join(' + ') })
        : null,
    ]);
    idCell.style.paddingLeft = 6 + 16 * shard.depth + 'px';
    var stateCell = el('td', { class: 'state' }, [el('span', { class: 'badge ' + shard.state, text: shard.state })]);
    var cp = shard.checkpoint || '';
    return el('tr', { class: 'state-' + shard.state, 'data-shard': shard.shardId, 'data-state': shard.state }, [
      idCell,
      stateCell,
      el('td', { class: 'owner', text: shard.owner || '\\u2014' }),
      el('td', { class: 'lease', text: lease(shard) }),
      el('td', { class: 'num', text: String(shard.leaseCounter) }),
      el('td', { class: 'checkpoint', title: cp, text: shortCheckpoint(cp) }),
      el('td', { class: 'age', text: shard.checkpointAgeMs === undefined ? '' : age(shard.checkpointAgeMs) }),
      el('td', { class: 'claim', title: shard.claimRequest ? 'claimed by ' + shard.claimRequest : '' },
        [shard.claimRequest ? el('span', { text: shard.claimRequest }) : null]),
    ]);
  }
  function render(snap) {
    document.getElementById('now').textContent = snap.now;
    document.getElementById('shard-count').textContent = String(snap.shards.length);
    document.getElementById('worker-count').textContent = String(snap.workers.length);
    var chips = document.getElementById('counts');
    chips.replaceChildren.apply(chips, stateNames.map(function (s) {
      return el('span', { class: 'badge ' + s, 'data-count': s, text: s + ' ' + snap.counts[s] });
    }));
    var most = snap.workers.reduce(function (m, w) { return Math.max(m, w.leases); }, 0);
    var list = document.getElementById('workers');
    list.replaceChildren.apply(list, snap.workers.length ? snap.workers.map(function (w) {
      var bar = el('span');
      bar.style.width = (most ? (100 * w.leases) / most : 0) + '%';
      var text = w.leases + (w.leases === 1 ? ' lease' : ' leases') + (w.expiring ? ', ' + w.expiring + ' expiring' : '');
      return el('li', { 'data-worker': w.workerId }, [
        el('span', { class: 'wname', title: w.workerId, text: w.workerId }),
        el('span', { class: 'bar' }, [bar]),
        el('span', { class: 'wcount', text: text }),
      ]);
    }) : [el('li', { class: 'muted', text: 'no worker holds a live lease' })]);
    var body = document.getElementById('rows');
    body.replaceChildren.apply(body, snap.shards.map(row));
    document.getElementById('more').hidden = !snap.truncated;
  }
  var status = document.getElementById('status');
  function poll() {
    fetch('/dashboard.json', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (snap) { render(snap); status.textContent = 'live'; status.className = ''; })
      .catch(function () { status.textContent = 'server unreachable, retrying'; status.className = 'down'; })
      .then(function () { setTimeout(poll, 1000); });
  }
  render(JSON.parse(document.getElementById('snapshot').textContent));
  setTimeout(poll, 1000);
})();
`;

/** The page: the first snapshot inline (rendered at once), then live updates from `/dashboard.json`. */
export function renderDashboardPage(snapshot: DashboardSnapshot): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>shardlease · ${escapeHtml(snapshot.table)}</title>
<style>${STYLE}</style></head><body>
<h1>shardlease <small>local</small></h1>
<p class="meta">Table <code>${escapeHtml(snapshot.table)}</code> · <span id="shard-count"></span> shards ·
<span id="worker-count"></span> workers · lease ${snapshot.leaseDurationMs} ms · <span id="now"></span> ·
<span id="status">live</span></p>
<div class="chips" id="counts"></div>
<h2>Workers</h2>
<ul id="workers"></ul>
<h2>Shards</h2>
<div class="scroll"><table><thead><tr><th>shard</th><th>state</th><th>owner</th><th>lease</th>
<th title="lease counter">#</th><th>checkpoint</th><th title="time since the last checkpoint">age</th><th title="pending steal claim by">claim</th></tr></thead>
<tbody id="rows"></tbody></table></div>
<p id="more" hidden>Showing the first ${MAX_ROWS} shards.</p>
<noscript>This page renders with JavaScript; the data is at <a href="/dashboard.json">/dashboard.json</a>.</noscript>
<script type="application/json" id="snapshot">${scriptJson(snapshot)}</script>
<script>${SCRIPT}</script>
</body></html>`;
}
