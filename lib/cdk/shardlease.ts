/**
 * The whole service as one construct: the lease table, one function per route of ROUTES, the HTTP API
 * with IAM authorisation, the scheduled reaper, alarms and a dashboard. One construct serves one
 * Kinesis stream, since shard ids repeat across streams: teams embed it in their own stack once per
 * stream; the ShardLeaseStack is a thin wrapper for deploying it alone.
 */
import { Duration, Stack, Token } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, type HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  LogQueryVisualizationType,
  LogQueryWidget,
  type MathExpression,
  type MathExpressionOptions,
  Metric,
  type MetricOptions,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import {
  AttributeType,
  BillingMode,
  type ITable,
  Operation,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import {
  type Grant,
  type IGrantable,
  ManagedPolicy,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import type { IStream } from 'aws-cdk-lib/aws-kinesis';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { REAPER_METRICS } from '../core/reaper-config';
import { ROUTES, type Route } from '../http/routes';
import { grantRoutes, grantTable, routeArn, routesFor, type ShardLeaseAudience } from './access';
import { assertEsbuildAvailable } from './esbuild';
import { lambdaEntry, packageLockFile } from './lambda-entry';
import {
  addSignalFilters,
  LEASE_LOSS_SIGNALS,
  LEASE_RENEWAL_SIGNALS,
  LOG_METRICS,
  notifyAlarms,
  REQUEST_LOG,
  type SignalSource,
  sumOfMetrics,
} from './monitoring';
import { acknowledgePinnedRuntime, acknowledgeRouteWildcards } from './nag';
import { type ResolvedShardLeaseProps, resolveProps, type ShardLeaseProps } from './props';

/** Everything DynamoCheckpointer calls on a table it does not create (library mode). */
export const DIRECT_ACCESS_ACTIONS: readonly string[] = [
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Scan',
];

/** The reaper scans the table, clears expired owners and stale claims, and deletes rows of gone shards. */
export const REAPER_DYNAMO_ACTIONS: readonly string[] = [
  'dynamodb:Scan',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
];

export const REAPER_KINESIS_ACTIONS: readonly string[] = ['kinesis:ListShards'];

/**
 * Under API Gateway's 30 s integration limit, and above the retry policy's worst case for one call
 * (10 tries, ~7 s of capped backoff), with room for RenewLeases's bounded parallel batches.
 */
const OPERATION_TIMEOUT = Duration.seconds(20);
/** Shorter than the default one-minute schedule, so runs do not pile up. */
const REAPER_TIMEOUT = Duration.seconds(50);

/** Faults are rare and each one matters: counted over 5 minutes, one is enough by default. */
const FAULT_PERIOD = Duration.minutes(5);
/** Latency and lease churn change by the minute. */
const MINUTE = Duration.minutes(1);

/** The managed policy of each audience; `InvokePolicy` predates the split and stays the consumers'. */
const POLICY_IDS: Readonly<Record<ShardLeaseAudience, string>> = {
  consume: 'InvokePolicy',
  read: 'ReadPolicy',
  admin: 'AdminPolicy',
};

const AUDIENCE_DESCRIPTIONS: Readonly<Record<ShardLeaseAudience, string>> = {
  consume: 'Calls the shardlease routes a consumer uses: its leases, checkpoints, renewals, claims and reads',
  read: 'Calls the read-only shardlease routes',
  admin:
    'Calls the shardlease admin routes: POST /init and DELETE /shards/{shardId} (forced deletes included)',
};

/** One line per request; `$context.requestId` is required by API Gateway, the rest is for debugging. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTimeEpoch',
  routeKey: '$context.routeKey',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integration.latency',
  integrationStatus: '$context.integration.status',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
  sourceIp: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
  userAgent: '$context.identity.userAgent',
};

interface FunctionSpec {
  readonly id: string;
  /** File name under lambda/, without extension. */
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly reservedConcurrentExecutions?: number;
  readonly environment?: Record<string, string>;
  /** Lambda's own retries of an asynchronous invocation. */
  readonly retryAttempts?: number;
}

/** Marks ShardLease instances for isShardLease. */
const SHARD_LEASE = Symbol.for('shardlease.ShardLease');

export class ShardLease extends Construct {
  /** True for a ShardLease of any copy of this package (instanceof fails across copies). */
  static isShardLease(x: unknown): x is ShardLease {
    return typeof x === 'object' && x !== null && SHARD_LEASE in x;
  }

  /** The lease table: the one created here, or the one passed in. */
  readonly table: ITable;
  /** The stream whose shards the table holds, when the construct was given one. */
  readonly stream?: IStream;
  /**
   * How long a take or renewal holds a shard (the `leaseDuration` prop, or its default): the lease
   * terms the service states to its workers (`GET /terms`, and every heartbeat answer).
   */
  readonly leaseDuration: Duration;
  readonly api: HttpApi;
  /** The stage every route is served on (`$default`), with throttling and access logs. */
  readonly stage: HttpStage;
  /** Base URL of the API, ending with `/`. */
  readonly apiUrl: string;
  /** One function per route, keyed by the route's operation name. */
  readonly functions: Readonly<Record<Route['name'], NodejsFunction>>;
  /** Behind the `$default` route: the contract's 404 / 405 for requests no route takes. */
  readonly notFoundFunction: NodejsFunction;
  readonly reaper: NodejsFunction;
  /**
   * execute-api:Invoke on the routes a consumer uses (every `consume` and `read` route). Construct id
   * `InvokePolicy`, as when it allowed the whole stage: roles attached to it keep working and lose the
   * admin routes.
   */
  readonly consumePolicy: ManagedPolicy;
  /** execute-api:Invoke on the read-only routes. */
  readonly readPolicy: ManagedPolicy;
  /** execute-api:Invoke on the admin routes: `POST /init` and `DELETE /shards/{shardId}`. */
  readonly adminPolicy: ManagedPolicy;
  /** Every alarm (none when `alarms.enabled` is false); each has the configured actions. */
  readonly alarms: readonly Alarm[];
  /** The service's dashboard, unless `dashboard` is false. */
  readonly dashboard?: Dashboard;

  private readonly settings: ResolvedShardLeaseProps;
  /** execute-api ARNs of each audience's routes on the stage. */
  private readonly audienceArns: Readonly<Record<ShardLeaseAudience, readonly string[]>>;
  /** Per-function metrics from the request lines, summed by metricLeaseLosses / metricLeasesRenewed. */
  private readonly lossMetrics: readonly Metric[];
  private readonly renewalMetrics: readonly Metric[];

  constructor(scope: Construct, id: string, props: ShardLeaseProps = {}) {
    super(scope, id);
    Object.defineProperty(this, SHARD_LEASE, { value: true });
    this.settings = resolveProps(props);
    assertEsbuildAvailable(this);
    this.table = this.settings.table ?? this.createTable();
    this.stream = this.settings.stream;
    this.leaseDuration = this.settings.leaseDuration;

    const functions: Partial<Record<Route['name'], NodejsFunction>> = {};
    for (const route of ROUTES) {
      const fn = this.createFunction({
        id: `${route.id}Function`,
        entry: route.entry,
        description: `${route.method} ${route.path}`,
        timeout: OPERATION_TIMEOUT,
        reservedConcurrentExecutions: this.settings.reservedConcurrentExecutions,
        environment: this.leaseEnvironment(),
      });
      grantTable(fn, this.table, route.dynamoActions);
      functions[route.name] = fn;
    }
    this.functions = functions as Record<Route['name'], NodejsFunction>;
    // No table rights and no lease settings: it only matches the request against ROUTES.
    this.notFoundFunction = this.createFunction({
      id: 'NotFoundFunction',
      entry: 'not-found',
      description: '$default (unmatched requests)',
      timeout: OPERATION_TIMEOUT,
      reservedConcurrentExecutions: this.settings.reservedConcurrentExecutions,
    });
    this.reaper = this.createReaper();

    ({ api: this.api, stage: this.stage } = this.createApi());
    this.apiUrl = this.stage.url;
    // One ARN per route rather than the whole stage: a consumer must not reach POST /init or
    // DELETE /shards/{shardId}. A caller outside its routes (an unknown path included) gets API
    // Gateway's 403 before routing, instead of the contract's 404 / 405.
    const arns = (audience: ShardLeaseAudience) =>
      routesFor(audience).map((route) => routeArn(this.api, this.stage.stageName, route));
    this.audienceArns = { consume: arns('consume'), read: arns('read'), admin: arns('admin') };
    this.consumePolicy = this.createPolicy('consume');
    this.readPolicy = this.createPolicy('read');
    this.adminPolicy = this.createPolicy('admin');

    const sources: SignalSource[] = ROUTES.map((route) => ({
      operation: route.name,
      functionName: this.functions[route.name].functionName,
      logGroup: this.functions[route.name].logGroup,
    }));
    this.lossMetrics = addSignalFilters(LOG_METRICS.leaseLosses, LEASE_LOSS_SIGNALS, sources);
    this.renewalMetrics = addSignalFilters(LOG_METRICS.leasesRenewed, LEASE_RENEWAL_SIGNALS, sources);

    this.alarms = this.settings.alarms.enabled ? this.createAlarms() : [];
    if (this.settings.dashboard) this.dashboard = this.createDashboard();
    for (const fn of this.allFunctions()) acknowledgePinnedRuntime(fn);
    this.node.addValidation({ validate: () => this.sharedTableProblems() });
  }

  /** Every function of the construct: the operations in ROUTES order, then `$default`, then the reaper. */
  allFunctions(): NodejsFunction[] {
    return [...ROUTES.map((r) => this.functions[r.name]), this.notFoundFunction, this.reaper];
  }

  /**
   * Lets the grantee call the routes a consumer uses: take, renew, release and claim leases,
   * checkpoint, and every read-only route. Not `POST /init` nor `DELETE /shards/{shardId}`. A role,
   * user or group gets the consume policy attached (no statement of its own, so no cdk-nag finding on
   * it); any other principal gets the same statement inline. The returned Grant carries no statement
   * when the policy was attached.
   */
  grantConsume(grantee: IGrantable): Grant {
    return grantRoutes(grantee, this.consumePolicy, this.audienceArns.consume);
  }

  /** Lets the grantee call the read-only routes (checkpoints, owners, workers, shards), as grantConsume does. */
  grantRead(grantee: IGrantable): Grant {
    return grantRoutes(grantee, this.readPolicy, this.audienceArns.read);
  }

  /**
   * Lets the grantee call the admin routes: `POST /init` and `DELETE /shards/{shardId}`, as
   * grantConsume does. IAM sees paths, not query strings, so the delete is admin as a whole: the
   * owner's own delete (`?workerId=`) as much as a forced one (`?force=true`). Combine with
   * grantConsume or grantRead for an operator who also lists, releases or claims.
   */
  grantAdmin(grantee: IGrantable): Grant {
    return grantRoutes(grantee, this.adminPolicy, this.audienceArns.admin);
  }

  /**
   * Lets the grantee use the table directly with DynamoCheckpointer, skipping the API; with the key
   * actions DynamoDB needs when a bring-your-own table has a customer-managed key.
   */
  grantDirectAccess(grantee: IGrantable): Grant {
    return grantTable(grantee, this.table, DIRECT_ACCESS_ACTIONS);
  }

  /** API 5xx responses: faults the handlers answered with a 500 (Sum over 5 minutes by default). */
  metricApiServerErrors(props?: MetricOptions): Metric {
    return this.api.metricServerError({ period: FAULT_PERIOD, ...props });
  }

  /** API 4xx responses: refused input, conflicts, throttling, and IAM's 403 (Sum over 5 minutes). */
  metricApiClientErrors(props?: MetricOptions): Metric {
    return this.api.metricClientError({ period: FAULT_PERIOD, ...props });
  }

  /** API requests (Sum over 5 minutes by default). */
  metricApiRequests(props?: MetricOptions): Metric {
    return this.api.metricCount({ statistic: 'Sum', period: FAULT_PERIOD, ...props });
  }

  /** API latency, request to response (p99 over 1 minute by default). */
  metricApiLatency(props?: MetricOptions): Metric {
    return this.api.metricLatency({ statistic: 'p99', period: MINUTE, ...props });
  }

  /**
   * A metric the reaper publishes (REAPER_METRICS), for this service's table (Sum over 5 minutes by
   * default).
   */
  metricReaper(metricName: string, props?: MetricOptions): Metric {
    return new Metric({
      namespace: REAPER_METRICS.namespace,
      metricName,
      dimensionsMap: {
        // Powertools Metrics adds the service name as `service` to every metric it publishes.
        service: this.settings.serviceName,
        [REAPER_METRICS.tableDimension]: this.table.tableName,
      },
      statistic: 'Sum',
      period: FAULT_PERIOD,
      ...props,
    });
  }

  /** Reaper invocations that finished a pass over the whole table. */
  metricReaperPassesCompleted(props?: MetricOptions): Metric {
    return this.metricReaper(REAPER_METRICS.passesCompleted, props);
  }

  /** Reaper invocations stopped by a fault (DynamoDB or Kinesis), which the function does not throw. */
  metricReaperPassFaults(props?: MetricOptions): Metric {
    return this.metricReaper(REAPER_METRICS.passFaults, props);
  }

  /** Expired leases whose owner the reaper cleared. */
  metricLeasesReclaimed(props?: MetricOptions): Metric {
    return this.metricReaper(REAPER_METRICS.leasesReclaimed, props);
  }

  /**
   * Leases lost by the workers that held them: checkpoints and releases refused with LeaseLost, and
   * the shards lost in batch renewals (Sum over 1 minute by default).
   */
  metricLeaseLosses(props?: MathExpressionOptions): MathExpression {
    return sumOfMetrics(this.lossMetrics, 'lost', 'Lease losses', MINUTE, props);
  }

  /** Leases renewed by batch renewals (Sum over 5 minutes by default). */
  metricLeasesRenewed(props?: MathExpressionOptions): MathExpression {
    return sumOfMetrics(this.renewalMetrics, 'renewed', 'Leases renewed', FAULT_PERIOD, props);
  }

  private createTable(): Table {
    return new Table(this, 'Table', {
      tableName: this.settings.tableName,
      partitionKey: { name: 'ShardID', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: this.settings.deletionProtection,
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: this.settings.removalPolicy,
    });
  }

  /** What lib/core/config.ts `loadConfig` reads. */
  private leaseEnvironment(): Record<string, string> {
    const s = this.settings;
    return {
      TABLE_NAME: this.table.tableName,
      LEASE_DURATION_MS: String(s.leaseDuration.toMilliseconds()),
      CLAIM_TIMEOUT_MS: String(s.claimTimeout.toMilliseconds()),
      REAPER_GRACE_MS: String(s.reaperGrace.toMilliseconds()),
    };
  }

  private createFunction(spec: FunctionSpec): NodejsFunction {
    const { id, description } = spec;
    const s = this.settings;
    const logGroup = new LogGroup(this, `${id}Logs`, {
      retention: s.logRetention,
      removalPolicy: s.removalPolicy,
    });
    // An own role instead of the default one: the default attaches AWSLambdaBasicExecutionRole, which
    // may write to any log group; this one may write to its own group only.
    const role = new Role(this, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `shardlease ${description}`,
    });
    logGroup.grantWrite(role);
    const depsLockFilePath = packageLockFile();
    return new NodejsFunction(this, id, {
      entry: lambdaEntry(spec.entry),
      handler: 'handler',
      description: `shardlease ${description}`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: s.memorySize,
      timeout: spec.timeout,
      reservedConcurrentExecutions: spec.reservedConcurrentExecutions,
      retryAttempts: spec.retryAttempts,
      role,
      logGroup,
      ...(depsLockFilePath ? { depsLockFilePath } : {}),
      bundling: {
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node22',
        // The Node.js 22 runtime ships SDK v3; bundling it would only add size and cold-start time.
        externalModules: ['@aws-sdk/*'],
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
      },
      environment: {
        POWERTOOLS_SERVICE_NAME: s.serviceName,
        POWERTOOLS_LOG_LEVEL: s.logLevel,
        POWERTOOLS_METRICS_NAMESPACE: 'ShardLease',
        NODE_OPTIONS: '--enable-source-maps',
        ...spec.environment,
      },
    });
  }

  private createReaper(): NodejsFunction {
    const stream = this.settings.stream;
    const environment = this.leaseEnvironment();
    if (stream) environment.STREAM_NAME = stream.streamName;
    environment.REAPER_DELETE_ENDED_ROWS = String(this.settings.reaperDeletesEndedRows);
    const reaper = this.createFunction({
      id: 'Reaper',
      entry: 'reaper',
      description: 'reaper',
      timeout: REAPER_TIMEOUT,
      environment,
      // The next scheduled run does the same work; a retry of a failed one would only overlap it.
      retryAttempts: 0,
    });
    grantTable(reaper, this.table, REAPER_DYNAMO_ACTIONS);
    if (stream) {
      reaper.addToRolePolicy(
        new PolicyStatement({ actions: [...REAPER_KINESIS_ACTIONS], resources: [stream.streamArn] }),
      );
    }
    new Rule(this, 'ReaperSchedule', {
      description: 'Runs the shardlease reaper',
      schedule: this.settings.reaperSchedule,
      // As for Lambda's own retries above: the next run is the retry.
      targets: [new LambdaFunction(reaper, { retryAttempts: 0 })],
    });
    return reaper;
  }

  private createApi(): { api: HttpApi; stage: HttpStage } {
    const s = this.settings;
    const api = new HttpApi(this, 'Api', {
      description: 'shardlease: Kinesis lease manager and checkpointer',
      defaultAuthorizer: new HttpIamAuthorizer(),
      // The `$default` route, under the same IAM authoriser as every other route.
      defaultIntegration: new HttpLambdaIntegration('NotFoundIntegration', this.notFoundFunction),
      // The default stage takes no throttling or access-log settings, so the stage is added below.
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: s.logRetention,
      removalPolicy: s.removalPolicy,
    });
    const stage = api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: s.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    for (const route of ROUTES) {
      api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${route.id}Integration`, this.functions[route.name]),
      });
    }
    return { api, stage };
  }

  private createPolicy(audience: ShardLeaseAudience): ManagedPolicy {
    const resources = [...this.audienceArns[audience]];
    const policy = new ManagedPolicy(this, POLICY_IDS[audience], {
      description: AUDIENCE_DESCRIPTIONS[audience],
      statements: [new PolicyStatement({ actions: ['execute-api:Invoke'], resources })],
    });
    acknowledgeRouteWildcards(policy, resources);
    return policy;
  }

  private createAlarms(): Alarm[] {
    const s = this.settings.alarms;
    const faultAlarm = (id: string, metric: IMetric, description: string) =>
      new Alarm(this, id, {
        metric,
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    const period = FAULT_PERIOD;
    const alarms: Alarm[] = [];
    for (const fn of this.allFunctions()) {
      const id = fn.node.id;
      alarms.push(
        faultAlarm(
          `${id}Errors`,
          fn.metricErrors({ period, statistic: 'Sum' }),
          `${id} failed (crash or timeout)`,
        ),
        faultAlarm(`${id}Throttles`, fn.metricThrottles({ period, statistic: 'Sum' }), `${id} was throttled`),
      );
    }
    const operations = [Operation.GET_ITEM, Operation.UPDATE_ITEM, Operation.DELETE_ITEM, Operation.SCAN];
    alarms.push(
      faultAlarm(
        'TableThrottles',
        this.table.metricThrottledRequestsForOperations({ operations, period, statistic: 'Sum' }),
        'DynamoDB throttled requests to the lease table',
      ),
      new Alarm(this, 'ApiServerErrors', {
        metric: this.metricApiServerErrors(),
        alarmDescription:
          'The API answered with 5xx: DynamoDB faults after every retry, or a failing function. The ' +
          "functions' logs have the error (level ERROR, message 'request failed') and the request id.",
        threshold: s.apiServerErrors,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'ApiLatency', {
        metric: this.metricApiLatency(),
        alarmDescription:
          `The API's p99 latency was above ${s.apiLatencyP99.toHumanString()} in 3 of 5 minutes: ` +
          'renewals that slow eat into the lease, and workers start losing leases they hold.',
        threshold: s.apiLatencyP99.toMilliseconds(),
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      faultAlarm(
        'ReaperFaults',
        this.metricReaperPassFaults(),
        "A reaper pass stopped on a fault (DynamoDB or Kinesis); the reaper's log line 'reaper pass' " +
          'at level ERROR has it. The next pass reads the table again.',
      ),
      new Alarm(this, 'ReaperStalled', {
        metric: this.metricReaperPassesCompleted({ period: s.reaperPeriod }),
        alarmDescription:
          'The reaper has not completed a pass over the table in 3 schedule periods (it fails, times ' +
          'out, or no longer runs): expired leases wait for their owners, and ended shards keep their rows.',
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        // No data is the failure this alarm is for: a reaper that does not run publishes nothing.
        treatMissingData: TreatMissingData.BREACHING,
      }),
      new Alarm(this, 'LeaseLosses', {
        metric: this.metricLeaseLosses(),
        alarmDescription:
          `Workers lost more than ${s.leaseLossesPerMinute} leases a minute for 3 minutes: renewals ` +
          'too slow or too late for the lease duration, paused workers, or workers taking shards from ' +
          'each other.',
        threshold: s.leaseLossesPerMinute,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    notifyAlarms(alarms, s.topic, s.actions);
    return alarms;
  }

  private createDashboard(): Dashboard {
    const dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const logGroupsOf = (operations: readonly string[]) =>
      ROUTES.filter((r) => operations.includes(r.name)).map(
        (r) => this.functions[r.name].logGroup.logGroupName,
      );
    const handled = `message = "${REQUEST_LOG.message}"`;
    const renewing = LEASE_RENEWAL_SIGNALS.map((s) => s.operation);
    dashboard.addWidgets(
      new LogQueryWidget({
        title: 'Leases held per worker (its latest batch renewal)',
        logGroupNames: logGroupsOf(renewing),
        view: LogQueryVisualizationType.TABLE,
        queryLines: [
          'fields workerId, leasesRenewed',
          `filter ${handled} and operation in ${JSON.stringify(renewing)}`,
          'stats latest(leasesRenewed) as leasesHeld by workerId',
          'sort leasesHeld desc',
        ],
        width: 12,
        height: 6,
      }),
      new LogQueryWidget({
        title: 'Shards each worker took, renewed one by one or checkpointed',
        logGroupNames: logGroupsOf(['getLease', 'checkpoint']),
        view: LogQueryVisualizationType.TABLE,
        queryLines: [
          'fields workerId, shardId',
          `filter ${handled} and outcome = "ok" and operation in ["getLease", "checkpoint"]`,
          'stats count_distinct(shardId) as shards by workerId',
          'sort shards desc',
        ],
        width: 12,
        height: 6,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Renewals and losses',
        left: [
          this.metricLeasesRenewed({ period: MINUTE }),
          this.functions.getLease.metricInvocations({ period: MINUTE, label: 'GetLease requests' }),
        ],
        right: [this.metricLeaseLosses()],
        width: 12,
      }),
      new GraphWidget({
        title: 'Reaper passes',
        left: [
          this.metricReaperPassesCompleted({ label: 'passes completed' }),
          this.metricReaperPassFaults({ label: 'passes stopped by a fault' }),
        ],
        right: [
          this.metricLeasesReclaimed({ label: 'leases reclaimed' }),
          this.metricReaper(REAPER_METRICS.claimsDropped, { label: 'claims dropped' }),
          this.metricReaper(REAPER_METRICS.rowsDeleted, { label: 'rows deleted' }),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'API requests and errors',
        left: [this.metricApiRequests({ label: 'requests' })],
        right: [this.metricApiClientErrors({ label: '4xx' }), this.metricApiServerErrors({ label: '5xx' })],
        width: 12,
      }),
      new GraphWidget({
        title: 'API latency',
        left: [
          this.metricApiLatency({ statistic: 'p50', label: 'p50' }),
          this.metricApiLatency({ label: 'p99' }),
          this.api.metricIntegrationLatency({
            statistic: 'p99',
            period: MINUTE,
            label: 'p99 in the function',
          }),
        ],
        ...(this.settings.alarms.enabled && {
          leftAnnotations: [
            { value: this.settings.alarms.apiLatencyP99.toMilliseconds(), label: 'alarm threshold' },
          ],
        }),
        width: 12,
      }),
    );
    if (this.alarms.length > 0) {
      dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms], width: 24 }));
    }
    return dashboard;
  }

  /**
   * Another ShardLease on this construct's table would share its rows: shard ids repeat across
   * streams, so two services on one table take each other's shards and overwrite each other's
   * checkpoints. Checked at synthesis, over the whole app.
   */
  private sharedTableProblems(): string[] {
    const mine = this.tableIdentity();
    return this.node.root.node
      .findAll()
      .filter((c): c is ShardLease => ShardLease.isShardLease(c) && c !== this)
      .filter((other) => other.table === this.table || (mine !== undefined && other.tableIdentity() === mine))
      .map(
        (other) =>
          `the lease table of ${this.node.path} is also the table of ${other.node.path}: one table ` +
          'serves one stream (shard ids repeat across streams); give each ShardLease its own table',
      );
  }

  /** What tells a passed-in table apart: its ARN, resolved in its stack when it is not a plain string. */
  private tableIdentity(): string | undefined {
    if (!this.settings.table) return undefined;
    const arn = this.table.tableArn;
    if (!Token.isUnresolved(arn)) return arn;
    const stack = Stack.of(this.table);
    return `${stack.node.path} ${JSON.stringify(stack.resolve(arn))}`;
  }
}
