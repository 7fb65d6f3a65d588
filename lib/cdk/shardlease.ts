/**
 * The whole service as one construct: the lease table, one function per route of ROUTES, the HTTP API
 * with IAM authorisation, the scheduled reaper, and alarms. Teams embed it in their own stack; the
 * ShardLeaseStack is a thin wrapper for deploying it alone.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, type HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
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
  Grant,
  type IGrantable,
  ManagedPolicy,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTES, type Route } from '../http/routes';
import { lambdaEntry, packageLockFile } from './lambda-entry';
import { acknowledgePinnedRuntime, acknowledgeStageWildcard } from './nag';
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

export class ShardLease extends Construct {
  /** The lease table: the one created here, or the one passed in. */
  readonly table: ITable;
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
  /** Attach to a role or user that calls the API (execute-api:Invoke on every route of the stage). */
  readonly invokePolicy: ManagedPolicy;
  /** Alarms on function errors and throttles and on table throttling; add actions to them as needed. */
  readonly alarms: readonly Alarm[];

  private readonly settings: ResolvedShardLeaseProps;
  /** execute-api ARN of every route of the stage, `$default` included. */
  private readonly invokeArn: string;

  constructor(scope: Construct, id: string, props: ShardLeaseProps = {}) {
    super(scope, id);
    this.settings = resolveProps(props);
    this.table = this.settings.table ?? this.createTable();

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
      fn.addToRolePolicy(
        new PolicyStatement({ actions: [...route.dynamoActions], resources: [this.table.tableArn] }),
      );
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
    // One ARN for the whole stage rather than one per route: IAM is checked against the request's own
    // method and path before routing, so a caller must be allowed on unmatched paths too, or it gets
    // API Gateway's bare 403 instead of the contract's 404 / 405 from the `$default` route.
    this.invokeArn = Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.api.apiId,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      resourceName: `${this.stage.stageName}/*`,
    });
    this.invokePolicy = new ManagedPolicy(this, 'InvokePolicy', {
      description: 'Calls every route of the shardlease API',
      statements: [new PolicyStatement({ actions: ['execute-api:Invoke'], resources: [this.invokeArn] })],
    });
    this.alarms = this.createAlarms();
    for (const fn of this.allFunctions()) acknowledgePinnedRuntime(fn);
    acknowledgeStageWildcard(this.invokePolicy, this.invokeArn);
  }

  /** Every function of the construct: the operations in ROUTES order, then `$default`, then the reaper. */
  allFunctions(): NodejsFunction[] {
    return [...ROUTES.map((r) => this.functions[r.name]), this.notFoundFunction, this.reaper];
  }

  /**
   * Lets the grantee call every route of the API (IAM authorisation is the API's authentication). When
   * the grantee is a construct, the stage wildcard of this one ARN is acknowledged for cdk-nag on it,
   * and nothing else.
   */
  grantInvoke(grantee: IGrantable): Grant {
    const grant = Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [this.invokeArn],
    });
    if (Construct.isConstruct(grantee)) acknowledgeStageWildcard(grantee, this.invokeArn);
    return grant;
  }

  /** Lets the grantee use the table directly with DynamoCheckpointer, skipping the API. */
  grantDirectAccess(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: [...DIRECT_ACCESS_ACTIONS],
      resourceArns: [this.table.tableArn],
    });
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
    const streams = this.settings.streams;
    const environment = this.leaseEnvironment();
    if (streams.length > 0) environment.STREAM_NAME = streams.map((s) => s.streamName).join(',');
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
    reaper.addToRolePolicy(
      new PolicyStatement({ actions: [...REAPER_DYNAMO_ACTIONS], resources: [this.table.tableArn] }),
    );
    if (streams.length > 0) {
      reaper.addToRolePolicy(
        new PolicyStatement({
          actions: [...REAPER_KINESIS_ACTIONS],
          resources: streams.map((s) => s.streamArn),
        }),
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

  private createAlarms(): Alarm[] {
    const alarm = (id: string, metric: IMetric, description: string) =>
      new Alarm(this, id, {
        metric,
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    const period = Duration.minutes(5);
    const alarms: Alarm[] = [];
    for (const fn of this.allFunctions()) {
      const id = fn.node.id;
      alarms.push(
        alarm(
          `${id}Errors`,
          fn.metricErrors({ period, statistic: 'Sum' }),
          `${id} failed (crash or timeout)`,
        ),
        alarm(`${id}Throttles`, fn.metricThrottles({ period, statistic: 'Sum' }), `${id} was throttled`),
      );
    }
    const operations = [Operation.GET_ITEM, Operation.UPDATE_ITEM, Operation.DELETE_ITEM, Operation.SCAN];
    alarms.push(
      alarm(
        'TableThrottles',
        this.table.metricThrottledRequestsForOperations({ operations, period, statistic: 'Sum' }),
        'DynamoDB throttled requests to the lease table',
      ),
    );
    return alarms;
  }
}
