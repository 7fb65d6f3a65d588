/** The CDK side of shardlease (subpath `./cdk`): importing it loads aws-cdk-lib, the rest of the package does not. */

export type { ShardLeaseLogLevel, ShardLeaseProps, ShardLeaseThrottle } from './props';
export {
  DIRECT_ACCESS_ACTIONS,
  REAPER_DYNAMO_ACTIONS,
  REAPER_KINESIS_ACTIONS,
  ShardLease,
} from './shardlease';
export { ShardLeaseStack, type ShardLeaseStackProps } from './shardlease-stack';
