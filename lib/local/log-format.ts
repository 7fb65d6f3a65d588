/**
 * How the local tools log: one JSON line per event by default (what Lambda writes, what a log tool
 * reads), indented for a person only when asked with `--pretty` or LOG_FORMAT=pretty. An explicit
 * POWERTOOLS_DEV (Powertools' own switch) is left as it is.
 */
export function prettyLogsAsked(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  if (argv.includes('--pretty')) return true;
  return env.LOG_FORMAT?.toLowerCase() === 'pretty';
}
