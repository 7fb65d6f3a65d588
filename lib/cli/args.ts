/** Command lines → a checked invocation, and the help texts, from the command table. */
import { parseArgs } from 'node:util';
import {
  COMMANDS,
  type CommandName,
  type CommandSpec,
  commandNamed,
  OPTIONS,
  type OptionName,
} from './commands';
import { EXIT_CODES_TEXT, UsageError } from './io';

const COMMON: readonly OptionName[] = ['json', 'help'];

export type Invocation =
  | { readonly kind: 'help'; readonly command?: CommandName }
  | { readonly kind: 'version'; readonly json: boolean }
  | {
      readonly kind: 'run';
      readonly command: CommandName;
      readonly args: Readonly<Record<string, string>>;
      readonly options: Readonly<Partial<Record<OptionName, string | boolean>>>;
    };

function optionLine(name: OptionName): string {
  const spec = OPTIONS[name];
  const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
  return `  ${flag.padEnd(32)} ${spec.description}`;
}

function synopsis(spec: CommandSpec): string {
  const args = spec.args.map((a) => `<${a}>`);
  const required = spec.required.map((o) => `--${o} ${OPTIONS[o].value ?? ''}`.trim());
  return ['shardlease', spec.name, ...args, ...required, '[options]'].join(' ');
}

export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'shardlease: inspect and operate a shardlease lease table, locally or deployed',
    '',
    'usage: shardlease <command> [arguments] [options]',
    '       shardlease --version [--json]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `shardlease <command> --help` for a command’s arguments and options.',
    'Every command takes --json: one JSON document on stdout, the result or {"error": {…}}.',
    '',
    EXIT_CODES_TEXT,
    '',
  ].join('\n');
}

export function commandHelp(name: CommandName): string {
  const spec = commandNamed(name) as CommandSpec;
  return [
    `${spec.summary}`,
    '',
    `usage: ${synopsis(spec)}`,
    '',
    ...(spec.details ? [...spec.details, ''] : []),
    'options:',
    ...[...spec.options, ...COMMON].map(optionLine),
    '',
    EXIT_CODES_TEXT,
    '',
  ].join('\n');
}

export function parseCommandLine(argv: readonly string[]): Invocation {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') return { kind: 'help' };
  if (first === '--version' || first === '-V') {
    const unknown = rest.find((a) => a !== '--json');
    if (unknown !== undefined) throw new UsageError(`--version takes only --json, got '${unknown}'`);
    return { kind: 'version', json: rest.includes('--json') };
  }
  if (first === 'help') {
    if (rest[0] === undefined) return { kind: 'help' };
    const spec = commandNamed(rest[0]);
    if (!spec) throw new UsageError(`unknown command '${rest[0]}'`);
    return { kind: 'help', command: spec.name };
  }
  if (first.startsWith('-')) throw new UsageError(`expected a command before '${first}'`);
  const spec = commandNamed(first);
  if (!spec) {
    throw new UsageError(`unknown command '${first}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  }
  const names = [...spec.options, ...COMMON];
  const options = Object.fromEntries(
    names.map((n) => {
      const { type, short } = OPTIONS[n];
      return [n, short ? { type, short } : { type }];
    }),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message, spec.name);
  }
  const values = parsed.values as Partial<Record<OptionName, string | boolean>>;
  if (values.help) return { kind: 'help', command: spec.name };
  if (parsed.positionals.length !== spec.args.length) {
    const expected = spec.args.length === 0 ? 'no arguments' : spec.args.map((a) => `<${a}>`).join(' ');
    throw new UsageError(`${spec.name} takes ${expected}, got ${parsed.positionals.length}`, spec.name);
  }
  for (const option of spec.required) {
    if (values[option] === undefined || values[option] === '') {
      throw new UsageError(`--${option} is required`, spec.name);
    }
  }
  const args = Object.fromEntries(spec.args.map((a, i) => [a, parsed.positionals[i] as string]));
  return { kind: 'run', command: spec.name, args, options: values };
}

/** A non-negative integer option, or undefined when absent. */
export function integerOption(
  options: Readonly<Partial<Record<OptionName, string | boolean>>>,
  name: OptionName,
  command: CommandName,
  min = 0,
): number | undefined {
  const raw = options[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw) || Number(raw) < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${String(raw)}'`, command);
  }
  return Number(raw);
}
