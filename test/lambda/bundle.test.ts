/**
 * Every Lambda entry bundled as the CDK construct bundles it (esbuild, Node.js 22, CommonJS, minified,
 * the runtime's AWS SDK left external): no bundle may pull in the CDK, each stays within the size
 * budget, and each bundle loads and exports its handler.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { build, type Metafile, type OutputFile } from 'esbuild';
import { ROUTES } from '../../lib/http/routes';

const ROOT = join(__dirname, '..', '..');
const LAMBDA_DIR = join(ROOT, 'lambda');
const ENTRIES = readdirSync(LAMBDA_DIR)
  .filter((file) => file.endsWith('.ts'))
  .map((file) => basename(file, '.ts'))
  .sort();

/**
 * Minified bytes. Measured on 2026-11-25: 72.3 KB for every HTTP handler (zod/mini 22 KB, Powertools
 * Logger 22 KB, our core, store and dispatcher 26 KB), 27.7 KB for not-found, 50.5 KB for the reaper.
 * On 2026-11-30 the fleet plan, snapshot and discovery made every HTTP handler 85.5 KB (every handler
 * shares one engine); the guard moved to 96 KB so that it still catches a stray dependency.
 */
const BUDGET_BYTES = 96 * 1024;

interface Bundle {
  readonly entry: string;
  readonly output: OutputFile;
  readonly inputs: readonly string[];
}

let bundles: Map<string, Bundle>;

beforeAll(async () => {
  // One build of every entry: esbuild parses shared modules once and bundles the entries in parallel.
  const result = await build({
    entryPoints: ENTRIES.map((entry) => join(LAMBDA_DIR, `${entry}.ts`)),
    outdir: join(ROOT, 'cdk.out', 'bundle-test'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    external: ['@aws-sdk/*'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const metafile: Metafile = result.metafile;
  bundles = new Map();
  for (const [outPath, output] of Object.entries(metafile.outputs)) {
    if (!output.entryPoint) continue;
    const entry = basename(output.entryPoint, '.ts');
    const file = result.outputFiles.find((f) => f.path.endsWith(outPath));
    if (!file) throw new Error(`esbuild wrote no file for ${outPath}`);
    bundles.set(entry, { entry, output: file, inputs: Object.keys(output.inputs) });
  }
});

function bundleOf(entry: string): Bundle {
  const bundle = bundles.get(entry);
  if (!bundle) throw new Error(`no bundle for lambda/${entry}.ts`);
  return bundle;
}

/** Runs a CommonJS bundle as Lambda would, with `require` resolving from lambda/ (the SDK comes from node_modules). */
function load(bundle: Bundle): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  const filename = join(LAMBDA_DIR, `${bundle.entry}.js`);
  const run = new Function('exports', 'require', 'module', '__filename', '__dirname', bundle.output.text);
  run(module.exports, createRequire(filename), module, filename, LAMBDA_DIR);
  return module.exports;
}

describe('the Lambda bundles', () => {
  it('include one entry per route of ROUTES, the $default route and the reaper', () => {
    expect(ENTRIES).toEqual([...ROUTES.map((r) => r.entry), 'not-found', 'reaper'].sort());
  });

  it.each(ENTRIES)('lambda/%s.ts bundles without aws-cdk-lib, constructs or the AWS SDK', (entry) => {
    const { inputs } = bundleOf(entry);
    expect(inputs.filter((input) => /node_modules\/(aws-cdk-lib|constructs|@aws-sdk)\//.test(input))).toEqual(
      [],
    );
    expect(inputs.filter((input) => /(^|\/)lib\/cdk\//.test(input))).toEqual([]);
  });

  it.each(ENTRIES)('lambda/%s.ts loads and exports a handler function', (entry) => {
    expect(typeof load(bundleOf(entry)).handler).toBe('function');
  });

  const withinBudget = (entry: string) => {
    const size = bundleOf(entry).output.contents.byteLength;
    expect({ entry, size, withinBudget: size <= BUDGET_BYTES }).toEqual({ entry, size, withinBudget: true });
  };
  it.each(ENTRIES)(`lambda/%s.ts stays within ${BUDGET_BYTES / 1024} KB minified`, withinBudget);
});
