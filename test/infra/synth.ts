/**
 * Shared by the infra tests: one synthesis per test file, with cdk-nag's AwsSolutions pack, and
 * readers that find resources through the construct tree instead of hashed logical ids.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, type CfnElement, type Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

export interface Synthesized<S extends Stack> {
  readonly stack: S;
  readonly template: Template;
  readonly assembly: CloudAssembly;
  readonly nag: NagReport;
  /** Removes the temporary output directory. */
  dispose(): void;
}

export interface NagFinding {
  readonly ruleName: string;
  readonly constructPaths: readonly string[];
  readonly acknowledgedId?: string;
  readonly reason?: string;
}

export interface NagReport {
  readonly violations: readonly NagFinding[];
  readonly acknowledged: readonly NagFinding[];
}

interface ReportViolation {
  ruleName: string;
  violatingConstructs: { constructPath: string }[];
  acknowledgedId?: string;
  reason?: string;
}

function readNagReport(assembly: CloudAssembly): NagReport {
  const report = JSON.parse(
    readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'),
  ) as {
    pluginReports: {
      pluginName: string;
      violations?: ReportViolation[];
      suppressedViolations?: ReportViolation[];
    }[];
  };
  const plugin = report.pluginReports.find((p) => p.pluginName === 'AwsSolutions');
  if (!plugin) throw new Error('the AwsSolutions pack did not run');
  const finding = (v: ReportViolation): NagFinding => ({
    ruleName: v.ruleName,
    constructPaths: v.violatingConstructs.map((c) => c.constructPath),
    acknowledgedId: v.acknowledgedId,
    reason: v.reason,
  });
  return {
    violations: (plugin.violations ?? []).map(finding),
    acknowledged: (plugin.suppressedViolations ?? []).map(finding),
  };
}

/**
 * Builds a stack in a fresh app and synthesizes it once. `bundle: false` skips esbuild (the context
 * key `cdk synth --exclusively` uses), for tests that only read the template.
 */
export function synthesize<S extends Stack>(
  build: (app: App) => S,
  options: { bundle: boolean },
): Synthesized<S> {
  const outdir = mkdtempSync(path.join(tmpdir(), 'shardlease-cdk-'));
  const app = new App({ outdir, context: options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] } });
  const stack = build(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let assembly: CloudAssembly;
  try {
    assembly = app.synth();
  } catch (error) {
    // The report file carries the findings; the thrown message only points at it.
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
  return {
    stack,
    template: Template.fromStack(stack),
    assembly,
    nag: readNagReport(assembly),
    dispose: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return element.stack.getLogicalId(element);
}

export interface Statement {
  readonly actions: readonly string[];
  readonly resource: unknown;
  /** Absent (undefined) unless the statement has a Condition. */
  readonly condition?: unknown;
}

interface PolicyDocument {
  Statement: { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown }[];
}

function statementsOf(document: PolicyDocument): Statement[] {
  return document.Statement.map((s) => {
    if (s.Effect !== 'Allow') throw new Error(`unexpected ${s.Effect} statement`);
    return {
      actions: typeof s.Action === 'string' ? [s.Action] : s.Action,
      resource: s.Resource,
      ...(s.Condition !== undefined && { condition: s.Condition }),
    };
  });
}

function roleResource(template: Template, owner: IFunction | IRole) {
  const iamRole = 'functionArn' in owner ? owner.role : owner;
  if (!iamRole) throw new Error(`${owner.node.path} has no role`);
  const roleId = logicalId(iamRole);
  const role = template.findResources('AWS::IAM::Role')[roleId];
  if (!role) throw new Error(`${owner.node.path}: no role ${roleId} in the template`);
  return { roleId, role };
}

/**
 * Every statement of every inline policy on the role (a function's: its execution role); throws if the
 * role has managed policies (read those with `attachedPolicies`), so no right goes unseen.
 */
export function roleStatements(template: Template, owner: IFunction | IRole): Statement[] {
  const { roleId, role } = roleResource(template, owner);
  if (role.Properties?.ManagedPolicyArns !== undefined) {
    throw new Error(
      `${owner.node.path}'s role has managed policies: ${JSON.stringify(role.Properties.ManagedPolicyArns)}`,
    );
  }
  return inlineStatements(template, roleId);
}

function inlineStatements(template: Template, roleId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap((policy) => statementsOf(policy.Properties.PolicyDocument));
}

/** The role's managed policy ARNs as they stand in the template, and its inline statements. */
export function roleRights(
  template: Template,
  role: IRole,
): { managedPolicyArns: unknown[]; statements: Statement[] } {
  const { roleId, role: resource } = roleResource(template, role);
  return {
    managedPolicyArns: (resource.Properties?.ManagedPolicyArns as unknown[] | undefined) ?? [],
    statements: inlineStatements(template, roleId),
  };
}

/** The statements of a managed policy of the template. */
export function managedPolicyStatements(template: Template, policy: IConstruct): Statement[] {
  const resource = template.findResources('AWS::IAM::ManagedPolicy')[logicalId(policy)];
  if (!resource) throw new Error(`no managed policy ${policy.node.path} in the template`);
  return statementsOf(resource.Properties.PolicyDocument);
}

export function actionsOf(statements: readonly Statement[]): string[] {
  return [...new Set(statements.flatMap((s) => s.actions))].sort();
}

export function getAtt(construct: IConstruct, attribute = 'Arn'): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [logicalId(construct), attribute] };
}

export interface DashboardWidget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly metrics?: unknown[][];
    readonly alarms?: unknown[];
    readonly query?: string;
  };
}

/**
 * The widgets of the template's one dashboard. Its body is a JSON string joined with tokens (names,
 * the region), each of which stands inside a JSON string, so a placeholder keeps it parseable.
 */
export function dashboardWidgets(template: Template): DashboardWidget[] {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  if (dashboards.length !== 1) throw new Error(`${dashboards.length} dashboards in the template`);
  const body = dashboards[0]?.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('');
  return (JSON.parse(text) as { widgets: DashboardWidget[] }).widgets;
}
