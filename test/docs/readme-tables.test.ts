/**
 * The README's Grants and Alarms tables against the synthesized template: people write IAM policies
 * and alarm runbooks from those tables, so each route a grant's policy allows, and each alarm the
 * stack creates, is in the table, and nothing else is.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShardLeaseStack } from '../../lib/cdk';
import { routeKeyOf } from '../infra/routes';
import { managedPolicyStatements, type Synthesized, synthesize } from '../infra/synth';

const README = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

/** The rows of the Markdown table right under `heading`, as cells. */
function tableUnder(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no heading ${heading}`);
  const lines = markdown.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const backticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);

let synth: Synthesized<ShardLeaseStack>;
beforeAll(() => {
  synth = synthesize((app) => new ShardLeaseStack(app, 'ShardLease'), { bundle: false });
});
afterAll(() => synth?.dispose());
const leases = () => synth.stack.shardLease;

describe('the README’s Grants table', () => {
  const rows = () => tableUnder(README, '### Grants');
  /** `METHOD /path` as the table writes them, path parameters as IAM's `*`. */
  const routesOf = (grant: string): string[] => {
    const row = rows().find((r) => r[0] === `\`${grant}(grantee)\``);
    if (!row) throw new Error(`no ${grant} row in the Grants table`);
    const routes = backticked(row[2] ?? '')
      .filter((text) => /^[A-Z]+ \//.test(text))
      .map((route) => route.replace(/\{[^}]+\}/g, '*'));
    // "and every read route": the read grant's routes belong to the consumers too.
    return /every read route/.test(row[2] ?? '') ? [...routes, ...routesOf('grantRead')] : routes;
  };
  const allowed = (policy: Parameters<typeof managedPolicyStatements>[1]): string[] =>
    managedPolicyStatements(synth.template, policy).flatMap((statement) =>
      (statement.resource as unknown[]).map((arn) => routeKeyOf(arn, leases().api)),
    );

  it.each([
    ['grantConsume', () => leases().consumePolicy],
    ['grantRead', () => leases().readPolicy],
    ['grantAdmin', () => leases().adminPolicy],
  ] as const)('lists exactly the routes %s’s policy allows', (grant, policy) => {
    expect(new Set(routesOf(grant))).toEqual(new Set(allowed(policy())));
    expect(routesOf(grant).length).toBe(new Set(routesOf(grant)).size);
  });
});

describe('the README’s Alarms table', () => {
  const rows = () => tableUnder(README, '### Alarms and dashboard');

  it('names every alarm the stack creates, and no other, with the per-function count it has', () => {
    const functions = leases()
      .allFunctions()
      .map((fn) => fn.node.id);
    const named = rows().flatMap((row) => {
      const ids = backticked(row[0] ?? '');
      if (!ids.some((id) => id.startsWith('<Function>'))) return ids;
      // "per function (N each)": N is the number of functions.
      const each = /per function \((\d+) each\)/.exec(row[1] ?? '');
      expect(Number(each?.[1])).toBe(functions.length);
      return ids.flatMap((id) => functions.map((fn) => id.replace('<Function>', fn)));
    });
    const created = leases().alarms.map((alarm) => alarm.node.id);
    expect(new Set(named)).toEqual(new Set(created));
    expect(Object.keys(synth.template.findResources('AWS::CloudWatch::Alarm'))).toHaveLength(created.length);
  });
});
