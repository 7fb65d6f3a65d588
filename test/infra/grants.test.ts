/**
 * Who may call what: each grant's exact routes, through the managed policy it attaches; the inline
 * fallback for principals that take no managed policy; table access with the table's customer-managed
 * key; and no cdk-nag side effect on any grantee.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { type IRole, PrincipalWithConditions, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { DIRECT_ACCESS_ACTIONS, ShardLease } from '../../lib/cdk';
import { ROUTES } from '../../lib/http/routes';
import { ADMIN_ROUTE_KEYS, CONSUME_ROUTE_KEYS, READ_ROUTE_KEYS, routeKeyOf } from './routes';
import {
  getAtt,
  logicalId,
  managedPolicyStatements,
  roleRights,
  type Synthesized,
  synthesize,
} from './synth';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const TABLE_ARN = 'arn:aws:dynamodb:eu-west-1:123456789012:table/kcl-leases';
const OTHER_ROLE_ARN = 'arn:aws:iam::123456789012:role/ops-console';

class GrantStack extends Stack {
  readonly leases: ShardLease;
  readonly key: Key;
  readonly byoLeases: ShardLease;
  readonly roles: Record<'consumer' | 'reader' | 'operator' | 'library' | 'keyLibrary', Role>;
  readonly imported: IRole;

  constructor(app: App) {
    super(app, 'Grants', { env: ENV });
    this.leases = new ShardLease(this, 'Leases');
    this.key = new Key(this, 'TableKey', { enableKeyRotation: true });
    // A bring-your-own table encrypted with a customer-managed key.
    this.byoLeases = new ShardLease(this, 'GoLeases', {
      table: Table.fromTableAttributes(this, 'GoTable', { tableArn: TABLE_ARN, encryptionKey: this.key }),
    });
    const role = (id: string) =>
      new Role(this, id, { assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com') });
    this.roles = {
      consumer: role('Consumer'),
      reader: role('Reader'),
      operator: role('Operator'),
      library: role('Library'),
      keyLibrary: role('KeyLibrary'),
    };
    this.imported = Role.fromRoleArn(this, 'OpsConsole', OTHER_ROLE_ARN);

    this.leases.grantConsume(this.roles.consumer);
    this.leases.grantRead(this.roles.reader);
    this.leases.grantConsume(this.roles.operator);
    this.leases.grantAdmin(this.roles.operator);
    this.leases.grantDirectAccess(this.roles.library);
    this.byoLeases.grantDirectAccess(this.roles.keyLibrary);
    this.leases.grantRead(this.imported);
  }
}

let synth: Synthesized<GrantStack>;
beforeAll(() => {
  synth = synthesize((app) => new GrantStack(app), { bundle: false });
});
afterAll(() => synth?.dispose());

const template = (): Template => synth.template;
const leases = () => synth.stack.leases;
const policyRef = (policy: ShardLease['consumePolicy']) => ({ Ref: logicalId(policy) });
const routeKeysOf = (resources: unknown) =>
  (resources as unknown[]).map((arn) => routeKeyOf(arn, leases().api));

describe('grantConsume', () => {
  it('attaches the consume policy and adds no statement to the grantee', () => {
    expect(roleRights(template(), synth.stack.roles.consumer)).toEqual({
      managedPolicyArns: [policyRef(leases().consumePolicy)],
      statements: [],
    });
  });

  it('allows exactly the routes a consumer uses, neither POST /init nor DELETE /shards/{shardId}', () => {
    const [statement, ...others] = managedPolicyStatements(template(), leases().consumePolicy);
    expect(others).toEqual([]);
    expect(statement?.actions).toEqual(['execute-api:Invoke']);
    expect(routeKeysOf(statement?.resource)).toEqual(CONSUME_ROUTE_KEYS);
    expect(CONSUME_ROUTE_KEYS).not.toContain('POST /init');
    expect(CONSUME_ROUTE_KEYS).not.toContain('DELETE /shards/*');
  });

  it('puts the routes inline where no managed policy can be attached (a wrapped principal)', () => {
    // No cdk-nag here: the inline wildcards are findings on the grantee, for its owner to judge.
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Inline', { env: ENV });
    const construct = new ShardLease(stack, 'Leases');
    const role = new Role(stack, 'Conditioned', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    const team = { StringEquals: { 'aws:PrincipalTag/team': 'orders' } };
    construct.grantConsume(new PrincipalWithConditions(role, team));
    const rights = roleRights(Template.fromStack(stack), role);
    expect(rights).toEqual({
      managedPolicyArns: [],
      statements: [{ actions: ['execute-api:Invoke'], resource: expect.any(Array) }],
    });
    const arns = rights.statements[0]?.resource as unknown[];
    expect(arns.map((arn) => routeKeyOf(arn, construct.api))).toEqual(CONSUME_ROUTE_KEYS);
  });

  it('returns a successful grant whose statement is the attached policy’s', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    const construct = new ShardLease(stack, 'Leases');
    const role = new Role(stack, 'R', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    const grant = construct.grantConsume(role);
    expect(() => grant.assertSuccess()).not.toThrow();
    const [policyStatement] = construct.consumePolicy.document.toJSON().Statement;
    expect(stack.resolve(grant.principalStatements.map((s) => s.toStatementJson()))).toEqual(
      stack.resolve([policyStatement]),
    );
  });
});

describe('the claim withdrawal and the lease terms', () => {
  it('are a consumer’s: a worker withdraws its own claim and reads the terms it paces itself by', () => {
    const [statement] = managedPolicyStatements(template(), leases().consumePolicy);
    expect(routeKeysOf(statement?.resource)).toEqual(
      expect.arrayContaining(['DELETE /shards/*/claim', 'GET /terms']),
    );
  });

  it('give a reader the terms, which change nothing, but not the withdrawal, which writes', () => {
    const [statement] = managedPolicyStatements(template(), leases().readPolicy);
    const keys = routeKeysOf(statement?.resource);
    expect(keys).toContain('GET /terms');
    expect(keys).not.toContain('DELETE /shards/*/claim');
  });

  it('are no admin’s routes', () => {
    const [statement] = managedPolicyStatements(template(), leases().adminPolicy);
    expect(routeKeysOf(statement?.resource)).toEqual(ADMIN_ROUTE_KEYS);
    expect(ADMIN_ROUTE_KEYS).not.toContain('GET /terms');
    expect(ADMIN_ROUTE_KEYS).not.toContain('DELETE /shards/*/claim');
  });
});

describe('grantRead', () => {
  it('attaches the read policy, which allows exactly the read-only routes', () => {
    expect(roleRights(template(), synth.stack.roles.reader)).toEqual({
      managedPolicyArns: [policyRef(leases().readPolicy)],
      statements: [],
    });
    const [statement] = managedPolicyStatements(template(), leases().readPolicy);
    expect(routeKeysOf(statement?.resource)).toEqual(READ_ROUTE_KEYS);
  });

  it('attaches the read policy to an imported role through the policy’s own role list', () => {
    template().hasResourceProperties('AWS::IAM::ManagedPolicy', {
      Roles: ['ops-console'],
      Description: 'Calls the read-only shardlease routes',
    });
  });
});

describe('grantAdmin', () => {
  it('allows exactly POST /init and DELETE /shards/{shardId}, the forced delete included', () => {
    const [statement] = managedPolicyStatements(template(), leases().adminPolicy);
    expect(routeKeysOf(statement?.resource)).toEqual(ADMIN_ROUTE_KEYS);
  });

  it('adds to what an operator already has', () => {
    expect(roleRights(template(), synth.stack.roles.operator)).toEqual({
      managedPolicyArns: [policyRef(leases().consumePolicy), policyRef(leases().adminPolicy)],
      statements: [],
    });
  });
});

describe('the audiences', () => {
  it('together cover every route, each in the policy its access names', () => {
    const policyOf = {
      consume: leases().consumePolicy,
      read: leases().readPolicy,
      admin: leases().adminPolicy,
    };
    for (const route of ROUTES) {
      const key = `${route.method} ${route.path.replace(/\{[^}]+\}/g, '*')}`;
      const [statement] = managedPolicyStatements(template(), policyOf[route.access]);
      expect([route.name, routeKeysOf(statement?.resource)]).toEqual([
        route.name,
        expect.arrayContaining([key]),
      ]);
    }
  });
});

describe('grantDirectAccess', () => {
  it('allows exactly what DynamoCheckpointer calls, on the table only, when the table has no key of its own', () => {
    expect(roleRights(template(), synth.stack.roles.library)).toEqual({
      managedPolicyArns: [],
      statements: [{ actions: [...DIRECT_ACCESS_ACTIONS], resource: getAtt(leases().table) }],
    });
  });

  it('adds the table’s customer-managed key, usable only through DynamoDB', () => {
    expect(roleRights(template(), synth.stack.roles.keyLibrary)).toEqual({
      managedPolicyArns: [],
      statements: [
        { actions: [...DIRECT_ACCESS_ACTIONS], resource: TABLE_ARN },
        {
          actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
          resource: getAtt(synth.stack.key),
          condition: { StringEquals: { 'kms:ViaService': 'dynamodb.eu-west-1.amazonaws.com' } },
        },
      ],
    });
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in a stack of grantees', () => {
    expect(synth.nag.violations).toEqual([]);
  });

  it('acknowledges nothing on a grantee: only on the constructs’ own policies and functions', () => {
    const ownPaths = [leases().node.path, synth.stack.byoLeases.node.path];
    const elsewhere = synth.nag.acknowledged.filter((f) =>
      f.constructPaths.some((p) => !ownPaths.some((own) => p.startsWith(`${own}/`))),
    );
    expect(elsewhere).toEqual([]);
  });
});
