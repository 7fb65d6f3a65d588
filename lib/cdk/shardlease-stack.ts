/**
 * The service alone in a stack, once per stream, with the outputs a platform team hands to consumers.
 * One ShardLease (and one table) per stream name: shard ids repeat across streams, so streams never
 * share a table.
 */
import { ArnFormat, CfnOutput, Stack, type StackProps, Token } from 'aws-cdk-lib';
import { Stream } from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';
import { STREAM_NAME_PATTERN } from '../core/reaper-config';
import type { ShardLeaseProps } from './props';
import { ShardLease } from './shardlease';

export interface ShardLeaseStackProps extends StackProps {
  /**
   * Settings of every ShardLease of the stack.
   * @default - the construct's defaults
   */
  readonly shardLease?: ShardLeaseProps;
  /**
   * Names of existing Kinesis streams, in this stack's account and region: one ShardLease, with its own
   * table, API and reaper, per name, with construct id `ShardLease-<name>`.
   * @default - one ShardLease, construct id `ShardLease`, for the stream of `shardLease.stream` if any
   */
  readonly streamNames?: readonly string[];
}

/** Output ids are top-level, so their logical ids are these, minus punctuation. */
const OUTPUTS = ['ApiUrl', 'TableName', 'ConsumePolicyArn', 'ReadPolicyArn', 'AdminPolicyArn'] as const;

function problemsOf(props: ShardLeaseStackProps): string[] {
  const names = props.streamNames ?? [];
  const problems: string[] = [];
  const bad = names.filter((n) => !Token.isUnresolved(n) && !STREAM_NAME_PATTERN.test(n));
  if (bad.length > 0)
    problems.push(`streamNames must be 1..128 of [a-zA-Z0-9_.-], got ${JSON.stringify(bad)}`);
  // Construct and output ids are made of the names, and punctuation drops out of logical ids.
  const seen = new Map<string, string>();
  for (const name of names) {
    const key = name.replace(/[^a-zA-Z0-9]/g, '');
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.push(`streamNames ${JSON.stringify(earlier)} and ${JSON.stringify(name)} name the same ids`);
    }
    seen.set(key, name);
  }
  if (names.length > 0 && props.shardLease?.stream) {
    problems.push('give the stream either as shardLease.stream or in streamNames, not both');
  }
  if (names.length > 1 && props.shardLease?.table) {
    problems.push(
      `shardLease.table cannot serve ${names.length} streams: one table serves one stream (shard ids ` +
        'repeat across streams); leave it out and each stream gets its own table',
    );
  }
  if (names.length > 1 && props.shardLease?.tableName !== undefined) {
    problems.push(
      `shardLease.tableName (${JSON.stringify(props.shardLease.tableName)}) would name ${names.length} tables ` +
        'the same: leave it out for generated names',
    );
  }
  return problems;
}

export class ShardLeaseStack extends Stack {
  /** One per stream name, in the order given; a single one when no name is given. */
  readonly shardLeases: readonly ShardLease[];

  constructor(scope: Construct, id: string, props: ShardLeaseStackProps = {}) {
    super(scope, id, props);
    const problems = problemsOf(props);
    if (problems.length > 0) throw new Error(`invalid ShardLeaseStack props: ${problems.join('; ')}`);

    const names = props.streamNames ?? [];
    if (names.length === 0) {
      this.shardLeases = [new ShardLease(this, 'ShardLease', props.shardLease)];
      this.addOutputs(this.shardLeases[0] as ShardLease, '', '');
      return;
    }
    this.shardLeases = names.map((name) => {
      const stream = Stream.fromStreamArn(
        this,
        `Stream-${name}`,
        this.formatArn({
          service: 'kinesis',
          resource: 'stream',
          resourceName: name,
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        }),
      );
      const shardLease = new ShardLease(this, `ShardLease-${name}`, { ...props.shardLease, stream });
      this.addOutputs(shardLease, `-${name}`, ` of stream ${name}`);
      return shardLease;
    });
  }

  /** The only ShardLease of the stack; with several streams, pick one from `shardLeases`. */
  get shardLease(): ShardLease {
    const [only, ...others] = this.shardLeases;
    if (!only || others.length > 0) {
      throw new Error(
        `stack ${this.node.path} has ${this.shardLeases.length} ShardLease constructs; use shardLeases`,
      );
    }
    return only;
  }

  private addOutputs(shardLease: ShardLease, suffix: string, of: string): void {
    const values: Record<(typeof OUTPUTS)[number], [string, string]> = {
      ApiUrl: [shardLease.apiUrl, `Base URL of the shardlease API${of}`],
      TableName: [shardLease.table.tableName, `The lease table${of}`],
      ConsumePolicyArn: [
        shardLease.consumePolicy.managedPolicyArn,
        `Managed policy for consumers of the API${of} (lease, checkpoint, renew, claim, read)`,
      ],
      ReadPolicyArn: [shardLease.readPolicy.managedPolicyArn, `Managed policy for read-only callers${of}`],
      AdminPolicyArn: [
        shardLease.adminPolicy.managedPolicyArn,
        `Managed policy for admins${of} (POST /init, DELETE /shards/{shardId})`,
      ],
    };
    for (const output of OUTPUTS) {
      const [value, description] = values[output];
      new CfnOutput(this, `${output}${suffix}`, { value, description });
    }
  }
}
