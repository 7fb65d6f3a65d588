/**
 * What the alarms and the dashboard read besides AWS's own metrics. The handlers answer every fault
 * with a response and the reaper returns its fault in its summary, so no function ever errors: the
 * signals are the API's 5xx and latency, the reaper's own metrics (lib/core/reaper-config.ts), and
 * metric filters on the one line every request logs (lib/http/handle-request.ts), which carries the
 * operation, the outcome code and, through Powertools, the function's name.
 */
import type { Duration } from 'aws-cdk-lib';
import {
  type Alarm,
  type IAlarmAction,
  MathExpression,
  type MathExpressionOptions,
  Metric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { FilterPattern, type ILogGroup, type JsonPattern } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { REAPER_METRICS } from '../core/reaper-config';

/** The fields of the per-request log line the filters match. */
export const REQUEST_LOG = {
  message: 'request handled',
  /** Added by Powertools Logger from the Lambda context: one value per function. */
  functionNameField: 'function_name',
} as const;

/** Metrics made from log lines; the function is a dimension, so two services never share a series. */
export const LOG_METRICS = {
  namespace: REAPER_METRICS.namespace,
  functionDimension: 'FunctionName',
  leaseLosses: 'LeaseLosses',
  leasesRenewed: 'LeasesRenewed',
} as const;

/** One kind of "request handled" line, counted once (`outcome`) or by a numeric field (`countField`). */
export interface LogSignal {
  readonly operation: string;
  readonly outcome?: string;
  readonly countField?: string;
}

/**
 * Lines that tell a worker it no longer holds a lease it acted on. LeaseNotAcquired and ShardClaimed
 * on GetLease are left out: from the line alone, a refused renewal cannot be told from a refused take
 * of someone else's shard. The per-shard outcomes of a renewal are inside a 200 answer and count once
 * the handler logs their number (`leasesLost`); until then those filters match nothing.
 */
export const LEASE_LOSS_SIGNALS: readonly LogSignal[] = [
  { operation: 'checkpoint', outcome: 'LeaseLost' },
  { operation: 'removeLeaseOwner', outcome: 'LeaseLost' },
  { operation: 'renewLeases', countField: 'leasesLost' },
  { operation: 'heartbeat', countField: 'leasesLost' },
];

/** Leases renewed by the batch renewals, by the number each answer renewed. */
export const LEASE_RENEWAL_SIGNALS: readonly LogSignal[] = [
  { operation: 'renewLeases', countField: 'leasesRenewed' },
  { operation: 'heartbeat', countField: 'leasesRenewed' },
];

export function signalPattern(signal: LogSignal): JsonPattern {
  const terms = [
    FilterPattern.stringValue('$.message', '=', REQUEST_LOG.message),
    FilterPattern.stringValue('$.operation', '=', signal.operation),
  ];
  if (signal.outcome !== undefined) terms.push(FilterPattern.stringValue('$.outcome', '=', signal.outcome));
  else terms.push(FilterPattern.numberValue(`$.${signal.countField}`, '>', 0));
  return FilterPattern.all(...terms);
}

/** A function's log group, its name (for the metric's dimension), and the operation it serves. */
export interface SignalSource {
  readonly operation: string;
  readonly functionName: string;
  readonly logGroup: ILogGroup;
}

/**
 * Adds one metric filter per signal whose operation has a function, and returns the per-function
 * metrics the filters publish (construct id of each filter: the metric name, under the log group).
 */
export function addSignalFilters(
  metricName: string,
  signals: readonly LogSignal[],
  sources: readonly SignalSource[],
): Metric[] {
  const metrics: Metric[] = [];
  for (const signal of signals) {
    for (const source of sources.filter((s) => s.operation === signal.operation)) {
      source.logGroup.addMetricFilter(metricName, {
        filterPattern: signalPattern(signal),
        metricNamespace: LOG_METRICS.namespace,
        metricName,
        metricValue: signal.outcome !== undefined ? '1' : `$.${signal.countField}`,
        dimensions: { [LOG_METRICS.functionDimension]: `$.${REQUEST_LOG.functionNameField}` },
      });
      metrics.push(
        new Metric({
          namespace: LOG_METRICS.namespace,
          metricName,
          dimensionsMap: { [LOG_METRICS.functionDimension]: source.functionName },
          statistic: 'Sum',
        }),
      );
    }
  }
  return metrics;
}

/**
 * The sum of per-function metrics as one series. FILL: a function with no line in a period published
 * nothing for it, which must count as 0 rather than blank out the sum. The ids of the summed metrics
 * start with `idPrefix`, so two sums can share a graph.
 */
export function sumOfMetrics(
  metrics: readonly Metric[],
  idPrefix: string,
  label: string,
  period: Duration,
  options: MathExpressionOptions = {},
): MathExpression {
  if (metrics.length === 0) throw new Error(`no metric to sum for ${label}`);
  const usingMetrics = Object.fromEntries(metrics.map((m, i) => [`${idPrefix}${i}`, m]));
  return new MathExpression({
    expression: Object.keys(usingMetrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(' + '),
    usingMetrics,
    label,
    period,
    ...options,
  });
}

/**
 * Who hears an alarm: the topic when it goes off and when it clears (so whoever was paged learns it
 * recovered), any other action when it goes off. One wiring for the service's and the consumer's alarms.
 */
export function notifyAlarms(
  alarms: readonly Alarm[],
  topic: ITopic | undefined,
  actions: readonly IAlarmAction[] = [],
): void {
  const notify = topic ? new SnsAction(topic) : undefined;
  for (const alarm of alarms) {
    if (notify) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
    if (actions.length > 0) alarm.addAlarmAction(...actions);
  }
}
