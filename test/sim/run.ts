/**
 * Replays simulated runs from the command line (tsx):
 *
 *   npm run sim -- --seed 42 [--verbose]         one seed: its full trace, then its summary
 *   npm run sim -- --seeds 1..1000 [--threads N]  a range, in worker threads: each failing seed (its
 *                                                 violations and trace tail), then the counts
 *   npm run sim -- --liveness [--seeds 1..50]     the liveness table: per kind of fault alone, and
 *                                                 mixed, in both modes, the longest a shard sat idle
 *   npm run sim -- --bounds [--seeds 1..100]      the takeover and rebalance bounds the README states,
 *                                                 measured over that many runs
 *
 * The liveness and bounds tables are written into README.md between their markers, with the date, the
 * machine and the command, when no seed failed (`--no-readme` only prints them).
 * `--only KIND` gives worlds with that one kind of fault (what the liveness table runs).
 * `--verbose` adds the coordinators' own log lines to the trace. `--set name=value` replaces a number
 * (or the mode) of every seed's world, e.g. `--set claimTimeoutMs=12000` or `--set mode=heartbeat`.
 * The exit code is 1 when a seed fails.
 */

import { readmeBlock, runStartingNow, sectionMarkdown, writeReadmeBlocks } from '../../bench/readme';
import type { BenchSection } from '../../bench/section';
import { boundsSection, measureBounds } from './bounds';
import { livenessSection, livenessTable } from './liveness-table';
import { defaultThreads, runSeedsInParallel } from './parallel';
import { describeFailure, formatSummary } from './report';
import { configFor, FAULT_KINDS, type FaultKind, runSeed, type WorldOverrides } from './world';

const USAGE =
  'usage: npm run sim -- --seed N [--verbose] | --seeds A..B [--threads N] | --liveness [--seeds A..B] [--no-readme] | --bounds [--seeds A..B] [--no-readme]; with [--only KIND] [--set name=value]...';

interface Args {
  readonly from: number;
  readonly to: number;
  readonly single: boolean;
  readonly verbose: boolean;
  readonly threads: number;
  readonly overrides: WorldOverrides;
  readonly liveness: boolean;
  readonly bounds: boolean;
  readonly only: FaultKind | undefined;
  /** The liveness and bounds tables go into README.md unless `--no-readme`. */
  readonly writeReadme: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let range: [number, number] | undefined;
  let single = false;
  let verbose = false;
  let threads = defaultThreads();
  let liveness = false;
  let bounds = false;
  let only: FaultKind | undefined;
  let writeReadme = true;
  const overrides: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--verbose' || arg === '-v') verbose = true;
    else if (arg === '--liveness') liveness = true;
    else if (arg === '--bounds') bounds = true;
    else if (arg === '--no-readme') writeReadme = false;
    else if (arg === '--only') {
      const kind = argv[++i] as FaultKind;
      if (!FAULT_KINDS.includes(kind))
        throw new Error(`--only wants one of ${FAULT_KINDS.join(', ')}\n${USAGE}`);
      only = kind;
    } else if (arg === '--seed') {
      const seed = parseNumber(argv[++i]);
      range = [seed, seed];
      single = true;
    } else if (arg === '--seeds') {
      const [from, to] = String(argv[++i]).split('..');
      range = [parseNumber(from), parseNumber(to ?? from)];
      if (range[1] < range[0]) throw new Error(`--seeds ${range[0]}..${range[1]}: the range is empty`);
    } else if (arg === '--threads') threads = Math.max(1, parseNumber(argv[++i]));
    else if (arg === '--set') {
      const [name, value] = String(argv[++i]).split('=');
      if (!name || value === undefined) throw new Error(`--set wants name=value\n${USAGE}`);
      overrides[name] = name === 'mode' ? value : parseNumber(value);
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  if (liveness) range ??= [1, 50];
  if (bounds) range ??= [1, 100];
  if (!range) throw new Error(USAGE);
  return {
    from: range[0],
    to: range[1],
    single,
    verbose,
    threads,
    overrides: overrides as WorldOverrides,
    liveness,
    bounds,
    only,
    writeReadme,
  };
}

function parseNumber(text: string | undefined): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a whole number: ${text}\n${USAGE}`);
  return n;
}

/**
 * Prints a measured table and, when nothing failed, writes it into README.md between its markers with
 * the date, the machine and the command as given (`--no-readme` only prints).
 */
function report(name: string, section: BenchSection, failures: readonly string[], args: Args): void {
  console.log(sectionMarkdown(section));
  for (const failure of failures.slice(0, 5)) console.log(`FAIL ${failure}\n`);
  if (failures.length > 0 || !args.writeReadme) return;
  const command = `npm run sim -- ${process.argv
    .slice(2)
    .filter((arg) => arg !== '--no-readme')
    .join(' ')}`;
  writeReadmeBlocks([{ name, block: readmeBlock(section, { ...runStartingNow(), command }) }]);
  console.log(`wrote ${name} into README.md`);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.bounds) {
    const runs = args.to - args.from + 1;
    const bounds = await measureBounds(runs);
    const held = bounds.every((b) => Math.max(...b.samples) <= b.statedPeriods + 1e-9);
    report(
      'sim-bounds',
      boundsSection(bounds, runs),
      held ? [] : ['a bound the README states did not hold'],
      args,
    );
    return held ? 0 : 1;
  }
  if (args.liveness) {
    const { rows, realMs } = await livenessTable(args.from, args.to, args.threads);
    const section = livenessSection(rows, configFor(1).leaseDurationMs, `${args.from}..${args.to}`);
    report('sim-liveness', section, section.failures, args);
    console.log(`(${(realMs / 1000).toFixed(1)} s)`);
    return section.failures.length > 0 ? 1 : 0;
  }
  if (args.single) {
    const result = await runSeed(
      args.from,
      { verbose: args.verbose, stopAtFirstViolation: false },
      args.overrides,
      args.only,
    );
    console.log(result.trace.format());
    console.log('');
    for (const v of result.violations) console.log(`VIOLATION at ${v.atMs} ms ${v.kind}: ${v.message}`);
    console.log(JSON.stringify(result.summary, null, 2));
    return result.ok ? 0 : 1;
  }
  const { stats, failures, realMs } = await runSeedsInParallel(
    args.from,
    args.to,
    args.threads,
    args.overrides,
    args.only,
  );
  for (const failure of failures) console.log(`${describeFailure(failure)}\n`);
  console.log(formatSummary(stats, realMs));
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 2;
  },
);
