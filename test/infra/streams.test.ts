/**
 * One stream per table: several streams are several ShardLease constructs in one stack, each with its
 * own table, API, reaper, alarms and dashboard; and every way of putting two streams on one table is
 * refused at synthesis.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Stream } from 'aws-cdk-lib/aws-kinesis';
import { ShardLease, ShardLeaseStack } from '../../lib/cdk';
import { logicalId, type Synthesized, synthesize } from './synth';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const unbundled = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });

class TwoStreams extends Stack {
  readonly orders: ShardLease;
  readonly payments: ShardLease;

  constructor(app: App) {
    super(app, 'TwoStreams', { env: ENV });
    const stream = (name: string) =>
      Stream.fromStreamArn(this, `${name}Stream`, `arn:aws:kinesis:eu-west-1:123456789012:stream/${name}`);
    this.orders = new ShardLease(this, 'Orders', { stream: stream('orders') });
    this.payments = new ShardLease(this, 'Payments', { stream: stream('payments') });
  }
}

describe('two ShardLease constructs in one stack', () => {
  let synth: Synthesized<TwoStreams>;
  beforeAll(() => {
    synth = synthesize((app) => new TwoStreams(app), { bundle: false });
  });
  afterAll(() => synth?.dispose());
  const both = () => [synth.stack.orders, synth.stack.payments];
  const fn = (construct: ShardLease) =>
    synth.template.findResources('AWS::Lambda::Function')[logicalId(construct.reaper)]?.Properties;

  it('have a table, an API and a reaper each', () => {
    synth.template.resourceCountIs('AWS::DynamoDB::Table', 2);
    synth.template.resourceCountIs('AWS::ApiGatewayV2::Api', 2);
    synth.template.resourceCountIs('AWS::Events::Rule', 2);
    const [orders, payments] = both();
    expect(orders?.table).not.toBe(payments?.table);
  });

  it('tell each reaper its own stream and its own table', () => {
    expect(both().map((c) => fn(c)?.Environment.Variables.STREAM_NAME)).toEqual(['orders', 'payments']);
    expect(both().map((c) => fn(c)?.Environment.Variables.TABLE_NAME)).toEqual(
      both().map((c) => ({ Ref: logicalId(c.table) })),
    );
  });

  it('watch each reaper through its own table, so their metrics never add up', () => {
    const stack = synth.stack;
    const dimensions = both().map((c) => stack.resolve(c.metricReaperPassFaults().dimensions));
    expect(dimensions).toEqual(
      both().map((c) => ({ TableName: { Ref: logicalId(c.table) }, service: 'shardlease' })),
    );
    const alarms = Object.values(synth.template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(both().reduce((n, c) => n + c.alarms.length, 0));
    synth.template.resourceCountIs('AWS::CloudWatch::Dashboard', 2);
  });

  it('pass cdk-nag', () => {
    expect(synth.nag.violations).toEqual([]);
  });
});

describe('ShardLeaseStack with stream names', () => {
  let synth: Synthesized<ShardLeaseStack>;
  beforeAll(() => {
    synth = synthesize((app) => new ShardLeaseStack(app, 'Leases', { streamNames: ['orders', 'payments'] }), {
      bundle: false,
    });
  });
  afterAll(() => synth?.dispose());

  it('makes one ShardLease per name, ShardLease-<name>, each for its stream', () => {
    expect(synth.stack.shardLeases.map((c) => [c.node.id, c.stream?.streamName])).toEqual([
      ['ShardLease-orders', 'orders'],
      ['ShardLease-payments', 'payments'],
    ]);
    synth.template.resourceCountIs('AWS::DynamoDB::Table', 2);
  });

  it('outputs each one’s URL, table and policies, suffixed with the stream', () => {
    const outputs = Object.keys(synth.template.findOutputs('*')).sort();
    expect(outputs).toEqual(
      ['orders', 'payments']
        .flatMap((s) =>
          ['ApiUrl', 'TableName', 'ConsumePolicyArn', 'ReadPolicyArn', 'AdminPolicyArn'].map(
            (o) => `${o}${s}`,
          ),
        )
        .sort(),
    );
  });

  it('has no single shardLease to hand out', () => {
    expect(() => synth.stack.shardLease).toThrow('has 2 ShardLease constructs; use shardLeases');
  });

  it('keeps the construct id ShardLease when no stream is named', () => {
    const stack = new ShardLeaseStack(unbundled(), 'Plain');
    expect(stack.shardLease.node.id).toBe('ShardLease');
    expect(stack.shardLeases).toHaveLength(1);
  });
});

describe('one table, one stream', () => {
  const synthOf = (build: (stack: Stack) => void) => () => {
    const app = unbundled();
    build(new Stack(app, 'S', { env: ENV }));
    app.synth();
  };

  it('refuses two constructs on the same table object', () => {
    expect(
      synthOf((stack) => {
        const table = new Table(stack, 'Shared', { partitionKey: { name: 'ShardID', type: 'S' as never } });
        new ShardLease(stack, 'A', { table });
        new ShardLease(stack, 'B', { table });
      }),
    ).toThrow('the lease table of S/A is also the table of S/B: one table serves one stream');
  });

  it('refuses two constructs on the same imported table', () => {
    const arn = 'arn:aws:dynamodb:eu-west-1:123456789012:table/kcl-leases';
    expect(
      synthOf((stack) => {
        new ShardLease(stack, 'A', { table: Table.fromTableArn(stack, 'T1', arn) });
        new ShardLease(stack, 'B', { table: Table.fromTableArn(stack, 'T2', arn) });
      }),
    ).toThrow('one table serves one stream');
  });

  it('refuses the same table by name, imported twice', () => {
    expect(
      synthOf((stack) => {
        new ShardLease(stack, 'A', { table: Table.fromTableName(stack, 'T1', 'kcl-leases') });
        new ShardLease(stack, 'B', { table: Table.fromTableName(stack, 'T2', 'kcl-leases') });
      }),
    ).toThrow('one table serves one stream');
  });

  it('lets two constructs on different tables through', () => {
    expect(
      synthOf((stack) => {
        new ShardLease(stack, 'A', { table: Table.fromTableName(stack, 'T1', 'orders-leases') });
        new ShardLease(stack, 'B', { table: Table.fromTableName(stack, 'T2', 'payments-leases') });
      }),
    ).not.toThrow();
  });

  it.each<[string, ConstructorParameters<typeof ShardLeaseStack>[2], string]>([
    [
      'one table for several stream names',
      { streamNames: ['a', 'b'], shardLease: { table: undefined as never, tableName: 'leases' } },
      'shardLease.tableName ("leases") would name 2 tables the same',
    ],
    [
      'a stream name twice',
      { streamNames: ['orders', 'orders'] },
      'streamNames "orders" and "orders" name the same ids',
    ],
    [
      'names that differ only in punctuation',
      { streamNames: ['a-b', 'ab'] },
      '"a-b" and "ab" name the same ids',
    ],
  ])('refuses %s in the stack', (_, props, message) => {
    expect(() => new ShardLeaseStack(unbundled(), 'S', props)).toThrow(message);
  });

  it('refuses an existing table for several stream names in the stack', () => {
    const app = unbundled();
    const other = new Stack(app, 'Other');
    const table = Table.fromTableName(other, 'T', 'kcl-leases');
    expect(() => new ShardLeaseStack(app, 'S', { streamNames: ['a', 'b'], shardLease: { table } })).toThrow(
      'shardLease.table cannot serve 2 streams',
    );
  });

  it('refuses a stream both in the props and by name', () => {
    const app = unbundled();
    const other = new Stack(app, 'Other');
    const stream = Stream.fromStreamArn(other, 'S', 'arn:aws:kinesis:eu-west-1:123456789012:stream/x');
    expect(() => new ShardLeaseStack(app, 'S', { streamNames: ['a'], shardLease: { stream } })).toThrow(
      'give the stream either as shardLease.stream or in streamNames, not both',
    );
  });
});

describe('bin/app.ts', () => {
  it('makes one ShardLease per name of -c streamNames, in the one stack, and passes cdk-nag', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'shardlease-app-'));
    try {
      const root = path.resolve(__dirname, '../..');
      // The CDK CLI hands the app its context and output directory through these variables.
      execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'bin/app.ts')], {
        cwd: root,
        env: {
          ...process.env,
          CDK_OUTDIR: outdir,
          CDK_CONTEXT_JSON: JSON.stringify({
            streamNames: 'orders, payments',
            'aws:cdk:bundling-stacks': [],
          }),
        },
        stdio: 'pipe',
      });
      const template = Template.fromJSON(
        JSON.parse(readFileSync(path.join(outdir, 'ShardLease.template.json'), 'utf8')),
      );
      const reapers = Object.values(template.findResources('AWS::Lambda::Function')).filter(
        (f) => f.Properties.Environment?.Variables?.STREAM_NAME !== undefined,
      );
      expect(reapers.map((f) => f.Properties.Environment.Variables.STREAM_NAME).sort()).toEqual([
        'orders',
        'payments',
      ]);
      template.resourceCountIs('AWS::DynamoDB::Table', 2);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
