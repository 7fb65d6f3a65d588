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
}

/** Every statement of every inline policy on the role (a function's: its execution role); throws if the role has managed policies. */
export function roleStatements(template: Template, owner: IFunction | IRole): Statement[] {
  const iamRole = 'functionArn' in owner ? owner.role : owner;
  if (!iamRole) throw new Error(`${owner.node.path} has no role`);
  const roleId = logicalId(iamRole);
  const role = template.findResources('AWS::IAM::Role')[roleId];
  if (!role) throw new Error(`${owner.node.path}: no role ${roleId} in the template`);
  if (role.Properties?.ManagedPolicyArns !== undefined) {
    throw new Error(
      `${owner.node.path}'s role has managed policies: ${JSON.stringify(role.Properties.ManagedPolicyArns)}`,
    );
  }
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap((policy) =>
    (
      policy.Properties.PolicyDocument.Statement as {
        Action: string | string[];
        Resource: unknown;
        Effect: string;
      }[]
    ).map((s) => {
      if (s.Effect !== 'Allow') throw new Error(`unexpected ${s.Effect} statement`);
      return { actions: typeof s.Action === 'string' ? [s.Action] : s.Action, resource: s.Resource };
    }),
  );
}

export function actionsOf(statements: readonly Statement[]): string[] {
  return [...new Set(statements.flatMap((s) => s.actions))].sort();
}

export function getAtt(construct: IConstruct, attribute = 'Arn'): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [logicalId(construct), attribute] };
}
