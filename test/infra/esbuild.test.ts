/**
 * esbuild is a peer dependency: the construct finds it where aws-cdk-lib's NodejsFunction does, and
 * without it fails with a message about esbuild instead of NodejsFunction's fall back to Docker.
 * A directory with no node_modules and an empty PATH stand for an app without esbuild.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { ESBUILD_MISSING } from '../../lib/cdk';
import { assertEsbuildAvailable, cdkEsbuildSearch, findEsbuild } from '../../lib/cdk/esbuild';

let empty: string;
beforeAll(() => {
  empty = mkdtempSync(path.join(tmpdir(), 'shardlease-no-esbuild-'));
});
afterAll(() => rmSync(empty, { recursive: true, force: true }));

const nowhere = () => ({ requireFrom: path.join(empty, 'app.js'), path: empty });

describe('findEsbuild', () => {
  it('finds the esbuild installed next to aws-cdk-lib, as NodejsFunction does', () => {
    const version = (require('esbuild/package.json') as { version: string }).version;
    expect(findEsbuild(cdkEsbuildSearch())).toBe(version);
  });

  it('finds an esbuild binary on PATH when none is installed', () => {
    const bin = path.dirname(require.resolve('esbuild/bin/esbuild'));
    expect(findEsbuild({ requireFrom: path.join(empty, 'app.js'), path: bin })).toMatch(/^0\.\d+\.\d+$/);
  });

  it('finds nothing where neither is', () => {
    expect(findEsbuild(nowhere())).toBeUndefined();
  });
});

describe('assertEsbuildAvailable', () => {
  it('fails with a message about esbuild when the stack is bundled and there is none', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => assertEsbuildAvailable(stack, nowhere())).toThrow(ESBUILD_MISSING);
    expect(ESBUILD_MISSING).toContain('npm install --save-dev esbuild');
  });

  it('asks for nothing when the synthesis skips bundling', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    expect(() => assertEsbuildAvailable(stack, nowhere())).not.toThrow();
  });
});
