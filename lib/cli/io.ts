/** What the CLI touches of its process, passed in so that tests run it in-process. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Asks a question on the terminal and resolves with the answer; absent when stdin is not a terminal
   * (a pipe, CI), where a command that needs confirmation refuses unless given --yes.
   */
  readonly prompt?: (question: string) => Promise<string>;
  /** The local clock, for relative times ("in 8s", "expired 3m ago"). @default Date.now */
  readonly now?: () => number;
  /** Ends a command that runs until stopped (`dashboard`): Ctrl-C on the real process. */
  readonly signal?: AbortSignal;
}

/**
 * Exit codes, so that scripts tell "the service said no" from "you called me wrong", from "nothing
 * answered at that URL", from "you did not confirm", and from "the service answered with a failure".
 */
export const EXIT = {
  ok: 0,
  /** The service refused the request with a typed error (conflict, not found, validation). */
  refused: 1,
  /** Bad command line: unknown command or option, missing argument. Nothing was sent. */
  usage: 2,
  /** The service could not be reached at the URL (refused connection, unknown host, no answer). */
  unreachable: 3,
  /** A destructive command was not confirmed (answered no, or no terminal and no --yes). Nothing was changed. */
  notConfirmed: 4,
  /** The service (or, for `reap`, DynamoDB) failed: `Internal`, or throttled through every retry. */
  failed: 5,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit codes as the help text and the README list them. */
export const EXIT_CODES_TEXT = [
  'exit codes:',
  '  0  ok',
  '  1  the service refused the request (conflict, not found, invalid input): see the message',
  '  2  usage error: unknown command or option, missing argument; nothing was sent',
  '  3  cannot reach the service at the URL (nothing listening, unknown host, no answer)',
  '  4  not confirmed: delete/reset answered no, or no terminal and no --yes; nothing was changed',
  '  5  the service failed (Internal, or throttled through every retry), or a reaper pass stopped',
].join('\n');

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

/** Nothing answered at the service URL. */
export class UnreachableError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'Unreachable';
  }
}

/** A destructive command the user did not confirm. */
export class NotConfirmedError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'NotConfirmed';
  }
}
