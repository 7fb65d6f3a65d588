/** The construct alone in a stack, with the outputs a platform team hands to consumers. */
import { ArnFormat, CfnOutput, Stack, type StackProps, Token } from 'aws-cdk-lib';
import { type IStream, Stream } from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';
import type { ShardLeaseProps } from './props';
import { ShardLease } from './shardlease';

const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

export interface ShardLeaseStackProps extends StackProps {
  /**
   * Settings of the construct.
   * @default - the construct's defaults
   */
  readonly shardLease?: ShardLeaseProps;
  /**
   * Names of existing Kinesis streams, in this stack's account and region, whose shards the reaper
   * checks; added to `shardLease.streams`.
   * @default - none
   */
  readonly streamNames?: readonly string[];
}

export class ShardLeaseStack extends Stack {
  readonly shardLease: ShardLease;

  constructor(scope: Construct, id: string, props: ShardLeaseStackProps = {}) {
    super(scope, id, props);
    const badNames = (props.streamNames ?? []).filter((n) => !Token.isUnresolved(n) && !STREAM_NAME.test(n));
    if (badNames.length > 0) {
      throw new Error(`streamNames must be 1..128 of [a-zA-Z0-9_.-], got ${JSON.stringify(badNames)}`);
    }
    const named: IStream[] = (props.streamNames ?? []).map((name, i) =>
      Stream.fromStreamArn(
        this,
        `Stream${i}`,
        this.formatArn({
          service: 'kinesis',
          resource: 'stream',
          resourceName: name,
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        }),
      ),
    );
    const streams = [...(props.shardLease?.streams ?? []), ...named];
    this.shardLease = new ShardLease(this, 'ShardLease', { ...props.shardLease, streams });

    new CfnOutput(this, 'ApiUrl', {
      value: this.shardLease.apiUrl,
      description: 'Base URL of the shardlease API',
    });
    new CfnOutput(this, 'TableName', {
      value: this.shardLease.table.tableName,
      description: 'The lease table',
    });
    new CfnOutput(this, 'InvokePolicyArn', {
      value: this.shardLease.invokePolicy.managedPolicyArn,
      description: 'Managed policy to attach to callers of the API',
    });
  }
}
