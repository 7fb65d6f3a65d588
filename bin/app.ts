/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy`. Optional context: `-c streamNames=a,b` (Kinesis
 * streams: one ShardLease, with its own table, per stream, all in the one stack), `-c stackName=...`.
 * cdk-nag's AwsSolutions pack runs on every synth, so a finding fails it.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ShardLeaseStack } from '../lib/cdk';

const app = new App();

function contextList(key: string): string[] {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined) return [];
  if (typeof value !== 'string')
    throw new Error(`context ${key} must be a comma-separated string, got ${JSON.stringify(value)}`);
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

const stackName: unknown = app.node.tryGetContext('stackName');
new ShardLeaseStack(app, typeof stackName === 'string' && stackName !== '' ? stackName : 'ShardLease', {
  description: 'shardlease: lease manager and checkpointer for Amazon Kinesis consumers',
  streamNames: contextList('streamNames'),
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
