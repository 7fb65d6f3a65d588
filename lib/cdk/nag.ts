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

/**
 * Acknowledges AwsSolutions-IAM5 for exactly these execute-api ARNs on one of the construct's own
 * policies: the `*` of each stands for a path parameter of one route. Never called on a grantee, whose
 * findings are its owner's to judge.
 */
export function acknowledgeRouteWildcards(policy: IConstruct, routeArns: readonly string[]): void {
  const stack = Stack.of(policy);
  for (const arn of routeArns) {
    const flat = flatten(stack.resolve(arn));
    if (!flat.includes('*')) continue;
    Validations.of(policy).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${flat}]`,
      reason:
        'One route of the shardlease API per ARN, method and path fixed: the wildcard stands for a path ' +
        'parameter ({shardId}, {workerId}), which an execute-api ARN can only match with a wildcard.',
    });
  }
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
