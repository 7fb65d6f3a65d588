/**
 * Mutation testing of the rules that decide safety: `npm run mutate`. Each mutant (a condition negated,
 * a comparison moved by one, a branch emptied, ...) is type-checked first (a mutant that does not compile
 * is no test's business), then the tests that cover it run (coverage per test) from the fast set in
 * jest.mutation.config.js. A mutant no test kills is a rule nothing guards, or an equivalent change: the
 * README's testing section lists the survivors and why each is equivalent.
 */
const { readFileSync } = require('node:fs');

const COORDINATOR = 'lib/client/coordinator.ts';
/** The coordinator's renewal, expiry, fencing and release paths. */
const COORDINATOR_METHODS = [
  'renewInBatches',
  'onRenewalLost',
  'isCurrent',
  'extend',
  'expiryTimer',
  'drop',
  'release',
  'releaseTaken',
  'checkpoint',
];

/**
 * Line ranges of private methods, found by name, so that an edit elsewhere in the file does not move
 * what is mutated. A method runs to the line before the next member.
 */
function methodRanges(file, names) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const member = /^ {2}(?:(?:private|protected|public|static|async|get|readonly)\s+)*([A-Za-z]\w*)\s*[<(]/;
  const members = [];
  lines.forEach((line, index) => {
    const match = member.exec(line);
    if (match) members.push({ name: match[1], line: index + 1, isPrivate: /^ {2}private\b/.test(line) });
  });
  return names.map((name) => {
    const at = members.findIndex((m) => m.name === name && m.isPrivate);
    if (at < 0) throw new Error(`stryker.config.js: no private method ${name} in ${file}`);
    const end = (members[at + 1]?.line ?? lines.length + 1) - 1;
    return `${file}:${members[at].line}-${end}`;
  });
}

/** The sources of each group; jest.mutation.config.js has the tests each group runs. */
const GROUPS = {
  rules: [
    'lib/core/rules.ts',
    'lib/core/eligibility.ts',
    'lib/core/sequence-number.ts',
    'lib/core/lease-time.ts',
  ],
  reaper: ['lib/core/reaper-rules.ts'],
  fleet: ['lib/core/fleet-plan.ts'],
  coordinator: ['lib/client/lease-ledger.ts', ...methodRanges(COORDINATOR, COORDINATOR_METHODS)],
};
const group = process.env.MUTATION_GROUP;
const report = `reports/mutation/${group ?? 'all'}`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
module.exports = {
  testRunner: 'jest',
  jest: { projectType: 'custom', configFile: 'jest.mutation.config.js', enableFindRelatedTests: false },
  checkers: ['typescript'],
  // Only what the mutated sources import (lib/core, lib/client and the store they reach): checking the
  // tests, the bench or lib/cdk (aws-cdk-lib's types) too made each checker 2.6 GB and the bottleneck.
  tsconfigFile: 'tsconfig.mutation.json',
  coverageAnalysis: 'perTest',
  // Static mutants (module-level constants) run every test each, about 45 s apiece here: too slow for a
  // habit. They are reported as ignored; the README says which constants they are.
  ignoreStatic: true,
  mutate: group ? GROUPS[group] : Object.values(GROUPS).flat(),
  // Two jest runners and the type checker (idle once ahead of them); dynalite's times vary, hence the timeout.
  concurrency: 3,
  timeoutMS: 5_000,
  ignorePatterns: ['cdk.out', 'dist', 'coverage', '.bench-out', 'test-results', 'reports'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `${report}.html` },
  jsonReporter: { fileName: `${report}.json` },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
