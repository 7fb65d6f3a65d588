/**
 * cdk-nag findings this construct accepts by design, acknowledged through CDK's own Validations API
 * (so the construct needs no cdk-nag at run time). A finding's id embeds the resource as cdk-nag
 * flattens it, so the ids are computed the same way from the resolved value.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** How cdk-nag prints a CloudFormation value inside a finding id: `<LogicalId>`, `<Res.Attr>`. */
function flatten(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (o['Fn::Sub'] !== undefined) return flatten(o['Fn::Sub']);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if (o.Ref !== undefined) return `<${flatten(o.Ref)}>`;
  }
  return JSON.stringify(node);
}

/** Acknowledges AwsSolutions-IAM5 for exactly this execute-api ARN (a whole stage) under `scope`. */
export function acknowledgeStageWildcard(scope: IConstruct, stageArn: string): void {
  Validations.of(scope).acknowledge({
    id: `AwsSolutions::AwsSolutions-IAM5[Resource::${flatten(Stack.of(scope).resolve(stageArn))}]`,
    reason:
      'Callers of this service may call every route of its one stage: IAM is checked against the ' +
      "request's own path before routing, so unmatched paths (answered 404/405 by the $default route) " +
      'and path parameters ({shardId}, {workerId}) can only be covered by a wildcard.',
  });
}

/** The runtime is pinned to Node.js 22 on purpose; AwsSolutions-L1 asks for the newest. */
export function acknowledgePinnedRuntime(fn: IConstruct): void {
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions::AwsSolutions-L1',
    reason:
      'Node.js 22 is the runtime the handlers, the esbuild target and the tests are built for; ' +
      'moving to a newer major is a deliberate, tested upgrade rather than a lint fix.',
  });
}
