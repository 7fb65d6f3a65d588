#!/usr/bin/env node
/**
 * `npm run mutate [-- group…]`: mutation testing one group of sources at a time (rules, reaper, fleet,
 * coordinator; all by default), each with the tests that exercise it (stryker.config.js and
 * jest.mutation.config.js). Each group's report is reports/mutation/<group>.html (and .json); the
 * summary line per group, with its time, closes the output.
 */
const { spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const ALL = ['rules', 'reaper', 'fleet', 'coordinator'];
const asked = process.argv.slice(2);
const unknown = asked.filter((g) => !ALL.includes(g));
if (unknown.length > 0) {
  process.stderr.write(`unknown group(s): ${unknown.join(', ')}; choose from ${ALL.join(', ')}\n`);
  process.exit(2);
}
const groups = asked.length > 0 ? asked : ALL;
const stryker = join(__dirname, '..', 'node_modules', '.bin', 'stryker');

/** Killed and timed-out mutants over all that compiled and were not ignored, per file. */
function scores(group) {
  const report = JSON.parse(
    readFileSync(join(__dirname, '..', 'reports', 'mutation', `${group}.json`), 'utf8'),
  );
  return Object.entries(report.files).map(([file, { mutants }]) => {
    const count = (status) => mutants.filter((m) => m.status === status).length;
    const detected = count('Killed') + count('Timeout');
    const valid = detected + count('Survived') + count('NoCoverage');
    return `${file}: ${valid === 0 ? '-' : ((100 * detected) / valid).toFixed(1)}% (${detected} of ${valid}; ${count('Survived')} survived, ${count('NoCoverage')} not covered)`;
  });
}

const lines = [];
let failed = false;
for (const group of groups) {
  const started = Date.now();
  const run = spawnSync(stryker, ['run'], {
    stdio: 'inherit',
    env: { ...process.env, MUTATION_GROUP: group },
  });
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  if (run.status !== 0) {
    failed = true;
    lines.push(`${group}: stryker exited ${run.status} after ${minutes} min`);
    continue;
  }
  lines.push(`${group} (${minutes} min):`, ...scores(group).map((s) => `  ${s}`));
}
process.stdout.write(`\nmutation testing\n${lines.join('\n')}\n`);
process.exit(failed ? 1 : 0);
