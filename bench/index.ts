/**
 * `npm run bench [-- section…] [--no-readme]`: runs the sections (all, in order, or the ones named),
 * prints each as a markdown table with notes, and writes each one that completed without a failure
 * into README.md between its markers (bench/readme.ts), with the date, the machine and the command.
 * Progress goes to stderr, the report to stdout. Exits non-zero when a section fails or reports a failure.
 */
import { performance } from 'node:perf_hooks';
import { run as bundles } from './bundles';
import { run as core } from './core';
import { run as cost } from './cost';
import { type DynaliteProcess, startDynaliteProcess } from './dynalite-process';
import { run as http } from './http';
import { readmeBlock, runStartingNow, sectionMarkdown, writeReadmeBlocks } from './readme';
import { run as reaper } from './reaper';
import { run as scale } from './scale';
import type { BenchContext, BenchSection } from './section';

interface SectionRunner {
  readonly needsDynamo: boolean;
  run(ctx: BenchContext): Promise<BenchSection & { readonly failures?: readonly string[] }>;
}

export const SECTIONS: Readonly<Record<string, SectionRunner>> = {
  core: { needsDynamo: true, run: core },
  http: { needsDynamo: true, run: http },
  bundles: { needsDynamo: false, run: () => bundles() },
  reaper: { needsDynamo: true, run: reaper },
  scale: { needsDynamo: false, run: () => scale() },
  cost: { needsDynamo: false, run: () => cost() },
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const writeReadme = !args.includes('--no-readme');
  const asked = args.filter((a) => a !== '--no-readme');
  const unknown = asked.filter((name) => !(name in SECTIONS));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown section(s): ${unknown.join(', ')}; choose from ${Object.keys(SECTIONS).join(', ')}\n`,
    );
    return 2;
  }
  const names =
    asked.length > 0 ? Object.keys(SECTIONS).filter((n) => asked.includes(n)) : Object.keys(SECTIONS);

  process.stdout.write(
    `# Benchmarks\n\n\`npm run bench${asked.length ? ` -- ${asked.join(' ')}` : ''}\`\n\n`,
  );
  const run = runStartingNow();
  process.stdout.write(`${run.machine} · ${run.date}\n\n`);
  const measured: Array<{ name: string; block: string }> = [];

  let dynalite: DynaliteProcess | undefined;
  let failed = false;
  const started = performance.now();
  try {
    if (names.some((n) => SECTIONS[n]?.needsDynamo)) dynalite = await startDynaliteProcess();
    const ctx: BenchContext = { dynamoEndpoint: dynalite?.endpoint ?? '' };
    for (const name of names) {
      const section = SECTIONS[name] as SectionRunner;
      const sectionStart = performance.now();
      process.stderr.write(`bench: ${name}…\n`);
      try {
        const result = await section.run(ctx);
        process.stdout.write(`${sectionMarkdown(result)}\n`);
        if ((result.failures ?? []).length === 0) {
          const command = `npm run bench -- ${name}`;
          measured.push({ name, block: readmeBlock(result, { ...run, command }) });
        }
        for (const failure of result.failures ?? []) {
          process.stdout.write(`**FAIL** ${failure}\n\n`);
          process.stderr.write(`bench: FAIL ${failure}\n`);
          failed = true;
        }
      } catch (error) {
        failed = true;
        process.stdout.write(
          `## ${name}\n\n**FAIL** the section did not complete: ${(error as Error).message}\n\n`,
        );
        process.stderr.write(`bench: ${name} failed: ${(error as Error).stack ?? String(error)}\n`);
      }
      process.stderr.write(
        `bench: ${name} took ${((performance.now() - sectionStart) / 1000).toFixed(1)} s\n`,
      );
    }
  } finally {
    await dynalite?.stop();
  }
  if (writeReadme && measured.length > 0) {
    writeReadmeBlocks(measured);
    process.stderr.write(`bench: wrote ${measured.map((m) => m.name).join(', ')} into README.md\n`);
  }
  process.stderr.write(`bench: all took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return failed ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
