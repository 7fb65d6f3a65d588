/**
 * The construct bundles its handlers with a local esbuild and never with Docker. NodejsFunction looks
 * for esbuild the way `findEsbuild` does and, when it finds none, silently switches to Docker, which
 * then fails (or hangs) with a message about Docker; this check fails first, with one about esbuild.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface EsbuildSearch {
  /** A file whose node_modules chain is searched, as aws-cdk-lib searches from its own files. */
  readonly requireFrom: string;
  /** The PATH searched for an `esbuild` binary. */
  readonly path: string | undefined;
}

/** Where aws-cdk-lib's NodejsFunction looks: next to aws-cdk-lib first, then on PATH. */
export function cdkEsbuildSearch(): EsbuildSearch {
  return { requireFrom: require.resolve('aws-cdk-lib/package.json'), path: process.env.PATH };
}

/** The version of the esbuild NodejsFunction would use, or undefined when it would fall back to Docker. */
export function findEsbuild(search: EsbuildSearch): string | undefined {
  try {
    const pkg = createRequire(search.requireFrom)('esbuild/package.json') as { version?: unknown };
    if (typeof pkg.version === 'string') return pkg.version;
  } catch {
    // Not installed there; the binary on PATH is NodejsFunction's second choice.
  }
  const run = spawnSync('esbuild', ['--version'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: search.path ?? '' },
  });
  return run.status === 0 && !run.error ? run.stdout.trim() : undefined;
}

export const ESBUILD_MISSING =
  'shardlease bundles its Lambda handlers with esbuild, locally and without Docker, and found no ' +
  'esbuild: install it in the CDK app that uses the construct (`npm install --save-dev esbuild`, a ' +
  'peer dependency of shardlease, 0.x as aws-cdk-lib requires), next to aws-cdk-lib';

/** Throws ESBUILD_MISSING when this synthesis bundles `scope`'s stack and no esbuild can be found. */
export function assertEsbuildAvailable(scope: IConstruct, search: EsbuildSearch = cdkEsbuildSearch()): void {
  // `cdk synth --exclusively` and tests that skip bundling need no esbuild.
  if (!Stack.of(scope).bundlingRequired) return;
  if (findEsbuild(search) === undefined) throw new Error(ESBUILD_MISSING);
}
