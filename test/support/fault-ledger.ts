/**
 * The ledger of writes that really happened: every UpdateItem, PutItem or DeleteItem that DynamoDB
 * (the test's dynalite) answered with success, recorded by the fault layer from the real answer,
 * before any fault replaced or altered that answer. It is the ground truth the fault tests compare
 * what callers were told with.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/** A row as the table holds it: S attributes as strings, N attributes as numbers. */
export type Row = Readonly<Record<string, string | number | undefined>>;

/** What a write did, read off the request's update expression (attribute names are the wire format). */
export type WriteKind = 'take' | 'renew' | 'checkpoint' | 'release' | 'claim' | 'put' | 'delete' | 'other';

export interface LedgerEntry {
  /** Order in which the answers reached the client (not necessarily the server's order of applying). */
  readonly seq: number;
  /** The actor whose client sent it (the fault plan's label). */
  readonly actor: string;
  /** The caller's operation, as the actor labelled it (getLease, renew, checkpoint, release, claim…). */
  readonly op: string;
  /** The actor's call the write belongs to, when the actor labelled it. */
  readonly callId: number | undefined;
  /** Seq of the request in the fault layer's trace. */
  readonly requestSeq: number;
  readonly command: string;
  readonly kind: WriteKind;
  /** Attributes the write SETs and REMOVEs. */
  readonly set: readonly string[];
  readonly remove: readonly string[];
  readonly shardId: string;
  /** Real time (Date.now()) the request left for the server, after any injected delay. */
  readonly sentAtMs: number;
  /** Real time its successful answer came back. The write was applied in [sentAtMs, answeredAtMs]. */
  readonly answeredAtMs: number;
  /** The item after the write (ReturnValues ALL_NEW), as a plain row; undefined for a delete or when not asked. */
  readonly row: Row | undefined;
}

export class WriteLedger {
  readonly entries: LedgerEntry[] = [];
  private nextSeq = 1;

  record(entry: Omit<LedgerEntry, 'seq'>): LedgerEntry {
    const recorded = { seq: this.nextSeq++, ...entry };
    this.entries.push(recorded);
    return recorded;
  }

  forShard(shardId: string): LedgerEntry[] {
    return this.entries.filter((e) => e.shardId === shardId);
  }
}

/** Splits `s` at top-level commas (not inside parentheses). */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** The attributes an UpdateExpression SETs and REMOVEs, placeholders resolved. */
export function updatedAttributes(
  expression: string | undefined,
  names: Readonly<Record<string, string>> = {},
): { set: string[]; remove: string[] } {
  const set: string[] = [];
  const remove: string[] = [];
  if (!expression) return { set, remove };
  const resolve = (token: string) => names[token] ?? token;
  // Clauses start with their keyword; values and names never spell a bare keyword.
  const clauses = expression.split(/\b(?=(?:SET|REMOVE|ADD|DELETE)\s)/i);
  for (const clause of clauses) {
    const m = /^\s*(SET|REMOVE|ADD|DELETE)\s+([\s\S]*)$/i.exec(clause);
    if (!m) continue;
    const keyword = (m[1] as string).toUpperCase();
    for (const action of splitTopLevel(m[2] as string)) {
      const target = resolve((action.split(/[\s=]/)[0] ?? '').trim());
      if (keyword === 'SET' || keyword === 'ADD') set.push(target);
      else if (keyword === 'REMOVE') remove.push(target);
    }
  }
  return { set, remove };
}

/** What a write command does to a lease row. */
export function classifyWrite(
  command: string,
  input: Readonly<Record<string, unknown>>,
): { kind: WriteKind; set: string[]; remove: string[] } {
  if (command === 'PutItem') return { kind: 'put', set: [], remove: [] };
  if (command === 'DeleteItem') return { kind: 'delete', set: [], remove: [] };
  const { set, remove } = updatedAttributes(
    input.UpdateExpression as string | undefined,
    (input.ExpressionAttributeNames as Record<string, string> | undefined) ?? {},
  );
  let kind: WriteKind = 'other';
  if (set.includes('CheckpointedAt')) kind = 'checkpoint';
  else if (set.includes('AssignedTo') && set.includes('LeaseTimeout')) kind = 'take';
  // A release removes the owner and writes the release instant as the timeout.
  else if (remove.includes('AssignedTo') && !set.includes('AssignedTo')) kind = 'release';
  // A renewal may leave the owner as it is (the condition pins it) and move only the timeout.
  else if (set.includes('LeaseTimeout')) kind = 'renew';
  else if (set.includes('ClaimRequest')) kind = 'claim';
  return { kind, set, remove };
}

/** The shard a request is about: its Key's ShardID, or a PutItem's item's. */
export function shardOfRequest(input: Readonly<Record<string, unknown>>): string | undefined {
  const key = (input.Key ?? input.Item) as Record<string, AttributeValue> | undefined;
  return key?.ShardID?.S;
}
