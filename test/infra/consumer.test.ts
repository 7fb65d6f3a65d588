/**
 * ShardLeaseConsumer: the consumer function run as N slots on a schedule, with read access to the one
 * stream, the consumer grant on the lease API, and alarms; cdk-nag clean.
 */
import * as path from 'node:path';
import { App, Duration, Stack, Token } from 'aws-cdk-lib';
import { Stream } from 'aws-cdk-lib/aws-kinesis';
import { Code, Function as LambdaFn, Runtime } from 'aws-cdk-lib/aws-lambda';
import { build } from 'esbuild';
import { ShardLease, ShardLeaseConsumer } from '../../lib/cdk';
import { logicalId, roleRights, type Synthesized, synthesize } from './synth';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const ENTRY = path.join(__dirname, '..', '..', 'examples', 'lambda-consumer.ts');
const STREAM_ARN = 'arn:aws:kinesis:eu-west-1:123456789012:stream/orders';

class ConsumerStack extends Stack {
  readonly leases: ShardLease;
  readonly consumer: ShardLeaseConsumer;

  constructor(app: App) {
    super(app, 'Consumer', { env: ENV });
    const stream = Stream.fromStreamArn(this, 'Orders', STREAM_ARN);
    this.leases = new ShardLease(this, 'Leases', { stream, dashboard: false });
    this.consumer = new ShardLeaseConsumer(this, 'OrdersConsumer', {
      shardLease: this.leases,
      entry: ENTRY,
      concurrency: 7,
    });
  }
}

describe('ShardLeaseConsumer', () => {
  let synth: Synthesized<ConsumerStack>;
  beforeAll(() => {
    synth = synthesize((app) => new ConsumerStack(app), { bundle: false });
  });
  afterAll(() => synth?.dispose());

  const consumerFunction = () =>
    synth.template.findResources('AWS::Lambda::Function')[logicalId(synth.stack.consumer.function)]
      ?.Properties;

  it('creates the function with a timeout below the period, no retries, and the service settings', () => {
    const fn = consumerFunction();
    expect(fn?.Timeout).toBe(55);
    expect(fn?.Runtime).toBe('nodejs22.x');
    expect(fn?.Environment.Variables).toMatchObject({
      STREAM_NAME: 'orders',
      SHARDLEASE_URL: synth.stack.resolve(synth.stack.leases.apiUrl),
    });
    // The service states its lease terms: without the deprecated `leaseDuration`, no second copy of them.
    expect(fn?.Environment.Variables.LEASE_DURATION_MS).toBeUndefined();
    synth.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(synth.stack.consumer.function) },
      MaximumRetryAttempts: 0,
    });
  });

  it('invokes 7 slots every minute, 5 targets per rule, each told its slot', () => {
    const rules = synth.stack.consumer.rules.map(
      (rule) => synth.template.findResources('AWS::Events::Rule')[logicalId(rule)]?.Properties,
    );
    expect(rules).toHaveLength(2);
    const inputs = rules.flatMap((rule) =>
      ((rule?.Targets ?? []) as { Input: string; Arn: unknown }[]).map((t) => {
        expect(t.Arn).toEqual({ 'Fn::GetAtt': [logicalId(synth.stack.consumer.function), 'Arn'] });
        return JSON.parse(t.Input) as { slot: number; slots: number };
      }),
    );
    expect(inputs).toEqual(Array.from({ length: 7 }, (_, slot) => ({ slot, slots: 7 })));
    for (const rule of rules) expect(rule?.ScheduleExpression).toBe('rate(1 minute)');
  });

  it('may read the one stream and call the consumer routes of the lease API, nothing more', () => {
    const role = synth.stack.consumer.function.role;
    if (!role) throw new Error('no role');
    const rights = roleRights(synth.template, role);
    expect(rights.managedPolicyArns).toEqual([{ Ref: logicalId(synth.stack.leases.consumePolicy) }]);
    const kinesis = rights.statements.filter((s) => s.actions.some((a) => a.startsWith('kinesis:')));
    expect(kinesis.length).toBeGreaterThan(0);
    for (const statement of kinesis) expect(statement.resource).toBe(STREAM_ARN);
    const actions = rights.statements.flatMap((s) => s.actions);
    expect(actions).toEqual(expect.arrayContaining(['kinesis:GetRecords', 'kinesis:GetShardIterator']));
    expect(actions.filter((a) => a.startsWith('dynamodb:') || a.startsWith('kinesis:Put'))).toEqual([]);
  });

  it('alarms on iterator age, failed invocations and throttles', () => {
    const ids = synth.stack.consumer.alarms.map((alarm) => alarm.node.id);
    expect(ids).toEqual(['IteratorAge', 'Errors', 'Throttles']);
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'GetRecords.IteratorAgeMilliseconds',
      Namespace: 'AWS/Kinesis',
      Dimensions: [{ Name: 'StreamName', Value: 'orders' }],
      Threshold: 300_000,
      TreatMissingData: 'breaching',
    });
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(synth.stack.consumer.function) } }],
    });
  });

  it('adds no cdk-nag finding', () => {
    expect(synth.nag.violations).toEqual([]);
  });
});

describe('ShardLeaseConsumer props', () => {
  const build = (props: Partial<ConstructorParameters<typeof ShardLeaseConsumer>[2]>, withStream = true) => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S', { env: ENV });
    const stream = Stream.fromStreamArn(stack, 'Orders', STREAM_ARN);
    const leases = new ShardLease(
      stack,
      'Leases',
      withStream ? { stream, dashboard: false } : { dashboard: false },
    );
    return new ShardLeaseConsumer(stack, 'C', { shardLease: leases, ...props });
  };

  it('refuses a timeout that lets two invocations of a slot overlap', () => {
    expect(() => build({ entry: ENTRY, period: Duration.minutes(1), timeout: Duration.seconds(60) })).toThrow(
      /must be below period/,
    );
  });

  const buildWithLease = (serviceLease: Duration | undefined, consumerLease: Duration) => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S', { env: ENV });
    const stream = Stream.fromStreamArn(stack, 'Orders', STREAM_ARN);
    const leases = new ShardLease(stack, 'Leases', {
      stream,
      dashboard: false,
      ...(serviceLease && { leaseDuration: serviceLease }),
    });
    const fn = new LambdaFn(stack, 'Mine', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({})'),
      timeout: Duration.seconds(50),
    });
    new ShardLeaseConsumer(stack, 'C', { shardLease: leases, function: fn, leaseDuration: consumerLease });
    const { variables } = stack.resolve((fn.node.defaultChild as { environment?: unknown }).environment) as {
      variables: Record<string, unknown>;
    };
    return variables;
  };

  it('passes the deprecated leaseDuration on as LEASE_DURATION_MS when it equals the ShardLease’s', () => {
    expect(buildWithLease(undefined, Duration.seconds(10)).LEASE_DURATION_MS).toBe('10000');
    expect(buildWithLease(Duration.seconds(30), Duration.millis(30_000)).LEASE_DURATION_MS).toBe('30000');
  });

  it('refuses a leaseDuration other than the ShardLease’s, showing both', () => {
    expect(() => buildWithLease(Duration.seconds(30), Duration.seconds(10))).toThrow(
      "leaseDuration (10 seconds) must equal the ShardLease's lease duration (30 seconds)",
    );
    expect(() => buildWithLease(undefined, Duration.seconds(20))).toThrow(
      "leaseDuration (20 seconds) must equal the ShardLease's lease duration (10 seconds)",
    );
  });

  it('leaves a leaseDuration that is a token to the deployment', () => {
    const variables = buildWithLease(undefined, Duration.millis(Token.asNumber({ Ref: 'LeaseMs' })));
    expect(variables.LEASE_DURATION_MS).toEqual({ Ref: 'LeaseMs' });
  });

  it('exposes the ShardLease’s lease duration, the default one too', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S', { env: ENV });
    expect(new ShardLease(stack, 'A').leaseDuration.toMilliseconds()).toBe(10_000);
    expect(
      new ShardLease(stack, 'B', { leaseDuration: Duration.seconds(4) }).leaseDuration.toMilliseconds(),
    ).toBe(4_000);
  });

  it('needs exactly one of entry and function, and a stream', () => {
    expect(() => build({})).toThrow(/exactly one of `entry` and `function`/);
    expect(() => build({ entry: ENTRY }, false)).toThrow(/needs a stream/);
    expect(() => build({ entry: ENTRY, concurrency: 0 })).toThrow(/concurrency/);
    expect(() => build({ entry: ENTRY, period: Duration.seconds(90) })).toThrow(/whole minutes/);
  });

  it('takes an existing function, gives it the settings and the grants', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S', { env: ENV });
    const stream = Stream.fromStreamArn(stack, 'Orders', STREAM_ARN);
    const leases = new ShardLease(stack, 'Leases', { stream, dashboard: false });
    const fn = new LambdaFn(stack, 'Mine', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({})'),
      timeout: Duration.seconds(50),
    });
    const consumer = new ShardLeaseConsumer(stack, 'C', { shardLease: leases, function: fn, concurrency: 3 });
    expect(consumer.function).toBe(fn);
    const variables = stack.resolve((fn.node.defaultChild as { environment?: unknown }).environment) as {
      variables: Record<string, unknown>;
    };
    expect(variables.variables.STREAM_NAME).toBe('orders');
    expect(consumer.rules).toHaveLength(1);
  });
});

describe('the example consumer handler', () => {
  it('bundles as the construct bundles it, without aws-cdk-lib', async () => {
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      minify: true,
      external: ['@aws-sdk/*'],
      write: false,
      metafile: true,
      logLevel: 'silent',
      outdir: path.join(__dirname, '..', '..', 'cdk.out', 'consumer-bundle-test'),
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((file) => file.includes('aws-cdk-lib') || file.includes('constructs/'))).toEqual([]);
    const bytes = result.outputFiles.reduce((total, file) => total + file.contents.length, 0);
    console.log(`example lambda consumer bundle: ${(bytes / 1024).toFixed(1)} KB minified`);
  });
});
