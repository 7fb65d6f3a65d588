/**
 * Who may call what. Each route of ROUTES says its audience (`access`); a grant gives an audience the
 * execute-api ARNs of exactly its routes, so a new route only needs classifying there. The table's
 * customer-managed key, when a bring-your-own table has one, is granted along with the table.
 */
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import {
  type AddToPrincipalPolicyResult,
  Grant,
  type IGrantable,
  type IManagedPolicy,
  type IPrincipal,
  type ManagedPolicy,
  type PolicyStatement,
  PrincipalBase,
  type PrincipalPolicyFragment,
} from 'aws-cdk-lib/aws-iam';
import { Construct, DependencyGroup, type IDependable } from 'constructs';
import { ROUTES, type Route } from '../http/routes';

/** The audiences of the grants, each a set of route access levels. */
export type ShardLeaseAudience = 'consume' | 'read' | 'admin';

const AUDIENCE_LEVELS: Readonly<Record<ShardLeaseAudience, readonly Route['access'][]>> = {
  // A worker reads what it acts on (its checkpoint, the owners, the shard list): consume includes read.
  consume: ['consume', 'read'],
  read: ['read'],
  admin: ['admin'],
};

/** The routes an audience may call, in ROUTES order. */
export function routesFor(audience: ShardLeaseAudience, routes: readonly Route[] = ROUTES): Route[] {
  return routes.filter((route) => AUDIENCE_LEVELS[audience].includes(route.access));
}

/**
 * The execute-api ARN of one route on one stage: `.../<stage>/<METHOD>/<path>`, path parameters as
 * `*`, since IAM sees the request's own path, not the route template.
 */
export function routeArn(api: HttpApi, stageName: string, route: Route): string {
  return api.arnForExecuteApi(route.method, route.path.replace(/\{[^}]+\}/g, '*'), stageName);
}

/** Roles, users and groups take managed policies; other principals (an account, a service) do not. */
function managedPolicyHolder(
  principal: IPrincipal,
): (IPrincipal & { addManagedPolicy(policy: IManagedPolicy): void }) | undefined {
  const candidate = principal as IPrincipal & { addManagedPolicy?: unknown };
  return typeof candidate.addManagedPolicy === 'function'
    ? (candidate as IPrincipal & { addManagedPolicy(policy: IManagedPolicy): void })
    : undefined;
}

/**
 * Stands for a principal that received a statement through an attached managed policy: it takes the
 * statement without adding it anywhere, so `Grant.addToPrincipal` returns a successful Grant whose
 * statement says what was granted and whose dependable is the policy and its attachment.
 */
class AttachedPolicyPrincipal extends PrincipalBase {
  constructor(
    private readonly holder: IPrincipal,
    private readonly attachment: IDependable,
  ) {
    super();
  }

  get policyFragment(): PrincipalPolicyFragment {
    return this.holder.policyFragment;
  }

  override addToPrincipalPolicy(_statement: PolicyStatement): AddToPrincipalPolicyResult {
    return { statementAdded: true, policyDependable: this.attachment };
  }

  dedupeString(): string | undefined {
    return undefined;
  }
}

/**
 * Gives the grantee an audience's routes by attaching that audience's managed policy, so the grantee
 * holds no statement of its own: the path-parameter wildcards stay in the construct's policy, where
 * they are acknowledged for cdk-nag, and the grant changes nothing about the grantee's findings. A
 * principal that takes no managed policy gets the same statement inline instead (and the findings
 * that come with it, for its owner to judge).
 */
export function grantRoutes(
  grantee: IGrantable,
  policy: ManagedPolicy,
  resourceArns: readonly string[],
): Grant {
  const actions = ['execute-api:Invoke'];
  const holder = managedPolicyHolder(grantee.grantPrincipal);
  if (!holder) return Grant.addToPrincipal({ grantee, actions, resourceArns: [...resourceArns] });
  holder.addManagedPolicy(policy);
  const attachment = new DependencyGroup(policy, ...(Construct.isConstruct(holder) ? [holder] : []));
  return Grant.addToPrincipal({
    grantee: new AttachedPolicyPrincipal(holder, attachment),
    actions,
    resourceArns: [...resourceArns],
  });
}

/** DynamoDB actions that change items: with a customer-managed key they also need the key's encrypt side. */
const ITEM_WRITES = [
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:PutItem',
  'dynamodb:BatchWriteItem',
];
/** DynamoDB actions that touch items at all (DescribeTable reads only the table's description). */
const ITEM_ACTIONS = [...ITEM_WRITES, 'dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:Query'];

/** What a reader of a table encrypted with a customer-managed key needs of the key. */
export const TABLE_KEY_READ_ACTIONS: readonly string[] = ['kms:Decrypt', 'kms:DescribeKey'];
/** What a writer needs on top (no wildcards, so cdk-nag has nothing to flag). */
export const TABLE_KEY_WRITE_ACTIONS: readonly string[] = ['kms:Encrypt', 'kms:GenerateDataKey'];

/** The key actions that go with these table actions; none when no action touches items. */
export function tableKeyActions(tableActions: readonly string[]): string[] {
  if (!tableActions.some((a) => ITEM_ACTIONS.includes(a))) return [];
  const writes = tableActions.some((a) => ITEM_WRITES.includes(a));
  return [...TABLE_KEY_READ_ACTIONS, ...(writes ? TABLE_KEY_WRITE_ACTIONS : [])];
}

/**
 * Grants table actions on the table and, when the table has a customer-managed key, the key actions
 * they need, usable only through DynamoDB in the table's region (`kms:ViaService`). No actions grant
 * nothing: no statement at all (IAM refuses a statement without actions), and no key.
 */
export function grantTable(grantee: IGrantable, table: ITable, actions: readonly string[]): Grant {
  if (actions.length === 0) return Grant.drop(grantee, `nothing on ${table.node.path}`);
  const grant = Grant.addToPrincipal({ grantee, actions: [...actions], resourceArns: [table.tableArn] });
  const key = table.encryptionKey;
  const keyActions = tableKeyActions(actions);
  if (!key || keyActions.length === 0) return grant;
  return grant.combine(
    Grant.addToPrincipalOrResource({
      grantee,
      actions: keyActions,
      resourceArns: [key.keyArn],
      resource: key,
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${table.env.region}.amazonaws.com` } },
    }),
  );
}
