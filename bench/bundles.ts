/**
 * Issues 3 and 4: each Lambda entry bundled with esbuild as the CDK bundles it (node22, cjs, minified,
 * external source map, `@aws-sdk/*` external since the runtime ships it), its size, and its cold
 * module-load time in fresh `node` processes; beside the same bundle with the SDK inside. A bundle
 * whose metafile lists aws-cdk-lib fails the bench; the size target is reported (✓/✗) like a ratio.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import { median } from './measure';
import type { BenchSection } from './section';

export const TARGET_BUNDLE_KB = 60;
const LOAD_RUNS = 7;

const ROOT = resolve(__dirname, '..');
/** Inside the repo (and in .gitignore) so that an external `@aws-sdk/*` resolves from node_modules. */
export const OUT_DIR = join(ROOT, '.bench-out', 'bundles');

/** A section that can also fail the bench: each failure is printed and makes the exit code non-zero. */
export interface CheckedSection extends BenchSection {
  readonly failures: readonly string[];
}

type Variant = 'external' | 'bundled';

interface Bundle {
  readonly file: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly metafile: Metafile;
}

async function bundle(entry: string, variant: Variant): Promise<Bundle> {
  const file = join(OUT_DIR, variant, `${basename(entry, '.ts')}.js`);
  const result = await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    sourcemap: 'external',
    external: variant === 'external' ? ['@aws-sdk/*'] : [],
    metafile: true,
    logLevel: 'silent',
  });
  const code = readFileSync(file);
  return { file, bytes: code.length, gzipBytes: gzipSync(code).length, metafile: result.metafile };
}

// Runs in a fresh process: ms from the process's time origin to the moment require() returned.
const LOAD_SCRIPT = `
const { performance } = require('node:perf_hooks');
const before = performance.now();
if (process.argv[1]) require(process.argv[1]);
const after = performance.now();
process.stdout.write(JSON.stringify({ before, after }));
`;

/** Environment a handler finds in Lambda; nothing is called, but module scope may read it. */
const LOAD_ENV = {
  ...process.env,
  AWS_REGION: 'us-east-1',
  TABLE_NAME: 'shardlease-bench',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  NODE_OPTIONS: '',
};

interface LoadTime {
  /** Process start → require returned. */
  readonly total: number;
  /** require() alone. */
  readonly require: number;
}

function loadOnce(file: string | undefined): LoadTime {
  const out = spawnSync(process.execPath, ['-e', LOAD_SCRIPT, ...(file ? [file] : [])], {
    cwd: ROOT,
    env: LOAD_ENV,
    encoding: 'utf8',
  });
  if (out.status !== 0) {
    throw new Error(
      `loading ${file ?? 'nothing'} failed (${out.status}): ${out.stderr.trim().slice(0, 500)}`,
    );
  }
  const { before, after } = JSON.parse(out.stdout) as { before: number; after: number };
  return { total: after, require: after - before };
}

/** Median load times of several files, measured in alternation so that machine drift hits all alike. */
function loadTimes(files: readonly (string | undefined)[]): LoadTime[] {
  const samples = files.map(() => [] as LoadTime[]);
  for (let run = 0; run < LOAD_RUNS; run++) {
    for (const [i, file] of files.entries()) samples[i]?.push(loadOnce(file));
  }
  return samples.map((s) => ({
    total: median(s.map((x) => x.total)),
    require: median(s.map((x) => x.require)),
  }));
}

const kb = (bytes: number): string => (bytes / 1024).toFixed(1);
const ms = (value: number): string => value.toFixed(0);

function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return match?.[1] ?? '(this repo)';
}

/** The packages that weigh most in a bundle's output. */
function heaviestPackages(metafile: Metafile, count: number): string {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, bytes]) => `${name} ${kb(bytes)} KB`)
    .join(', ');
}

export async function run(): Promise<CheckedSection> {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const lambdaDir = join(ROOT, 'lambda');
  const entries = readdirSync(lambdaDir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => join(lambdaDir, f));

  const failures: string[] = [];
  const built: { name: string; external: Bundle; bundled: Bundle }[] = [];
  for (const entry of entries) {
    const name = basename(entry, '.ts');
    const external = await bundle(entry, 'external');
    const bundled = await bundle(entry, 'bundled');
    for (const b of [external, bundled]) {
      const cdk = Object.keys(b.metafile.inputs).filter((input) => packageOf(input) === 'aws-cdk-lib');
      if (cdk.length > 0) {
        failures.push(
          `lambda/${name}.ts bundles aws-cdk-lib (${cdk.length} files, e.g. ${cdk[0]}): ` +
            'a handler must never import lib/cdk or aws-cdk-lib',
        );
      }
    }
    built.push({ name, external, bundled });
  }

  // One pass over every file per run: a slow moment of the machine hits every bundle alike.
  process.stderr.write(`bench: ${built.length * 2 + 1} bundles × ${LOAD_RUNS} cold loads…\n`);
  const files = [undefined, ...built.flatMap((b) => [b.external.file, b.bundled.file])];
  const times = loadTimes(files);
  const baseline = times[0] as LoadTime;
  const rows = built.map((b, i) => {
    const external = times[1 + 2 * i] as LoadTime;
    const bundled = times[2 + 2 * i] as LoadTime;
    return [
      `lambda/${b.name}.ts`,
      kb(b.external.bytes) + (b.external.bytes > TARGET_BUNDLE_KB * 1024 ? ' ✗' : ' ✓'),
      kb(b.external.gzipBytes),
      kb(b.bundled.bytes),
      kb(b.bundled.gzipBytes),
      `${ms(external.total)} (${ms(external.require)})`,
      `${ms(bundled.total)} (${ms(bundled.require)})`,
    ];
  });
  const over = built.filter((b) => b.external.bytes > TARGET_BUNDLE_KB * 1024);

  const largest = built.reduce((a, b) => (b.external.bytes > a.external.bytes ? b : a));
  return {
    title: 'Lambda bundles: size and cold module load (esbuild as the CDK runs it)',
    columns: [
      'entry',
      `KB min, SDK external (target ≤ ${TARGET_BUNDLE_KB})`,
      'KB gzip, SDK external',
      'KB min, SDK bundled',
      'KB gzip, SDK bundled',
      'cold load ms, SDK external (require alone)',
      'cold load ms, SDK bundled (require alone)',
    ],
    rows,
    failures,
    notes: [
      'esbuild JS API: bundle, platform node, target node22, format cjs, minify, sourcemap external ' +
        "(the .map is not counted), `external: ['@aws-sdk/*']` or nothing external; gzip at zlib's default level.",
      `Cold load: median of ${LOAD_RUNS} fresh \`node -e\` processes (${process.version}; Lambda runs ` +
        'Node 22), from the process time origin to `require(bundle)` returned; in brackets the ' +
        `require alone. A process that requires nothing reaches that point in ${ms(baseline.total)} ms. ` +
        'With the SDK external it loads from node_modules, as Lambda loads it from the runtime. Module ' +
        'scope only: clients and configuration are built on the first invocation.',
      over.length === 0
        ? `Every bundle is within the ${TARGET_BUNDLE_KB} KB target with the SDK external.`
        : `${over.length} of ${built.length} bundles are over the ${TARGET_BUNDLE_KB} KB target with the SDK ` +
          `external (marked ✗); a target, reported, not a failure of the bench.`,
      `Heaviest packages in the largest bundle (lambda/${largest.name}.ts, SDK external): ` +
        `${heaviestPackages(largest.external.metafile, 6)}.`,
      ...built
        .filter((b) => b.name === 'get-lease' && b !== largest)
        .map(
          (b) =>
            `Heaviest packages in lambda/${b.name}.ts (SDK external): ${heaviestPackages(b.external.metafile, 6)}.`,
        ),
      `Bundles written to ${relative(ROOT, OUT_DIR)}/ (in .gitignore).`,
    ],
  };
}
