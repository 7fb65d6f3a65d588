/**
 * The stack `bin/app.ts` deploys, with the construct's defaults, synthesized once with real esbuild
 * bundling and cdk-nag's AwsSolutions pack.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Annotations, Capture, Match } from 'aws-cdk-lib/assertions';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { IConstruct } from 'constructs';
import { ShardLeaseStack } from '../../lib/cdk';
import { ROUTES } from '../../lib/http/routes';
import { ADMIN_ROUTE_KEYS, CONSUME_ROUTE_KEYS, READ_ROUTE_KEYS, routeKeyOf } from './routes';
import {
  actionsOf,
  dashboardWidgets,
  getAtt,
  logicalId,
  managedPolicyStatements,
  roleStatements,
  type Synthesized,
  synthesize,
} from './synth';

/**
 * The target is 60 KB. The reaper (~51 KB) and the `$default` function (~28 KB) meet it; the operation
 * functions (~72 KB: zod/mini ~22 KB, Powertools Logger and commons ~23 KB, lib/ ~26 KB, every
 * operation's code since the OPERATIONS table imports them all) do not yet, so they get a regression
 * guard instead. Bundling the AWS SDK by mistake adds ~520 KB, which either limit catches.
 */
const TARGET_BUNDLE_BYTES = 60 * 1024;
const OPERATION_BUNDLE_GUARD_BYTES = 96 * 1024;
const bundleBudget = (id: string): number =>
  id === 'Reaper' || id === 'NotFoundFunction' ? TARGET_BUNDLE_BYTES : OPERATION_BUNDLE_GUARD_BYTES;

let synth: Synthesized<ShardLeaseStack>;
beforeAll(() => {
  synth = synthesize((app) => new ShardLeaseStack(app, 'ShardLease'), { bundle: true });
});
afterAll(() => synth?.dispose());

const construct = () => synth.stack.shardLease;
const template = () => synth.template;
const tableArn = () => getAtt(construct().table);
const functionResource = (fn: NodejsFunction) =>
  template().findResources('AWS::Lambda::Function')[logicalId(fn)]?.Properties;

/** Construct id, function and lambda/ entry of every function, in the construct's order. */
const FUNCTIONS = [
  ...ROUTES.map((r) => ({ id: `${r.id}Function`, entry: r.entry })),
  { id: 'NotFoundFunction', entry: 'not-found' },
  { id: 'Reaper', entry: 'reaper' },
];
const allFunctions = (): [string, NodejsFunction][] =>
  construct()
    .allFunctions()
    .map((fn) => [fn.node.id, fn]);
/** The functions that read the lease settings: all but the `$default` one. */
const tableFunctions = () => allFunctions().filter(([id]) => id !== 'NotFoundFunction');

describe('the lease table', () => {
  it('is keyed by ShardID (S) alone, on demand, with point-in-time recovery, deletion protection and encryption', () => {
    template().resourceCountIs('AWS::DynamoDB::Table', 1);
    template().hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'ShardID', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'ShardID', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      SSESpecification: { SSEEnabled: true },
      TableName: Match.absent(),
    });
  });

  it('is retained when the stack is deleted or the table replaced', () => {
    template().hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('is the construct node `Table`', () => {
    expect(construct().node.findChild('Table')).toBe(construct().table);
  });
});

describe('the functions', () => {
  it('are one per route, one for $default and the reaper, under the construct ids of the contract', () => {
    template().resourceCountIs('AWS::Lambda::Function', FUNCTIONS.length);
    expect(allFunctions().map(([id]) => id)).toEqual(FUNCTIONS.map((f) => f.id));
    for (const [id, fn] of allFunctions()) expect(construct().node.findChild(id)).toBe(fn);
  });

  it('run Node.js 22 on arm64 with the Powertools settings, from their own role', () => {
    for (const [, fn] of allFunctions()) {
      template().hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: Match.absent(),
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 256,
        Role: getAtt(fn.role ?? fn),
        Environment: {
          Variables: Match.objectLike({
            POWERTOOLS_SERVICE_NAME: 'shardlease',
            POWERTOOLS_LOG_LEVEL: 'INFO',
            POWERTOOLS_METRICS_NAMESPACE: 'ShardLease',
            NODE_OPTIONS: '--enable-source-maps',
          }),
        },
      });
    }
  });

  it('give every function but $default the table name and the lease settings (DescribeTerms states them)', () => {
    for (const [, fn] of tableFunctions()) {
      expect(functionResource(fn)?.Environment.Variables).toMatchObject({
        TABLE_NAME: { Ref: logicalId(construct().table) },
        LEASE_DURATION_MS: '10000',
        CLAIM_TIMEOUT_MS: '120000',
        REAPER_GRACE_MS: '10000',
      });
    }
  });

  it('give the $default function no table name, as it never touches the table', () => {
    expect(functionResource(construct().notFoundFunction)?.Environment.Variables.TABLE_NAME).toBeUndefined();
  });

  it('give API functions 20 s (inside API Gateway 30 s) and the reaper 50 s (inside its one-minute period)', () => {
    for (const [id, fn] of allFunctions()) {
      expect([id, functionResource(fn)?.Timeout]).toEqual([id, id === 'Reaper' ? 50 : 20]);
      expect(functionResource(fn)?.ReservedConcurrentExecutions).toBeUndefined();
    }
  });

  it('tell the reaper no stream when none is configured', () => {
    expect(functionResource(construct().reaper)?.Environment.Variables.STREAM_NAME).toBeUndefined();
  });

  it('let the reaper delete ended rows once their children have rows, by default', () => {
    expect(functionResource(construct().reaper)?.Environment.Variables.REAPER_DELETE_ENDED_ROWS).toBe('true');
  });

  it('log to their own log group, kept one month and retained', () => {
    // One per function plus the API access logs.
    template().resourceCountIs('AWS::Logs::LogGroup', FUNCTIONS.length + 1);
    const groups = template().findResources('AWS::Logs::LogGroup');
    const used = allFunctions().map(([, fn]) => functionResource(fn)?.LoggingConfig.LogGroup.Ref as string);
    expect(new Set(used).size).toBe(FUNCTIONS.length);
    for (const ref of used) {
      expect(groups[ref]?.Properties).toEqual({ RetentionInDays: 30 });
      expect(groups[ref]?.DeletionPolicy).toBe('Retain');
    }
  });
});

describe('the IAM rights of each function', () => {
  const logWrite = ['logs:CreateLogStream', 'logs:PutLogEvents'];

  it.each(ROUTES.map((r) => [r.id, r] as const))(
    '%sFunction has exactly its route’s DynamoDB actions, on the table only',
    (_, route) => {
      const statements = roleStatements(template(), construct().functions[route.name]);
      expect(actionsOf(statements)).toEqual([...route.dynamoActions, ...logWrite].sort());
      for (const s of statements.filter((st) => st.actions.some((a) => a.startsWith('dynamodb:')))) {
        expect(s.resource).toEqual(tableArn());
      }
    },
  );

  it('DescribeTermsFunction has no DynamoDB permission at all: it reads the terms from its environment', () => {
    const statements = roleStatements(template(), construct().functions.describeTerms);
    expect(actionsOf(statements)).toEqual(logWrite);
    expect(statements.filter((s) => s.actions.some((a) => !a.startsWith('logs:')))).toEqual([]);
  });

  it('WithdrawClaimFunction may update a row and read it after a refused write, on the table only', () => {
    const statements = roleStatements(template(), construct().functions.withdrawClaim);
    expect(statements.filter((s) => s.actions.some((a) => a.startsWith('dynamodb:')))).toEqual([
      { actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'], resource: tableArn() },
    ]);
    expect(actionsOf(statements)).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem', ...logWrite].sort());
  });

  it('the $default function may only write its logs', () => {
    expect(actionsOf(roleStatements(template(), construct().notFoundFunction))).toEqual(logWrite);
  });

  it('the reaper may scan, update and delete rows, and nothing else (no Kinesis without streams)', () => {
    const statements = roleStatements(template(), construct().reaper);
    expect(actionsOf(statements)).toEqual(
      ['dynamodb:DeleteItem', 'dynamodb:Scan', 'dynamodb:UpdateItem', ...logWrite].sort(),
    );
  });

  it('no function behind a GET route holds a write action', () => {
    const writes = [
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
      'dynamodb:BatchWriteItem',
    ];
    for (const route of ROUTES.filter((r) => r.method === 'GET')) {
      const actions = actionsOf(roleStatements(template(), construct().functions[route.name]));
      expect(actions.filter((a) => writes.includes(a))).toEqual([]);
    }
  });

  it('only the reaper and the heartbeat (renewals, and the fleet snapshot) combine a scan with writes', () => {
    for (const [id, fn] of allFunctions()) {
      const actions = actionsOf(roleStatements(template(), fn));
      const scanAndWrite = actions.includes('dynamodb:Scan') && actions.includes('dynamodb:UpdateItem');
      expect([id, scanAndWrite]).toEqual([id, id === 'Reaper' || id === 'HeartbeatFunction']);
    }
  });

  it('each function writes logs only to its own log group', () => {
    for (const [, fn] of allFunctions()) {
      const group = functionResource(fn)?.LoggingConfig.LogGroup.Ref;
      const logStatements = roleStatements(template(), fn).filter((s) =>
        s.actions.some((a) => a.startsWith('logs:')),
      );
      expect(logStatements).toEqual([{ actions: logWrite, resource: { 'Fn::GetAtt': [group, 'Arn'] } }]);
    }
  });
});

describe('the HTTP API', () => {
  it('is the construct node `Api`, with one route per ROUTES entry plus $default', () => {
    expect(construct().node.findChild('Api')).toBe(construct().api);
    template().resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template().hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template().resourceCountIs('AWS::ApiGatewayV2::Route', ROUTES.length + 1);
  });

  const routeTarget = (routeKey: string): Record<string, unknown> | undefined => {
    const target = new Capture();
    template().hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: routeKey,
      AuthorizationType: 'AWS_IAM',
      Target: { 'Fn::Join': ['', ['integrations/', { Ref: target }]] },
    });
    return template().findResources('AWS::ApiGatewayV2::Integration')[target.asString()]?.Properties;
  };

  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s requires IAM authorisation and calls its own function',
    (routeKey, route) => {
      expect(routeTarget(routeKey)).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: getAtt(construct().functions[route.name]),
      });
    },
  );

  it('sends unmatched requests ($default) to the not-found function, under IAM authorisation too', () => {
    expect(routeTarget('$default')).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: getAtt(construct().notFoundFunction),
    });
  });

  it('has no route without IAM authorisation', () => {
    const routes = Object.values(template().findResources('AWS::ApiGatewayV2::Route'));
    expect(routes.filter((r) => r.Properties.AuthorizationType !== 'AWS_IAM')).toEqual([]);
  });

  it('serves the $default stage with throttling and JSON access logs', () => {
    const format = new Capture();
    const destination = new Capture();
    template().resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template().hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      AccessLogSettings: { Format: format, DestinationArn: { 'Fn::GetAtt': [destination, 'Arn'] } },
    });
    const fields = JSON.parse(format.asString()) as Record<string, string>;
    expect(fields).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
    });
    const group = template().findResources('AWS::Logs::LogGroup')[destination.asString()];
    expect(group?.Properties.RetentionInDays).toBe(30);
  });

  it('offers one managed policy per audience, each allowing execute-api:Invoke on its routes only', () => {
    template().resourceCountIs('AWS::IAM::ManagedPolicy', 3);
    const routeKeys = (policy: IConstruct) =>
      managedPolicyStatements(template(), policy).map((statement) => {
        expect(statement.actions).toEqual(['execute-api:Invoke']);
        return (statement.resource as unknown[]).map((arn) => routeKeyOf(arn, construct().api));
      });
    expect(routeKeys(construct().consumePolicy)).toEqual([CONSUME_ROUTE_KEYS]);
    expect(routeKeys(construct().readPolicy)).toEqual([READ_ROUTE_KEYS]);
    expect(routeKeys(construct().adminPolicy)).toEqual([ADMIN_ROUTE_KEYS]);
  });

  it('keeps the consumers’ policy under the construct id InvokePolicy, as before the split', () => {
    expect(construct().node.findChild('InvokePolicy')).toBe(construct().consumePolicy);
  });
});

describe('the reaper schedule', () => {
  it('runs the reaper every minute, without retries', () => {
    template().resourceCountIs('AWS::Events::Rule', 1);
    template().hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({ Arn: getAtt(construct().reaper), RetryPolicy: { MaximumRetryAttempts: 0 } }),
      ],
    });
    template().hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: getAtt(construct().reaper),
    });
  });

  it('turns off Lambda’s own retries of the reaper, so a failed run never overlaps the next', () => {
    template().resourceCountIs('AWS::Lambda::EventInvokeConfig', 1);
    template().hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(construct().reaper) },
      MaximumRetryAttempts: 0,
      Qualifier: '$LATEST',
    });
  });
});

describe('the alarms', () => {
  it.each(['Errors', 'Throttles'])('watch every function for %s', (metric) => {
    for (const [id, fn] of allFunctions()) {
      template().hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(fn) } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(construct().node.tryFindChild(`${id}${metric}`)).toBeDefined();
    }
  });

  it('watch the table for throttled requests of every operation the service uses', () => {
    const alarm =
      template().findResources('AWS::CloudWatch::Alarm')[
        logicalId(construct().node.findChild('TableThrottles'))
      ];
    expect(alarm?.Properties).toMatchObject({ Threshold: 1, EvaluationPeriods: 1 });
    type MetricQuery = {
      MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: unknown }[] } };
    };
    const throttled = ((alarm?.Properties.Metrics ?? []) as MetricQuery[])
      .filter((m) => m.MetricStat?.Metric.MetricName === 'ThrottledRequests')
      .map((m) => m.MetricStat?.Metric.Dimensions);
    const operations = throttled.map((d) => d?.find((x) => x.Name === 'Operation')?.Value).sort();
    expect(operations).toEqual(['DeleteItem', 'GetItem', 'Scan', 'UpdateItem']);
    for (const d of throttled) {
      expect(d).toContainEqual({ Name: 'TableName', Value: { Ref: logicalId(construct().table) } });
    }
  });

  it('also watch the API, the reaper and lease losses, and have no action unless given one', () => {
    for (const id of ['ApiServerErrors', 'ApiLatency', 'ReaperFaults', 'ReaperStalled', 'LeaseLosses']) {
      const alarm =
        template().findResources('AWS::CloudWatch::Alarm')[logicalId(construct().node.findChild(id))];
      expect([id, alarm?.Properties.AlarmActions, alarm?.Properties.OKActions]).toEqual([
        id,
        undefined,
        undefined,
      ]);
    }
  });

  it('are exposed on the construct: two per function, the table, the API twice, the reaper twice, losses', () => {
    const count = 2 * FUNCTIONS.length + 1 + 5;
    template().resourceCountIs('AWS::CloudWatch::Alarm', count);
    expect(construct().alarms).toHaveLength(count);
  });
});

describe('the dashboard', () => {
  it('is the construct node `Dashboard`, with a generated name', () => {
    template().resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    expect(construct().node.findChild('Dashboard')).toBe(construct().dashboard);
    template().hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: Match.absent() });
  });

  it('shows leases per worker, renewals and losses, reaper passes, API errors and latency, and the alarms', () => {
    const widgets = dashboardWidgets(template());
    expect(widgets.map((w) => w.properties.title)).toEqual([
      'Leases held per worker (its latest batch renewal)',
      'Shards each worker took, renewed one by one or checkpointed',
      'Renewals and losses',
      'Reaper passes',
      'API requests and errors',
      'API latency',
      'Alarms',
    ]);
    const metricNames = widgets.flatMap((w) =>
      (w.properties.metrics ?? []).map((m) => (typeof m[1] === 'string' ? m[1] : undefined)),
    );
    for (const name of [
      'LeaseLosses',
      'LeasesRenewed',
      'PassesCompleted',
      'PassFaults',
      '4xx',
      '5xx',
      'Latency',
    ]) {
      expect(metricNames).toContain(name);
    }
    expect(widgets[6]?.properties.alarms).toHaveLength(construct().alarms.length);
  });
});

describe('the stack outputs', () => {
  it('give the API URL, the table name and the three policies', () => {
    template().hasOutput('ApiUrl', {
      Value: { 'Fn::Join': ['', Match.arrayWith(['https://', { Ref: logicalId(construct().api) }])] },
    });
    template().hasOutput('TableName', { Value: { Ref: logicalId(construct().table) } });
    template().hasOutput('ConsumePolicyArn', { Value: { Ref: logicalId(construct().consumePolicy) } });
    template().hasOutput('ReadPolicyArn', { Value: { Ref: logicalId(construct().readPolicy) } });
    template().hasOutput('AdminPolicyArn', { Value: { Ref: logicalId(construct().adminPolicy) } });
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('runs alongside a synthesis with no CDK warning or error', () => {
    Annotations.fromStack(synth.stack).hasNoWarning('*', Match.anyValue());
    Annotations.fromStack(synth.stack).hasNoError('*', Match.anyValue());
  });

  it('reports no unacknowledged finding', () => {
    expect(synth.nag.violations).toEqual([]);
  });

  it('has acknowledged only the pinned runtime and the route wildcards, each with a reason', () => {
    const rules = synth.nag.acknowledged.map((f) => f.ruleName.replace(/\[.*$/, ''));
    expect([...new Set(rules)].sort()).toEqual(['AwsSolutions-IAM5', 'AwsSolutions-L1']);
    for (const finding of synth.nag.acknowledged) expect(finding.reason?.length).toBeGreaterThan(40);
  });

  it('acknowledges each path-parameter wildcard on the policies that hold it, and nowhere else', () => {
    const api = `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${logicalId(construct().api)}>/$default`;
    const onPolicy = (policy: IConstruct, routeKeys: readonly string[]) =>
      routeKeys
        .filter((key) => key.includes('*'))
        .map((key) => [
          `AwsSolutions-IAM5[Resource::${api}/${key.replace(' ', '')}]`,
          `${policy.node.path}/Resource`,
        ]);
    const expected = [
      ...onPolicy(construct().consumePolicy, CONSUME_ROUTE_KEYS),
      ...onPolicy(construct().readPolicy, READ_ROUTE_KEYS),
      ...onPolicy(construct().adminPolicy, ADMIN_ROUTE_KEYS),
    ];
    const wildcards = synth.nag.acknowledged
      .filter((f) => f.ruleName.startsWith('AwsSolutions-IAM5'))
      .flatMap((f) => f.constructPaths.map((p) => [f.ruleName, p]));
    expect(wildcards.sort()).toEqual(expected.sort());
  });

  it('acknowledges the Node.js 22 runtime on exactly the construct’s functions', () => {
    const runtime = synth.nag.acknowledged.filter((f) => f.ruleName === 'AwsSolutions-L1');
    expect(runtime.flatMap((f) => f.constructPaths).sort()).toEqual(
      allFunctions()
        .map(([, fn]) => `${fn.node.path}/Resource`)
        .sort(),
    );
  });
});

describe('the bundles', () => {
  const bundleDir = (fn: NodejsFunction): string => {
    const key = functionResource(fn)?.Code.S3Key as string;
    return path.join(synth.assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
  };

  it.each(FUNCTIONS.map((f) => [f.id, f.entry] as const))(
    '%s is built from lambda/%s.ts, minified, within the size budget, without the AWS SDK or the CDK',
    (id, entry) => {
      const dir = bundleDir(construct().node.findChild(id) as NodejsFunction);
      const code = readFileSync(path.join(dir, 'index.js'), 'utf8');
      expect(statSync(path.join(dir, 'index.js')).size).toBeLessThanOrEqual(bundleBudget(id));
      // Minified output is a handful of very long lines (plus the licence footer).
      expect(code.split('\n').length).toBeLessThan(30);
      const map = JSON.parse(readFileSync(path.join(dir, 'index.js.map'), 'utf8')) as { sources: string[] };
      expect(map.sources).toContainEqual(expect.stringMatching(new RegExp(`lambda/${entry}\\.ts$`)));
      expect(map.sources.filter((s) => /node_modules\/(@aws-sdk|aws-cdk-lib|constructs)\//.test(s))).toEqual(
        [],
      );
    },
  );

  it('every bundle loads on Node and exports a handler function', () => {
    const files = allFunctions().map(([, fn]) => path.join(bundleDir(fn), 'index.js'));
    // A child process, so the bundles load with plain Node resolution (the external @aws-sdk from this
    // repository's node_modules, as the runtime provides it) rather than through jest's module registry.
    const script = 'for (const f of process.argv.slice(1)) console.log(typeof require(f).handler);';
    const out = execFileSync(process.execPath, ['-e', script, ...files], {
      encoding: 'utf8',
      env: { ...process.env, NODE_PATH: path.resolve(__dirname, '../../node_modules') },
    });
    expect(out.trim().split('\n')).toEqual(files.map(() => 'function'));
  });
});
