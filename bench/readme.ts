/**
 * `npm run bench` writes what it measured into the README, between one pair of markers per section, so
 * that no measured figure there is typed by hand: each block is the section's table, its notes, and
 * the run (date, machine, command). Prose elsewhere refers to these blocks instead of repeating them.
 */
import type { BenchSection } from './section';

export const startMarker = (name: string): string =>
  `<!-- bench:${name} (written by \`npm run bench\`: edits between these markers are overwritten) -->`;
export const endMarker = (name: string): string => `<!-- /bench:${name} -->`;

const cell = (value: string | number): string => String(value).replace(/\|/g, '\\|');

/** A Markdown table with aligned columns: the first left-aligned, the others (figures) right-aligned. */
export function alignedTable(
  columns: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
): string {
  const cells = [columns.map(cell), ...rows.map((row) => row.map(cell))];
  const widths = columns.map((_, i) => Math.max(3, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    `| ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [line(cells[0] ?? []), rule, ...cells.slice(1).map(line)].join('\n');
}

export interface RunInfo {
  /** The command that measured it, as a reader reruns it. */
  readonly command: string;
  /** node version, CPUs, platform, load at start. */
  readonly machine: string;
  readonly date: string;
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
