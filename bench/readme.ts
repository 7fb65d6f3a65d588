/**
 * `npm run bench` (and `npm run sim -- --liveness | --bounds`) write what they measured into the README,
 * between one pair of markers per section, so that no measured figure there is typed by hand: each
 * block is the section's table, its notes, and the run (date, machine, command). Prose elsewhere refers
 * to these blocks instead of repeating them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform } from 'node:os';
import { join } from 'node:path';
import type { BenchSection } from './section';

const README = join(__dirname, '..', 'README.md');

export const startMarker = (name: string): string =>
  `<!-- bench:${name} (written by the command named in it: edits between these markers are overwritten) -->`;
export const endMarker = (name: string): string => `<!-- /bench:${name} -->`;

const cell = (value: string | number): string => String(value).replace(/\|/g, '\\|');

/** A cell that reads as a figure (a number, a ratio, a dash for none), aligned right like one. */
const FIGURE = /^[-+−≈~<>≤≥×$—\d.,]/;

/**
 * A Markdown table with aligned columns: the first left-aligned; the others right-aligned when every
 * cell in them reads as a figure, left-aligned when they hold words.
 */
export function alignedTable(
  columns: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
): string {
  const cells = [columns.map(cell), ...rows.map((row) => row.map(cell))];
  const widths = columns.map((_, i) => Math.max(3, ...cells.map((row) => (row[i] ?? '').length)));
  const right = columns.map((_, i) => i > 0 && rows.every((row) => FIGURE.test(String(row[i] ?? ''))));
  const line = (row: readonly string[]) =>
    `| ${row.map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(cells[0] ?? []), rule, ...cells.slice(1).map(line)].join('\n');
}

export interface RunInfo {
  /** The command that measured it, as a reader reruns it. */
  readonly command: string;
  /** node version, CPUs, platform, load at start. */
  readonly machine: string;
  readonly date: string;
}

/** A section as printed to a terminal: a heading, the table, the notes. */
export function sectionMarkdown(section: BenchSection): string {
  const lines = [`## ${section.title}`, '', alignedTable(section.columns, section.rows)];
  if (section.notes?.length) lines.push('', ...section.notes.map((note) => `- ${note}`));
  return `${lines.join('\n')}\n`;
}

/** The README block of one section: title, table, notes, and the run that produced them. */
export function readmeBlock(section: BenchSection, run: RunInfo): string {
  const notes = (section.notes ?? []).map((note) => `- ${note}`);
  return [
    `**${section.title}**`,
    '',
    alignedTable(section.columns, section.rows),
    '',
    ...(notes.length > 0 ? [...notes, ''] : []),
    `_Measured ${run.date} by \`${run.command}\` on ${run.machine}._`,
  ].join('\n');
}

/**
 * The README with `name`'s block replaced. Throws when the markers are missing or out of order: a
 * section the README does not place is a mistake to fix there, not a block to append somewhere.
 */
export function replaceBlock(readme: string, name: string, block: string): string {
  const start = readme.indexOf(startMarker(name));
  const end = readme.indexOf(endMarker(name));
  if (start < 0 || end < start) {
    throw new Error(
      `README.md has no ${startMarker(name)} … ${endMarker(name)} pair for bench section ${name}`,
    );
  }
  return `${readme.slice(0, start + startMarker(name).length)}\n${block}\n${readme.slice(end)}`;
}

/** node version, CPUs, platform and the load when the run started: what a reader needs to compare. */
export function describeMachine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? 'unknown CPU';
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
  return `node ${process.version}, ${cores.length} × ${model}, ${platform()} ${arch()}, load average at start ${load}`;
}

/** The date and the machine of a run that starts now. */
export function runStartingNow(): Omit<RunInfo, 'command'> {
  return {
    machine: describeMachine(),
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  };
}

/** Writes each block between its markers in README.md (all or none: a missing pair throws first). */
export function writeReadmeBlocks(
  blocks: ReadonlyArray<{ readonly name: string; readonly block: string }>,
): void {
  let readme = readFileSync(README, 'utf8');
  for (const { name, block } of blocks) readme = replaceBlock(readme, name, block);
  writeFileSync(README, readme);
}
