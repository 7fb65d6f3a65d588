/** The CDK side of shardlease (subpath `./cdk`): importing it loads aws-cdk-lib, the rest of the package does not. */

export {
  routesFor,
  type ShardLeaseAudience,
  TABLE_KEY_READ_ACTIONS,
  TABLE_KEY_WRITE_ACTIONS,
} from './access';
export {
  CONSUMER_ENVIRONMENT,
  ShardLeaseConsumer,
  type ShardLeaseConsumerAlarmProps,
  type ShardLeaseConsumerProps,
} from './consumer';
export { ESBUILD_MISSING } from './esbuild';
export { LEASE_LOSS_SIGNALS, LEASE_RENEWAL_SIGNALS, LOG_METRICS, type LogSignal } from './monitoring';
export type {
  ShardLeaseAlarmProps,
  ShardLeaseLogLevel,
  ShardLeaseProps,
  ShardLeaseThrottle,
} from './props';
export {
  DIRECT_ACCESS_ACTIONS,
  REAPER_DYNAMO_ACTIONS,
  REAPER_KINESIS_ACTIONS,
  ShardLease,
} from './shardlease';
export { ShardLeaseStack, type ShardLeaseStackProps } from './shardlease-stack';
