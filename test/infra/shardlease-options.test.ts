/**
 * The construct embedded in someone else's stack with every prop changed, an existing table encrypted
 * with a customer-managed key and a stream; and the prop checks. Bundling is skipped here (the
 * default-props suite bundles for real), so this file stays fast.
 */
import { App, CfnParameter, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { Stream } from 'aws-cdk-lib/aws-kinesis';
import { Key } from 'aws-cdk-lib/aws-kms';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IConstruct } from 'constructs';
import { ShardLease, type ShardLeaseProps, ShardLeaseStack } from '../../lib/cdk';
import { ROUTES } from '../../lib/http/routes';
import { actionsOf, getAtt, logicalId, roleStatements, type Synthesized, synthesize } from './synth';

const TABLE_ARN = 'arn:aws:dynamodb:eu-west-1:123456789012:table/kcl-leases';
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0b3c2f6e-6a4f-4b8e-9f6d-1c2d3e4f5a6b';
const STREAM_ARN = 'arn:aws:kinesis:eu-west-1:123456789012:stream/orders';
/** The key is usable only through DynamoDB, in the table's region. */
const VIA_DYNAMODB = { StringEquals: { 'kms:ViaService': 'dynamodb.eu-west-1.amazonaws.com' } };

class ConsumerStack extends Stack {
  readonly shardLease: ShardLease;

  constructor(app: App) {
    super(app, 'Consumer', { env: { account: '123456789012', region: 'eu-west-1' } });
    this.shardLease = new ShardLease(this, 'Leases', {
      table: Table.fromTableAttributes(this, 'GoTable', {
        tableArn: TABLE_ARN,
        encryptionKey: Key.fromKeyArn(this, 'TableKey', KEY_ARN),
      }),
      stream: Stream.fromStreamArn(this, 'Orders', STREAM_ARN),
      leaseDuration: Duration.seconds(30),
      claimTimeout: Duration.minutes(5),
      reaperSchedule: Schedule.rate(Duration.minutes(5)),
      reaperGrace: Duration.minutes(1),
      reaperDeletesEndedRows: false,
      removalPolicy: RemovalPolicy.DESTROY,
      logRetention: RetentionDays.ONE_WEEK,
      memorySize: 512,
      reservedConcurrentExecutions: 20,
      throttle: { rateLimit: 50, burstLimit: 100 },
      logLevel: 'DEBUG',
      serviceName: 'orders-leases',
    });
  }
}

let consumer: Synthesized<ConsumerStack>;
beforeAll(() => {
  consumer = synthesize((app) => new ConsumerStack(app), { bundle: false });
});
afterAll(() => consumer?.dispose());

const leases = () => consumer.stack.shardLease;
const template = (): Template => consumer.template;
const fnResource = (fn: IConstruct) =>
  template().findResources('AWS::Lambda::Function')[logicalId(fn)]?.Properties;

describe('with an existing table', () => {
  it('creates no table and points every function that uses one at the given table', () => {
    template().resourceCountIs('AWS::DynamoDB::Table', 0);
    for (const fn of [...Object.values(leases().functions), leases().reaper]) {
      expect(fnResource(fn).Environment.Variables.TABLE_NAME).toBe('kcl-leases');
    }
  });

  it('grants every operation function its DynamoDB actions on that table, and the key they need', () => {
    for (const route of ROUTES) {
      const statements = roleStatements(template(), leases().functions[route.name]).filter(
        (s) => !s.actions.some((a) => a.startsWith('logs:')),
      );
      const writes = route.dynamoActions.some(
        (a) => a === 'dynamodb:UpdateItem' || a === 'dynamodb:DeleteItem',
      );
      const keyActions =
        route.name === 'init'
          ? []
          : ['kms:Decrypt', 'kms:DescribeKey', ...(writes ? ['kms:Encrypt', 'kms:GenerateDataKey'] : [])];
      // An operation that reads nothing from the table (DescribeTerms) gets no statement at all.
      expect([route.name, statements]).toEqual([
        route.name,
        route.dynamoActions.length === 0
          ? []
          : [
              { actions: [...route.dynamoActions], resource: TABLE_ARN },
              ...(keyActions.length > 0
                ? [{ actions: keyActions, resource: KEY_ARN, condition: VIA_DYNAMODB }]
                : []),
            ],
      ]);
    }
  });

  it('gives Init, which only describes the table, no key at all', () => {
    const actions = actionsOf(roleStatements(template(), leases().functions.init));
    expect(actions.filter((a) => a.startsWith('kms:'))).toEqual([]);
  });

  it('gives DescribeTerms, which reads nothing from the table, neither the table nor its key', () => {
    const actions = actionsOf(roleStatements(template(), leases().functions.describeTerms));
    expect(actions.filter((a) => !a.startsWith('logs:'))).toEqual([]);
  });
});

describe('with a stream', () => {
  it('tells the reaper the stream’s name', () => {
    expect(fnResource(leases().reaper).Environment.Variables.STREAM_NAME).toBe('orders');
    expect(leases().stream?.streamName).toBe('orders');
  });

  it('keeps ended rows until the stream drops the shard when told to (a table shared with Go workers)', () => {
    expect(fnResource(leases().reaper).Environment.Variables.REAPER_DELETE_ENDED_ROWS).toBe('false');
  });

  it('lets the reaper list the shards of exactly that stream, and no other function touch Kinesis', () => {
    const statements = roleStatements(template(), leases().reaper);
    expect(statements.filter((s) => s.actions.some((a) => a.startsWith('kinesis:')))).toEqual([
      { actions: ['kinesis:ListShards'], resource: STREAM_ARN },
    ]);
    expect(actionsOf(statements)).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
      'kinesis:ListShards',
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:Encrypt',
      'kms:GenerateDataKey',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    for (const fn of leases()
      .allFunctions()
      .filter((f) => f !== leases().reaper)) {
      expect(actionsOf(roleStatements(template(), fn)).filter((a) => a.startsWith('kinesis:'))).toEqual([]);
    }
  });
});

describe('with every setting changed', () => {
  it('gives every function the memory and Powertools settings', () => {
    for (const fn of leases().allFunctions()) {
      expect(fnResource(fn)).toMatchObject({
        MemorySize: 512,
        Environment: {
          Variables: { POWERTOOLS_SERVICE_NAME: 'orders-leases', POWERTOOLS_LOG_LEVEL: 'DEBUG' },
        },
      });
    }
  });

  it('gives the operations and the reaper the lease settings, in milliseconds', () => {
    for (const fn of [...Object.values(leases().functions), leases().reaper]) {
      expect(fnResource(fn).Environment.Variables).toMatchObject({
        LEASE_DURATION_MS: '30000',
        CLAIM_TIMEOUT_MS: '300000',
        REAPER_GRACE_MS: '60000',
      });
    }
  });

  it('reserves concurrency for each API function but not for the reaper', () => {
    for (const fn of [...Object.values(leases().functions), leases().notFoundFunction]) {
      expect(fnResource(fn).ReservedConcurrentExecutions).toBe(20);
    }
    expect(fnResource(leases().reaper).ReservedConcurrentExecutions).toBeUndefined();
  });

  it('runs the reaper on the given schedule', () => {
    template().hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: getAtt(leases().reaper) })],
    });
  });

  it('throttles the stage as asked', () => {
    template().hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });

  it('keeps logs a week and deletes them with the stack, as asked', () => {
    const groups = Object.values(template().findResources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(leases().allFunctions().length + 1);
    for (const group of groups) {
      expect(group.Properties.RetentionInDays).toBe(7);
      expect(group.DeletionPolicy).toBe('Delete');
    }
  });

  it('watches the reaper over its own period and the service by its name and table', () => {
    template().hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'PassesCompleted',
      Period: 300,
      Dimensions: [
        { Name: 'TableName', Value: 'kcl-leases' },
        { Name: 'service', Value: 'orders-leases' },
      ],
    });
  });

  it('alarms on an API p99 above a fifth of the 30 s lease', () => {
    template().hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Latency', Threshold: 6000 });
  });

  it('still passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
    expect(consumer.nag.violations).toEqual([]);
  });
});

describe('a new table with a name and DESTROY', () => {
  let named: Synthesized<ShardLeaseStack>;
  beforeAll(() => {
    named = synthesize(
      (app) =>
        new ShardLeaseStack(app, 'Named', {
          shardLease: { tableName: 'team-leases', removalPolicy: RemovalPolicy.DESTROY },
          streamNames: ['clicks'],
        }),
      { bundle: false },
    );
  });
  afterAll(() => named?.dispose());

  it('names the table, deletes it with the stack, and drops deletion protection so it can', () => {
    named.template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({ TableName: 'team-leases', DeletionProtectionEnabled: false }),
      DeletionPolicy: 'Delete',
    });
  });

  it('turns the stack’s stream name into a stream of the stack’s account and region', () => {
    const reaper = named.stack.shardLease.reaper;
    const kinesis = roleStatements(named.template, reaper).filter((s) =>
      s.actions.includes('kinesis:ListShards'),
    );
    expect(kinesis).toEqual([
      {
        actions: ['kinesis:ListShards'],
        resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':kinesis:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':stream/clicks',
            ],
          ],
        },
      },
    ]);
  });

  it('needs no customer-managed key for the table it creates (AWS-managed encryption)', () => {
    for (const fn of named.stack.shardLease.allFunctions()) {
      expect(actionsOf(roleStatements(named.template, fn)).filter((a) => a.startsWith('kms:'))).toEqual([]);
    }
  });
});

describe('prop checks', () => {
  // No bundling: these only construct (a successful one would otherwise run esbuild once per function).
  const unbundled = () => new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
  const build = (props: ShardLeaseProps) => () => new ShardLease(unbundled(), 'Leases', props);
  const imported = (stack: Stack) => Table.fromTableName(stack, 'T', 'kcl-leases');

  it.each<[string, ShardLeaseProps, string | RegExp]>([
    [
      'a lease shorter than 100 ms',
      { leaseDuration: Duration.millis(50) },
      'leaseDuration must be between 100 ms and 1 day, got 50 millis',
    ],
    [
      'a lease longer than a day',
      { leaseDuration: Duration.days(2) },
      'leaseDuration must be between 100 ms and 1 day, got 2 days',
    ],
    [
      'a claim timeout shorter than the lease',
      { leaseDuration: Duration.minutes(1), claimTimeout: Duration.seconds(30) },
      'claimTimeout (30 seconds) must be at least leaseDuration (1 minute)',
    ],
    [
      'a grace longer than a day',
      { reaperGrace: Duration.hours(25) },
      'reaperGrace must be between 0 ms and 1 day, got 1 day 1 hour',
    ],
    ['too little memory', { memorySize: 100 }, 'memorySize must be an integer in 128..10240, got 100'],
    ['fractional memory', { memorySize: 256.5 }, 'memorySize must be an integer in 128..10240, got 256.5'],
    [
      'zero reserved concurrency',
      { reservedConcurrentExecutions: 0 },
      /reservedConcurrentExecutions must be an integer in 1\.\.\d+, got 0/,
    ],
    [
      'a non-positive rate limit',
      { throttle: { rateLimit: 0 } },
      'throttle.rateLimit must be a positive number, got 0',
    ],
    [
      'a fractional burst limit',
      { throttle: { burstLimit: 1.5 } },
      /throttle\.burstLimit must be an integer in 0\.\.\d+, got 1\.5/,
    ],
    ['a too-short table name', { tableName: 'ab' }, 'tableName must be 3..255 of [a-zA-Z0-9_.-], got "ab"'],
    [
      'an unknown log level',
      { logLevel: 'TRACE' as 'INFO' },
      'logLevel must be one of DEBUG, INFO, WARN, ERROR, got "TRACE"',
    ],
    [
      'a service name with spaces',
      { serviceName: 'my service' },
      'serviceName must be 1..64 of [a-zA-Z0-9_.-], got "my service"',
    ],
    [
      'deletion protection with DESTROY',
      { removalPolicy: RemovalPolicy.DESTROY, deletionProtection: true },
      'deletionProtection (true) contradicts removalPolicy DESTROY',
    ],
    [
      'a list of streams, as earlier versions took',
      { streams: [] } as ShardLeaseProps,
      'streams is no longer supported: one ShardLease serves one stream',
    ],
    [
      'a cron schedule without the reaper period its alarm needs',
      { reaperSchedule: Schedule.cron({ minute: '0/5' }) },
      'alarms.reaperPeriod is required when reaperSchedule is not a rate (got "cron(0/5 * * * ? *)")',
    ],
    [
      'a reaper period longer than the stalled-reaper alarm can watch',
      { reaperSchedule: Schedule.rate(Duration.hours(12)) },
      'the reaper period must be whole minutes from 1 minute to 8 hours',
    ],
    [
      'a reaper period in seconds',
      { alarms: { reaperPeriod: Duration.seconds(90) } },
      'the reaper period must be whole minutes from 1 minute to 8 hours (CloudWatch evaluates at most a day, and the stalled-reaper alarm looks at 3 periods), got 1 minute 30 seconds',
    ],
    [
      'zero 5xx as the server error threshold',
      { alarms: { apiServerErrors: 0 } },
      /alarms\.apiServerErrors must be an integer in 1\.\.\d+, got 0/,
    ],
    [
      'a negative lease loss threshold',
      { alarms: { leaseLossesPerMinute: -1 } },
      /alarms\.leaseLossesPerMinute must be an integer in 0\.\.\d+, got -1/,
    ],
    [
      'a latency threshold API Gateway never reaches',
      { alarms: { apiLatencyP99: Duration.minutes(1) } },
      'alarms.apiLatencyP99 must be between 1 ms and 30 seconds, got 1 minute',
    ],
  ])('rejects %s, showing the value', (_, props, message) => {
    expect(build(props)).toThrow(message);
  });

  it('takes a cron schedule with its period, and any schedule when alarms are off', () => {
    expect(
      build({
        reaperSchedule: Schedule.cron({ minute: '0/5' }),
        alarms: { reaperPeriod: Duration.minutes(5) },
      }),
    ).not.toThrow();
    expect(
      build({ reaperSchedule: Schedule.cron({ minute: '0/5' }), alarms: { enabled: false } }),
    ).not.toThrow();
  });

  it('rejects a stream name Kinesis would refuse, in the stack', () => {
    expect(() => new ShardLeaseStack(new App(), 'S', { streamNames: ['ok', 'no/slash'] })).toThrow(
      'streamNames must be 1..128 of [a-zA-Z0-9_.-], got ["no/slash"]',
    );
  });

  it('rejects a table name given with an existing table', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => new ShardLease(stack, 'Leases', { table: imported(stack), tableName: 'other' })).toThrow(
      'tableName ("other") cannot be set with an existing table',
    );
  });

  it('lists every bad prop in one error', () => {
    expect(build({ memorySize: 1, logLevel: 'LOUD' as 'INFO', leaseDuration: Duration.millis(1) })).toThrow(
      /leaseDuration .*; logLevel .*; memorySize /,
    );
  });

  it('leaves values known only at deploy time to CloudFormation', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    const memory = new CfnParameter(stack, 'Memory', { type: 'Number' });
    const lease = new CfnParameter(stack, 'LeaseMs', { type: 'Number' });
    const construct = new ShardLease(stack, 'Leases', {
      memorySize: memory.valueAsNumber,
      leaseDuration: Duration.millis(lease.valueAsNumber),
      claimTimeout: Duration.millis(lease.valueAsNumber),
    });
    const fn = stack.resolve((construct.reaper.node.defaultChild as { memorySize?: unknown }).memorySize);
    expect(fn).toEqual({ Ref: 'Memory' });
  });
});
