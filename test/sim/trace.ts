/**
 * What happened in one simulated run, in order: every call and its fate, every lease gained and lost,
 * every side effect, every fault. A failing seed prints the tail of it; `npm run sim -- --seed N
 * --verbose` prints all of it. Lines are cheap to add (one array push of three fields).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import type { Clock } from '../../lib/core/clock';

export interface TraceLine {
  readonly atMs: number;
  readonly who: string;
  /** Text, or a function that makes it (formatted only if the line is ever printed). */
  readonly what: string | (() => string);
}

export class Trace {
  readonly lines: TraceLine[] = [];

  constructor(private readonly clock: Clock) {}

  add(who: string, what: string | (() => string)): void {
    this.lines.push({ atMs: this.clock.now(), who, what });
  }

  /** The last `count` lines before line `end` (default: all), formatted. */
  tail(count: number, end = this.lines.length): string {
    return formatLines(this.lines.slice(Math.max(0, end - count), end));
  }

  format(): string {
    return formatLines(this.lines);
  }
}

export function formatLines(lines: readonly TraceLine[]): string {
  return lines
    .map((line) => {
      const what = typeof line.what === 'string' ? line.what : line.what();
      return `${String(line.atMs).padStart(7)}  ${line.who.padEnd(8)} ${what}`;
    })
    .join('\n');
}

/** A short description of an error for a trace line: its code (or name) and message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${typeof code === 'string' ? code : error.name}: ${error.message}`;
  }
  return String(error);
}

/**
 * A Powertools logger whose lines go to the trace (the coordinator's own account of what it did)
 * instead of stdout. Only when `verbose`: otherwise it is a silent logger.
 */
export class TraceLogger extends Logger {
  constructor(
    private readonly simTrace: Trace,
    private readonly simWho: string,
  ) {
    super({ logLevel: 'SILENT' });
  }

  override debug(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    this.line('debug', input, extra);
  }
  override info(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    this.line('info', input, extra);
  }
  override warn(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    this.line('warn', input, extra);
  }
  override error(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    this.line('error', input, extra);
  }

  private line(level: string, input: LogItemMessage, extra: LogItemExtraInput): void {
    const message = typeof input === 'string' ? input : String(input.message);
    const fields: string[] = [];
    const add = (attrs: unknown) => {
      if (attrs instanceof Error) {
        fields.push(`error=${describeError(attrs)}`);
        return;
      }
      if (typeof attrs !== 'object' || attrs === null) {
        if (attrs !== undefined) fields.push(String(attrs));
        return;
      }
      for (const [key, value] of Object.entries(attrs)) {
        if (key === 'message') continue;
        fields.push(
          `${key}=${value instanceof Error ? describeError(value) : typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
        );
      }
    };
    if (typeof input !== 'string') add(input);
    for (const attrs of extra) add(attrs);
    this.simTrace.add(
      this.simWho,
      `log.${level} ${message}${fields.length > 0 ? ` {${fields.join(' ')}}` : ''}`,
    );
  }
}
