/**
 * The package as a consumer gets it. `npm pack` builds it (prepack) and the tarball is installed, with
 * aws-cdk-lib, constructs, esbuild, typescript and @types/node and nothing else (no @types/aws-lambda),
 * into a fresh TypeScript project whose program is the README's construct example. That project must
 * type-check with `skipLibCheck: false` and synthesize, bundling every handler with its own esbuild;
 * without esbuild it must fail with the construct's message, not fall back to Docker.
 *
 * Installs come from npm's cache when it has the packages (`--prefer-offline`): `npm ci` has just put
 * every one of them there, at the versions of the lock file, which the install asks for.
 *
 * It takes about a minute, mostly building, type-checking aws-cdk-lib's declarations and bundling, so
 * `npm test` runs it on its own after the other suites (`npm run test:package`), where its processes
 * do not slow down the timing-sensitive lease tests running in parallel.
 */
import { type ExecFileSyncOptions, execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ESBUILD_MISSING } from '../../lib/cdk/esbuild';
import { ROUTES } from '../../lib/http/routes';

const ROOT = path.resolve(__dirname, '../..');
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};
const locked = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
};
const lockedVersion = (name: string): string => {
  const version = locked.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`${name} is not in package-lock.json`);
  return `${name}@${version}`;
};

/** npm's own variables from `npm test` would steer the nested npm (its prefix, its package). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return { ...env, ...extra };
}

function run(command: string, args: readonly string[], options: ExecFileSyncOptions): string {
  return execFileSync(command, args, {
    encoding: 'utf8',
    stdio: 'pipe',
    env: childEnv(),
    ...options,
  }) as string;
}

interface PackResult {
  readonly filename: string;
  readonly files: readonly { path: string }[];
}

let work: string;
let project: string;
let packed: PackResult;
/** tsc's verdict on the project, its output split by file (app.ts, public-api.ts, or a library's). */
let typecheck: { status: number | null; output: string };
let synth: { status: number | null; output: string; outdir: string };

/** The first ```ts block of the README that uses the construct: what a reader would copy. */
function readmeExample(readme: string): string {
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const example = blocks.find((b) => b.includes("from 'shardlease/cdk'"));
  if (!example) throw new Error("the README has no ```ts example importing 'shardlease/cdk'");
  return example;
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'shardlease-package-'));
  // The prepack script's output comes first on stdout; the JSON report is the rest.
  const out = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
  const [result] = JSON.parse(out.slice(out.search(/^\[/m))) as PackResult[];
  if (!result) throw new Error('npm pack reported no tarball');
  packed = result;

  project = path.join(work, 'app');
  mkdirSync(project);
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'shardlease-consumer', version: '1.0.0', private: true }, null, 2),
  );
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'node16',
        moduleResolution: 'node16',
        strict: true,
        skipLibCheck: false,
        types: ['node'],
        outDir: 'build',
        // Synthesis runs whatever the type check says, so each has its own verdict.
        noEmitOnError: false,
      },
      include: ['app.ts', 'public-api.ts'],
    }),
  );
  run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      path.join(work, packed.filename),
      ...['aws-cdk-lib', 'constructs', 'esbuild', 'typescript', '@types/node'].map(lockedVersion),
    ],
    { cwd: project },
  );
  const readme = readFileSync(path.join(project, 'node_modules', manifest.name, 'README.md'), 'utf8');
  writeFileSync(path.join(project, 'app.ts'), readmeExample(readme));
  // Every public type of both entry points, not only what the example happens to use.
  writeFileSync(
    path.join(project, 'public-api.ts'),
    "export * as shardlease from 'shardlease';\nexport * as cdk from 'shardlease/cdk';\n",
  );

  // From the project, so tsc names files relative to it: `app.ts`, `node_modules/...`.
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], {
    cwd: project,
    encoding: 'utf8',
    env: childEnv(),
  });
  typecheck = { status: tsc.status, output: `${tsc.stdout}${tsc.stderr}` };

  const outdir = path.join(work, 'cdk.out');
  const app = spawnSync(process.execPath, [path.join(project, 'build/app.js')], {
    cwd: project,
    encoding: 'utf8',
    env: childEnv({ CDK_OUTDIR: outdir }),
  });
  synth = { status: app.status, output: `${app.stdout}${app.stderr}`, outdir };
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const shipped = () => packed.files.map((f) => f.path);
const installed = (file: string) => path.join(project, 'node_modules', manifest.name, file);

describe('the tarball', () => {
  it('holds the built package and no source, test or repository file', () => {
    const files = shipped();
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'openapi.json']));
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => !/^(dist\/(lib|lambda)\/|dist\/bin\/cli\.|[^/]+$)/.test(f))).toEqual([]);
    expect(files).not.toContain('package-lock.json');
  });

  it('has a compiled entry for every handler the construct bundles', () => {
    for (const entry of [...ROUTES.map((r) => r.entry), 'not-found', 'reaper']) {
      expect(shipped()).toContain(`dist/lambda/${entry}.js`);
    }
  });

  it('has source maps that carry the sources they point at, since the sources are not shipped', () => {
    const maps = shipped().filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const file of maps) {
      const map = JSON.parse(readFileSync(installed(file), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      const missing = map.sources.filter((_, i) => typeof map.sourcesContent?.[i] !== 'string');
      expect([file, missing]).toEqual([file, []]);
    }
  });

  it('is publishable: not private', () => {
    const installedManifest = JSON.parse(readFileSync(installed('package.json'), 'utf8')) as {
      private?: boolean;
    };
    expect(installedManifest.private).toBeUndefined();
  });
});

describe('what a consumer loads', () => {
  const declared = () =>
    new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)]);
  const packageOf = (specifier: string) =>
    specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? '');
  const builtin = (specifier: string) =>
    specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0] ?? '');

  /** Every bare specifier reached from `entries` through the package's own relative imports. */
  function reachable(entries: readonly string[], pattern: RegExp, extensions: readonly string[]): string[] {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(pattern)) {
        const specifier = m[1] ?? '';
        if (!specifier.startsWith('.')) {
          if (!builtin(specifier)) bare.add(packageOf(specifier));
          continue;
        }
        const base = path.resolve(path.dirname(file), specifier);
        const target = [
          ...extensions.map((e) => `${base}${e}`),
          ...extensions.map((e) => path.join(base, `index${e}`)),
        ].find((candidate) => existsSync(candidate));
        if (target && !target.endsWith('.json')) visit(target);
      }
    };
    for (const entry of entries) visit(installed(entry));
    return [...bare].sort();
  }

  it('requires only declared dependencies, from the entry points, the CLI and the handlers', () => {
    const entries = [
      'dist/lib/index.js',
      'dist/lib/cdk/index.js',
      'dist/bin/cli.js',
      ...readdirSync(installed('dist/lambda'))
        .filter((f) => f.endsWith('.js'))
        .map((f) => `dist/lambda/${f}`),
    ];
    const modules = reachable(entries, /require\("([^"]+)"\)/g, ['.js', '.json', '']);
    expect(modules.filter((m) => !declared().has(m))).toEqual([]);
  });

  it('names in its public types only declared packages, and never aws-lambda', () => {
    const modules = reachable(
      ['dist/lib/index.d.ts', 'dist/lib/cdk/index.d.ts'],
      /(?:from|import\()\s*'([^']+)'/g,
      ['.d.ts', ''],
    );
    expect(modules.filter((m) => !declared().has(m))).toEqual([]);
    expect(modules).not.toContain('aws-lambda');
  });
});

describe('a fresh TypeScript project with the README’s construct example', () => {
  const errorsOf = (origin: (file: string) => boolean) =>
    typecheck.output
      .split('\n')
      .filter((line) => /error TS\d+/.test(line) && origin(line.split('(')[0] ?? ''));

  it('type-checks the example with skipLibCheck: false and no @types/aws-lambda installed', () => {
    expect(existsSync(path.join(project, 'node_modules/@types/aws-lambda'))).toBe(false);
    expect(errorsOf((file) => file === 'app.ts')).toEqual([]);
  });

  it('type-checks every public type of both entry points, libraries’ declarations included', () => {
    expect(typecheck).toEqual({ status: 0, output: '' });
  });

  it('synthesizes, every handler bundled by the project’s own esbuild', () => {
    expect(synth).toMatchObject({ status: 0 });
    const assembly = JSON.parse(readFileSync(path.join(synth.outdir, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { type: string; properties?: { templateFile?: string } }>;
    };
    type Resource = { Type: string; Properties: { Code?: { S3Key?: string } } };
    const resources = Object.values(assembly.artifacts)
      .filter((a) => a.type === 'aws:cloudformation:stack')
      .flatMap((a) => {
        const file = path.join(synth.outdir, a.properties?.templateFile ?? '');
        const template = JSON.parse(readFileSync(file, 'utf8')) as { Resources: Record<string, Resource> };
        return Object.values(template.Resources);
      });
    const functions = resources.filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(ROUTES.length + 2);
    for (const fn of functions) {
      // Each bundle is staged next to the template as asset.<hash>, and uploaded as <hash>.zip.
      const asset = `asset.${fn.Properties.Code?.S3Key?.replace(/\.zip$/, '')}`;
      expect(readFileSync(path.join(synth.outdir, asset, 'index.js'), 'utf8').length).toBeGreaterThan(1000);
    }
    expect(resources.filter((r) => r.Type === 'AWS::CloudWatch::Alarm').length).toBeGreaterThan(0);
  });

  it('fails with the construct’s message, not a Docker error, when esbuild is not installed', () => {
    for (const dir of ['esbuild', '@esbuild'])
      rmSync(path.join(project, 'node_modules', dir), { recursive: true, force: true });
    // Without the .bin directories either, where an esbuild binary could still be found.
    const PATH = (process.env.PATH ?? '')
      .split(path.delimiter)
      .filter((p) => !p.includes(`node_modules${path.sep}.bin`))
      .join(path.delimiter);
    const app = spawnSync(process.execPath, [path.join(project, 'build/app.js')], {
      cwd: project,
      encoding: 'utf8',
      env: childEnv({ CDK_OUTDIR: path.join(work, 'cdk.out.no-esbuild'), PATH }),
    });
    expect(app.status).not.toBe(0);
    expect(app.stderr).toContain(ESBUILD_MISSING);
    expect(app.stderr).not.toContain('Switching to Docker bundling');
  });
});
