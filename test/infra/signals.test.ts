/**
 * The alarms read what the code really writes. The real Lambda entries run against the run's dynalite;
 * their stdout (Powertools' JSON log lines and Embedded Metric Format) is read back and held to what
 * the construct's metric filters and reaper alarms expect: the same fields, values, namespace,
 * metric names and dimension names. CloudWatch itself is not imitated: the filters are built from the
 * same signal table checked here.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Context } from 'aws-lambda';
import { LEASE_LOSS_SIGNALS, LEASE_RENEWAL_SIGNALS, type LogSignal, ShardLease } from '../../lib/cdk';
import { REQUEST_LOG } from '../../lib/cdk/monitoring';
import { REAPER_METRICS } from '../../lib/core/reaper-config';
import type { HttpLambdaHandler } from '../../lib/http/lambda-handler';
import { type OperationName, ROUTES } from '../../lib/http/routes';
import { apiGatewayEvent, lambdaContext } from '../support/apigw-event';
import { createTestTable, type TestTable, testEndpoint } from '../support/dynamo';
import { logicalId } from './synth';

type Line = Record<string, unknown>;

/** Runs `work` and returns every JSON line it wrote to stdout (Powertools writes there directly). */
async function stdoutLines(work: () => Promise<unknown>): Promise<Line[]> {
  const written: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return written
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

/** A lambda/ entry, loaded when asked for (after the environment it reads is set). */
function lambdaEntry<H>(entry: string): Promise<{ handler: H }> {
  return import(`../../lambda/${entry}`);
}

let table: TestTable;
const handlers = {} as Record<OperationName, HttpLambdaHandler>;

beforeAll(async () => {
  table = await createTestTable('signals');
  process.env.TABLE_NAME = table.tableName;
  process.env.DYNAMODB_ENDPOINT = testEndpoint();
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  // Imported after the environment is set: the loggers read it when they are made.
  for (const route of ROUTES) {
    handlers[route.name] = (
      (await import(`../../lambda/${route.entry}`)) as { handler: HttpLambdaHandler }
    ).handler;
  }
  // worker-b holds the shard; worker-a thinks it still does.
  await table.checkpointer.getLease('shardId-000000000001', { workerId: 'worker-b' });
});

async function invoke(
  name: OperationName,
  options: Parameters<typeof apiGatewayEvent>[1],
): Promise<{ lines: Line[]; context: Context }> {
  const route = ROUTES.find((r) => r.name === name);
  const context = lambdaContext(`shardlease-${route?.id}Function-AbC123`);
  const lines = await stdoutLines(() => handlers[name](apiGatewayEvent(name, options), context));
  return { lines, context };
}

/** Whether a line is one the signal's metric filter counts (what its JSON pattern says). */
function matches(signal: LogSignal, line: Line): boolean {
  if (line.message !== REQUEST_LOG.message || line.operation !== signal.operation) return false;
  if (signal.outcome !== undefined) return line.outcome === signal.outcome;
  const count = line[signal.countField ?? ''];
  return typeof count === 'number' && count > 0;
}

const lossSignal = (operation: string) => {
  const signal = LEASE_LOSS_SIGNALS.find((s) => s.operation === operation);
  if (!signal) throw new Error(`no loss signal for ${operation}`);
  return signal;
};

describe('the lease loss filters', () => {
  it('match the line of a checkpoint refused with LeaseLost, and name the function', async () => {
    const { lines, context } = await invoke('checkpoint', {
      pathParameters: { shardId: 'shardId-000000000001' },
      body: { workerId: 'worker-a', checkpoint: '49590338271490256608559692538361571095921575989136588898' },
    });
    const counted = lines.filter((l) => matches(lossSignal('checkpoint'), l));
    expect(counted).toHaveLength(1);
    expect(counted[0]?.[REQUEST_LOG.functionNameField]).toBe(context.functionName);
  });

  it('match the line of a release refused with LeaseLost', async () => {
    const { lines, context } = await invoke('removeLeaseOwner', {
      pathParameters: { shardId: 'shardId-000000000001' },
      query: { workerId: 'worker-a' },
    });
    const counted = lines.filter((l) => matches(lossSignal('removeLeaseOwner'), l));
    expect(counted).toHaveLength(1);
    expect(counted[0]?.[REQUEST_LOG.functionNameField]).toBe(context.functionName);
  });

  it('match nothing on a checkpoint that succeeds', async () => {
    const { lines } = await invoke('checkpoint', {
      pathParameters: { shardId: 'shardId-000000000001' },
      body: { workerId: 'worker-b', checkpoint: '49590338271490256608559692538361571095921575989136588898' },
    });
    expect(lines.filter((l) => LEASE_LOSS_SIGNALS.some((s) => matches(s, l)))).toEqual([]);
  });

  it('match the line of a batch renewal that lost a shard, by its number of losses', async () => {
    const { lines } = await invoke('renewLeases', {
      pathParameters: { workerId: 'worker-a' },
      body: { shardIds: ['shardId-000000000001'] },
    });
    const counted = lines.filter((l) => matches(lossSignal('renewLeases'), l));
    expect(counted.map((l) => l.leasesLost)).toEqual([1]);
    const renewal = LEASE_RENEWAL_SIGNALS.find((s) => s.operation === 'renewLeases');
    expect(renewal?.countField).toBe('leasesRenewed');
    expect(typeof counted[0]?.leasesRenewed).toBe('number');
  });
});

describe('the reaper metrics', () => {
  it('are published in the namespace, with the names and dimensions the alarms read', async () => {
    const { handler } = await lambdaEntry<(event: unknown, context: Context) => Promise<unknown>>('reaper');
    const lines = await stdoutLines(() => handler({}, lambdaContext('shardlease-Reaper-AbC123')));
    const emf = lines.find((l) => l._aws !== undefined) as
      | (Line & {
          _aws: {
            CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
          };
        })
      | undefined;
    const [directive] = emf?._aws.CloudWatchMetrics ?? [];
    expect(directive?.Namespace).toBe(REAPER_METRICS.namespace);
    expect(directive?.Metrics.map((m) => m.Name)).toEqual(
      expect.arrayContaining([REAPER_METRICS.passFaults, REAPER_METRICS.passesCompleted]),
    );
    expect(emf?.[REAPER_METRICS.passesCompleted]).toBe(1);
    expect(emf?.[REAPER_METRICS.passFaults]).toBe(0);
    expect(emf?.[REAPER_METRICS.tableDimension]).toBe(table.tableName);

    // The construct's alarms on these metrics ask for exactly this namespace and these dimensions.
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    const construct = new ShardLease(stack, 'Leases');
    const alarms = Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm');
    for (const id of ['ReaperFaults', 'ReaperStalled']) {
      const alarm = alarms[logicalId(construct.node.findChild(id))];
      expect(alarm?.Properties.Namespace).toBe(directive?.Namespace);
      expect(directive?.Metrics.map((m) => m.Name)).toContain(alarm?.Properties.MetricName);
      const names = ((alarm?.Properties.Dimensions ?? []) as { Name: string }[]).map((d) => d.Name).sort();
      expect(names).toEqual(['TableName', 'service']);
      expect(directive?.Dimensions.map((set) => [...set].sort())).toContainEqual(names);
    }
  });
});
