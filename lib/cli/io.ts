/** What the CLI touches of its process, passed in so that tests run it in-process. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Exit codes: scripts tell "the service said no" (a conflict, a missing shard, bad input it refused)
 * from "you called me wrong" and from "the service could not be reached or failed".
 */
export const EXIT = {
  ok: 0,
  /** The service refused the request with a typed error (conflict, not found, validation). */
  refused: 1,
  /** Bad command line: unknown command or option, missing argument. Nothing was sent. */
  usage: 2,
  /** No answer, throttled through every retry, or a fault (`Internal`). */
  unavailable: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A mistake on the command line, reported with the command's usage. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
