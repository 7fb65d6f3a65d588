/**
 * The construct embedded in someone else's stack with every prop changed, an existing table and two
 * streams; the grants; and the prop checks. Bundling is skipped here (the default-props suite bundles
 * for real), so this file stays fast.
 */
import { App, CfnParameter, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Stream } from 'aws-cdk-lib/aws-kinesis';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IConstruct } from 'constructs';
import { DIRECT_ACCESS_ACTIONS, ShardLease, type ShardLeaseProps, ShardLeaseStack } from '../../lib/cdk';
import { ROUTES } from '../../lib/http/routes';
import { actionsOf, getAtt, logicalId, roleStatements, type Synthesized, synthesize } from './synth';

const TABLE_ARN = 'arn:aws:dynamodb:eu-west-1:123456789012:table/kcl-leases';
const STREAM_ARNS = [
  'arn:aws:kinesis:eu-west-1:123456789012:stream/orders',
  'arn:aws:kinesis:eu-west-1:123456789012:stream/payments',
];

class ConsumerStack extends Stack {
  readonly shardLease: ShardLease;
  readonly caller: Role;
  readonly libraryUser: Role;

  constructor(app: App) {
    super(app, 'Consumer', { env: { account: '123456789012', region: 'eu-west-1' } });
    this.shardLease = new ShardLease(this, 'Leases', {
      table: Table.fromTableArn(this, 'GoTable', TABLE_ARN),
      streams: STREAM_ARNS.map((arn, i) => Stream.fromStreamArn(this, `Stream${i}`, arn)),
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
    const assumedBy = new ServicePrincipal('ecs-tasks.amazonaws.com');
    this.caller = new Role(this, 'Caller', { assumedBy });
    this.libraryUser = new Role(this, 'LibraryUser', { assumedBy });
    this.shardLease.grantInvoke(this.caller);
    this.shardLease.grantDirectAccess(this.libraryUser);
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

  it('grants every operation function its DynamoDB actions on that table', () => {
    for (const route of ROUTES) {
      const statements = roleStatements(template(), leases().functions[route.name]);
      const dynamo = statements.filter((s) => s.actions.some((a) => a.startsWith('dynamodb:')));
      expect(dynamo).toEqual([{ actions: [...route.dynamoActions], resource: TABLE_ARN }]);
    }
  });
});

describe('with streams', () => {
  it('tells the reaper every stream name, comma-separated', () => {
    expect(fnResource(leases().reaper).Environment.Variables.STREAM_NAME).toBe('orders,payments');
  });

  it('keeps ended rows until the stream drops the shard when told to (a table shared with Go workers)', () => {
    expect(fnResource(leases().reaper).Environment.Variables.REAPER_DELETE_ENDED_ROWS).toBe('false');
  });

  it('lets the reaper list the shards of exactly those streams, and no other function touch Kinesis', () => {
    const statements = roleStatements(template(), leases().reaper);
    expect(statements.filter((s) => s.actions.some((a) => a.startsWith('kinesis:')))).toEqual([
      { actions: ['kinesis:ListShards'], resource: STREAM_ARNS },
    ]);
    expect(actionsOf(statements)).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
      'kinesis:ListShards',
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

  it('still passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
    expect(consumer.nag.violations).toEqual([]);
  });
});

describe('grants', () => {
  it('grantInvoke allows execute-api:Invoke on this API’s stage, and nothing else', () => {
    expect(roleStatements(template(), consumer.stack.caller)).toEqual([
      {
        actions: ['execute-api:Invoke'],
        resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':execute-api:eu-west-1:123456789012:',
              { Ref: logicalId(leases().api) },
              '/$default/*',
            ],
          ],
        },
      },
    ]);
  });

  it('grantInvoke acknowledges for cdk-nag that one wildcard on the grantee, and only there', () => {
    const onCaller = consumer.nag.acknowledged.filter((f) =>
      f.constructPaths.some((p) => p.startsWith(consumer.stack.caller.node.path)),
    );
    expect(onCaller.map((f) => f.ruleName)).toEqual([
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:eu-west-1:123456789012:<${logicalId(leases().api)}>/$default/*]`,
    ]);
  });

  it('grantDirectAccess allows exactly what DynamoCheckpointer calls, on the table only', () => {
    expect(roleStatements(template(), consumer.stack.libraryUser)).toEqual([
      { actions: [...DIRECT_ACCESS_ACTIONS], resource: TABLE_ARN },
    ]);
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

  it('turns stack streamNames into streams of the stack’s account and region', () => {
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
});

describe('prop checks', () => {
  const build = (props: ShardLeaseProps) => () => new ShardLease(new Stack(new App(), 'S'), 'Leases', props);
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
  ])('rejects %s, showing the value', (_, props, message) => {
    expect(build(props)).toThrow(message);
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
