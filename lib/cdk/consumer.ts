/**
 * `ShardLeaseConsumer`: a Lambda-based Kinesis consumer on a `ShardLease` service. The user's function
 * (an entry bundled here, or an existing function) runs as N concurrent invocations per period on an
 * EventBridge schedule, each told its slot (`{ "slot": i, "slots": N }`), with read access to the one
 * stream, the consumer grant on the lease API, and alarms on iterator age and on failed invocations.
 * The function's handler is `createShardConsumerHandler` (package root).
 */
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  type IMetric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IStream } from 'aws-cdk-lib/aws-kinesis';
import { Architecture, type IFunction, Function as LambdaFn, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { assertEsbuildAvailable } from './esbuild';
import { notifyAlarms } from './monitoring';
import { acknowledgePinnedRuntime } from './nag';
import { ShardLease } from './shardlease';

/**
 * The environment the construct gives the function it creates (and an existing `Function`).
 * `LEASE_DURATION_MS` only when the deprecated `leaseDuration` prop is given.
 */
export const CONSUMER_ENVIRONMENT = {
  apiUrl: 'SHARDLEASE_URL',
  streamName: 'STREAM_NAME',
  leaseDurationMs: 'LEASE_DURATION_MS',
} as const;

/** EventBridge allows 5 targets per rule: slots are spread over as many rules as needed. */
const TARGETS_PER_RULE = 5;
const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);

export interface ShardLeaseConsumerAlarmProps {
  /** @default true */
  readonly enabled?: boolean;
  /** Notified when an alarm goes off and when it clears. @default none */
  readonly topic?: ITopic;
  /** Further actions when an alarm goes off. @default none */
  readonly actions?: readonly IAlarmAction[];
  /**
   * Alarm when the stream's GetRecords iterator age (maximum, per minute) stays above this for 3
   * minutes; also when no GetRecords is seen for 3 minutes (the consumer is not reading).
   * @default 5 minutes
   */
  readonly iteratorAge?: Duration;
}

export interface ShardLeaseConsumerProps {
  /** The lease service the consumer takes its leases from. */
  readonly shardLease: ShardLease;
  /** The stream to read. @default the ShardLease's stream (required when it has none) */
  readonly stream?: IStream;
  /** The consumer's handler source, bundled by the local esbuild. Exactly one of `entry` and `function`. */
  readonly entry?: string;
  /** The exported handler's name in `entry`. @default 'handler' */
  readonly handler?: string;
  /**
   * An existing consumer function instead of `entry`. Its asynchronous retries must be off
   * (`retryAttempts: 0`) and its timeout below `period`, so that two invocations of one slot never
   * overlap; the construct sets the environment only when it is a `Function` of this app.
   */
  readonly function?: IFunction;
  /** Concurrent invocations per period, one slot each (1 to 100). @default 2 */
  readonly concurrency?: number;
  /** How often the invocations start, in whole minutes. @default 1 minute */
  readonly period?: Duration;
  /** The function's timeout (with `entry`); must be below `period`. @default period − 5 s, at most 15 min */
  readonly timeout?: Duration;
  /**
   * Not needed: workers read the lease terms from the service (`GET /terms`, and every heartbeat
   * answer). When given, it must equal the ShardLease's lease duration, and the function gets it as
   * `LEASE_DURATION_MS`, for handlers that still read it.
   * @default - no `LEASE_DURATION_MS` in the function's environment
   * @deprecated the service states its lease terms; leave this out.
   */
  readonly leaseDuration?: Duration;
  /** With `entry`. @default 512 */
  readonly memorySize?: number;
  /** Extra environment for the function created from `entry`. @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default alarms on, no actions */
  readonly alarms?: ShardLeaseConsumerAlarmProps;
}

/**
 * The deprecated `leaseDuration` prop, which must be the service's: a consumer that assumed another
 * lease would renew too late or stop too early. Unresolved tokens are left to the deployment.
 */
function checkedLeaseDuration(given: Duration, service: Duration): Duration {
  if (given.isUnresolved() || service.isUnresolved()) return given;
  if (given.toMilliseconds() !== service.toMilliseconds()) {
    throw new Error(
      `leaseDuration (${given.toHumanString()}) must equal the ShardLease's lease duration ` +
        `(${service.toHumanString()}); better, leave it out: the consumer reads the lease terms from the service`,
    );
  }
  return given;
}

export class ShardLeaseConsumer extends Construct {
  /** The consumer function (created from `entry`, or the one passed in). */
  readonly function: IFunction;
  readonly stream: IStream;
  /** The schedule's rules, each invoking up to 5 slots. */
  readonly rules: readonly Rule[];
  readonly concurrency: number;
  /** Every alarm (none when `alarms.enabled` is false). */
  readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: ShardLeaseConsumerProps) {
    super(scope, id);
    if (!ShardLease.isShardLease(props.shardLease))
      throw new Error('shardLease must be a ShardLease construct');
    const stream = props.stream ?? props.shardLease.stream;
    if (!stream) {
      throw new Error('ShardLeaseConsumer needs a stream: the ShardLease has none, so pass `stream`');
    }
    this.stream = stream;
    if ((props.entry === undefined) === (props.function === undefined)) {
      throw new Error('ShardLeaseConsumer needs exactly one of `entry` and `function`');
    }
    const concurrency = props.concurrency ?? 2;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 100) {
      throw new Error(`concurrency must be an integer from 1 to 100, got ${concurrency}`);
    }
    this.concurrency = concurrency;
    const period = props.period ?? Duration.minutes(1);
    if (
      !Token.isUnresolved(period.toSeconds()) &&
      (period.toSeconds() < 60 || period.toSeconds() % 60 !== 0)
    ) {
      throw new Error(`period must be whole minutes (at least 1), got ${period.toHumanString()}`);
    }
    const timeout =
      props.timeout ?? Duration.seconds(Math.min(MAX_LAMBDA_TIMEOUT.toSeconds(), period.toSeconds() - 5));
    if (timeout.toSeconds() >= period.toSeconds()) {
      throw new Error(
        `timeout (${timeout.toHumanString()}) must be below period (${period.toHumanString()}): ` +
          'two invocations of one slot must never overlap',
      );
    }
    const environment: Record<string, string> = {
      [CONSUMER_ENVIRONMENT.apiUrl]: props.shardLease.apiUrl,
      [CONSUMER_ENVIRONMENT.streamName]: stream.streamName,
    };
    if (props.leaseDuration !== undefined) {
      const leaseDuration = checkedLeaseDuration(props.leaseDuration, props.shardLease.leaseDuration);
      environment[CONSUMER_ENVIRONMENT.leaseDurationMs] = String(leaseDuration.toMilliseconds());
    }

    if (props.entry !== undefined) {
      this.function = this.createFunction(props, timeout, environment);
    } else {
      const fn = props.function as IFunction;
      if (fn instanceof LambdaFn) {
        for (const [name, value] of Object.entries(environment)) fn.addEnvironment(name, value);
      }
      this.function = fn;
    }

    stream.grantRead(this.function);
    props.shardLease.grantConsume(this.function);

    const rules: Rule[] = [];
    for (let first = 0; first < concurrency; first += TARGETS_PER_RULE) {
      const slots = Array.from(
        { length: Math.min(TARGETS_PER_RULE, concurrency - first) },
        (_, i) => first + i,
      );
      rules.push(
        new Rule(this, first === 0 ? 'Schedule' : `Schedule${first / TARGETS_PER_RULE + 1}`, {
          description: `shardlease consumer slots ${slots[0]}-${slots.at(-1)} of ${concurrency}`,
          schedule: Schedule.rate(period),
          targets: slots.map(
            (slot) =>
              new LambdaFunction(this.function, {
                event: RuleTargetInput.fromObject({ slot, slots: concurrency }),
                retryAttempts: 0,
              }),
          ),
        }),
      );
    }
    this.rules = rules;
    this.alarms = (props.alarms?.enabled ?? true) ? this.createAlarms(props.alarms ?? {}) : [];
  }

  /** The stream's GetRecords iterator age, maximum per minute (every consumer of the stream). */
  metricIteratorAge(): IMetric {
    return this.stream.metricGetRecordsIteratorAgeMilliseconds({
      statistic: 'Maximum',
      period: Duration.minutes(1),
    });
  }

  /** Failed invocations: the application threw on a batch (after the leases were released), a crash or a timeout. */
  metricErrors(): IMetric {
    return this.function.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) });
  }

  private createFunction(
    props: ShardLeaseConsumerProps,
    timeout: Duration,
    environment: Record<string, string>,
  ): NodejsFunction {
    assertEsbuildAvailable(this);
    const logGroup = new LogGroup(this, 'FunctionLogs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // An own role: the default one attaches AWSLambdaBasicExecutionRole (any log group).
    const role = new Role(this, 'FunctionRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'shardlease consumer',
    });
    logGroup.grantWrite(role);
    const fn = new NodejsFunction(this, 'Function', {
      entry: props.entry as string,
      handler: props.handler ?? 'handler',
      description: 'shardlease consumer',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout,
      // A retry would overlap the slot's next invocation: the schedule starts the next one anyway.
      retryAttempts: 0,
      role,
      logGroup,
      bundling: {
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node22',
        externalModules: ['@aws-sdk/*'],
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
      },
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment, ...environment },
    });
    acknowledgePinnedRuntime(fn);
    return fn;
  }

  private createAlarms(props: ShardLeaseConsumerAlarmProps): Alarm[] {
    const iteratorAge = props.iteratorAge ?? Duration.minutes(5);
    const alarms = [
      new Alarm(this, 'IteratorAge', {
        metric: this.metricIteratorAge(),
        alarmDescription:
          `The stream's records waited more than ${iteratorAge.toHumanString()} to be read for 3 minutes, ` +
          'or nothing read the stream for 3 minutes: the consumer is falling behind or not running.',
        threshold: iteratorAge.toMilliseconds(),
        evaluationPeriods: 3,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.BREACHING,
      }),
      new Alarm(this, 'Errors', {
        metric: this.metricErrors(),
        alarmDescription:
          'A consumer invocation failed: the application threw on a batch (the invocation released its ' +
          "leases and logged 'shard reading failed'), or the function crashed or timed out.",
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'Throttles', {
        metric: this.function.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) }),
        alarmDescription: 'A consumer invocation was throttled: its slot did not run this period.',
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
    notifyAlarms(alarms, props.topic, props.actions);
    return alarms;
  }
}
