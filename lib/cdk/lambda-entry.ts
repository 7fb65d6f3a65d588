/**
 * Where the handlers' sources are, found from this file rather than from the working directory, so
 * the construct bundles the same files whether it runs from this repository, from a compiled `dist/`,
 * or from a consumer's node_modules.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

const ROOT = packageRoot();

/** The entry file of `lambda/<name>`: the TypeScript source when present, else the compiled one. */
export function lambdaEntry(name: string): string {
  const candidates = [
    path.join(ROOT, 'lambda', `${name}.ts`),
    path.join(ROOT, 'dist', 'lambda', `${name}.js`),
  ];
  const found = candidates.find((file) => existsSync(file));
  if (!found)
    throw new Error(
      `handler entry for ${JSON.stringify(name)} not found; looked for ${candidates.join(', ')}`,
    );
  return found;
}

/**
 * This package's own lock file, when it has one (in the repository); a published copy has none, and
 * NodejsFunction then finds the consumer's.
 */
export function packageLockFile(): string | undefined {
  const file = path.join(ROOT, 'package-lock.json');
  return existsSync(file) ? file : undefined;
}
