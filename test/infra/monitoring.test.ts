/**
 * The alarms that see faults: each one's metric, threshold and actions; the metric filters the lease
 * losses come from; the metric methods; and the switches that turn alarms and the dashboard off.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { OpsItemCategory, OpsItemSeverity, SsmAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { ShardLease } from '../../lib/cdk';
import { ROUTES } from '../../lib/http/routes';
import { dashboardWidgets, logicalId, type Synthesized, synthesize } from './synth';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:on-call';
const OPS_ITEM = {
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, ':ssm:eu-west-1:123456789012:opsitem:2#CATEGORY=Availability'],
  ],
};

class WatchedStack extends Stack {
  readonly leases: ShardLease;

  constructor(app: App) {
    super(app, 'Watched', { env: ENV });
    this.leases = new ShardLease(this, 'Leases', {
      alarms: {
        topic: Topic.fromTopicArn(this, 'OnCall', TOPIC_ARN),
        actions: [new SsmAction(OpsItemSeverity.HIGH, OpsItemCategory.AVAILABILITY)],
      },
    });
  }
}

let synth: Synthesized<WatchedStack>;
beforeAll(() => {
  synth = synthesize((app) => new WatchedStack(app), { bundle: false });
});
afterAll(() => synth?.dispose());

const leases = () => synth.stack.leases;
const alarmProps = (id: string) =>
  synth.template.findResources('AWS::CloudWatch::Alarm')[logicalId(leases().node.findChild(id))]
    ?.Properties as Record<string, unknown>;
const ref = (id: string) => ({ Ref: logicalId(leases().node.findChild(id)) });
const fnRef = (name: string) => ({
  Ref: logicalId(leases().functions[name as keyof ShardLease['functions']]),
});
const reaperDimensions = () => [
  { Name: 'TableName', Value: ref('Table') },
  { Name: 'service', Value: 'shardlease' },
];

describe('the service alarms', () => {
  it('ApiServerErrors: any 5xx of the API in 5 minutes', () => {
    expect(alarmProps('ApiServerErrors')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: ref('Api') }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('ApiLatency: p99 above a fifth of the lease (2 s) in 3 of 5 minutes', () => {
    expect(alarmProps('ApiLatency')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'Latency',
      Dimensions: [{ Name: 'ApiId', Value: ref('Api') }],
      ExtendedStatistic: 'p99',
      Period: 60,
      Threshold: 2000,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
  });

  it('ReaperFaults: a pass stopped by a fault, from the reaper’s PassFaults metric', () => {
    expect(alarmProps('ReaperFaults')).toMatchObject({
      Namespace: 'ShardLease',
      MetricName: 'PassFaults',
      Dimensions: reaperDimensions(),
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('ReaperStalled: no completed pass in 3 schedule periods, silence included', () => {
    expect(alarmProps('ReaperStalled')).toMatchObject({
      Namespace: 'ShardLease',
      MetricName: 'PassesCompleted',
      Dimensions: reaperDimensions(),
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'breaching',
    });
  });

  it('LeaseLosses: more than 10 a minute for 3 minutes, summed over the functions that report them', () => {
    const props = alarmProps('LeaseLosses');
    expect(props).toMatchObject({
      Threshold: 10,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
    const [expression, ...metrics] = props.Metrics as {
      Id: string;
      Expression?: string;
      MetricStat?: { Metric: unknown; Period: number; Stat: string };
    }[];
    expect(expression?.Expression).toBe('FILL(lost0, 0) + FILL(lost1, 0) + FILL(lost2, 0) + FILL(lost3, 0)');
    expect(metrics.map((m) => [m.Id, m.MetricStat])).toEqual(
      ['checkpoint', 'removeLeaseOwner', 'renewLeases', 'heartbeat'].map((name, i) => [
        `lost${i}`,
        {
          Metric: {
            Namespace: 'ShardLease',
            MetricName: 'LeaseLosses',
            Dimensions: [{ Name: 'FunctionName', Value: fnRef(name) }],
          },
          Period: 60,
          Stat: 'Sum',
        },
      ]),
    );
  });

  it('notify the topic when they go off and when they clear, and take the other actions when they go off', () => {
    const alarms = Object.values(synth.template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(leases().alarms.length);
    expect(alarms).toHaveLength(2 * leases().allFunctions().length + 1 + 5);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([TOPIC_ARN, OPS_ITEM]);
      expect(alarm.Properties.OKActions).toEqual([TOPIC_ARN]);
    }
  });
});

describe('the lease loss metric filters', () => {
  const filters = () => Object.values(synth.template.findResources('AWS::Logs::MetricFilter'));
  const logGroupOf = (name: string) => ({
    Ref: logicalId(leases().node.findChild(`${ROUTES.find((r) => r.name === name)?.id}FunctionLogs`)),
  });

  it('count each LeaseLost answer to a checkpoint or a release, per function', () => {
    for (const operation of ['checkpoint', 'removeLeaseOwner']) {
      synth.template.hasResourceProperties('AWS::Logs::MetricFilter', {
        LogGroupName: logGroupOf(operation),
        FilterPattern: `{ ($.message = "request handled") && ($.operation = "${operation}") && ($.outcome = "LeaseLost") }`,
        MetricTransformations: [
          {
            MetricNamespace: 'ShardLease',
            MetricName: 'LeaseLosses',
            MetricValue: '1',
            Dimensions: [{ Key: 'FunctionName', Value: '$.function_name' }],
          },
        ],
      });
    }
  });

  it.each(['renewLeases', 'heartbeat'])(
    'add up the shards %s lost, and the leases it renewed',
    (operation) => {
      for (const [metric, field] of [
        ['LeaseLosses', 'leasesLost'],
        ['LeasesRenewed', 'leasesRenewed'],
      ]) {
        synth.template.hasResourceProperties('AWS::Logs::MetricFilter', {
          LogGroupName: logGroupOf(operation),
          FilterPattern: `{ ($.message = "request handled") && ($.operation = "${operation}") && ($.${field} > 0) }`,
          MetricTransformations: [
            {
              MetricNamespace: 'ShardLease',
              MetricName: metric,
              MetricValue: `$.${field}`,
              Dimensions: [{ Key: 'FunctionName', Value: '$.function_name' }],
            },
          ],
        });
      }
    },
  );

  it('are these six and no more', () => {
    expect(filters()).toHaveLength(6);
  });
});

describe('the metric methods', () => {
  it('give the metrics the alarms use, with the period asked for', () => {
    const stack = Stack.of(leases());
    expect(stack.resolve(leases().metricReaperPassFaults({ period: undefined }).dimensions)).toEqual({
      TableName: ref('Table'),
      service: 'shardlease',
    });
    expect(leases().metricApiLatency().toMetricConfig().metricStat?.statistic).toBe('p99');
    expect(leases().metricLeaseLosses().period.toMinutes()).toBe(1);
    expect(leases().metricLeasesRenewed().period.toMinutes()).toBe(5);
    expect(leases().metricApiServerErrors().period.toMinutes()).toBe(5);
    expect(leases().metricLeasesReclaimed().metricName).toBe('LeasesReclaimed');
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged with alarm actions', () => {
    expect(synth.nag.violations).toEqual([]);
  });
});

describe('with alarms and the dashboard turned off', () => {
  const build = (props: ConstructorParameters<typeof ShardLease>[2]) => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Quiet');
    const construct = new ShardLease(stack, 'Leases', props);
    return { construct, template: Template.fromStack(stack) };
  };

  it('creates no alarm, but keeps the dashboard without its alarm widget', () => {
    const { construct, template } = build({ alarms: { enabled: false } });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    expect(construct.alarms).toEqual([]);
    expect(dashboardWidgets(template).map((w) => w.properties.title)).not.toContain('Alarms');
  });

  it('creates no dashboard when told not to, and keeps the alarms', () => {
    const { construct, template } = build({ dashboard: false });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(construct.dashboard).toBeUndefined();
    expect(construct.alarms.length).toBeGreaterThan(0);
  });
});
