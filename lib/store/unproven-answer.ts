/**
 * DynamoDB answered, but the answer does not show the write it was asked for: no ALL_NEW attributes,
 * another key, a value of the wrong type. Real DynamoDB does not do this; a proxy, a truncating network
 * or a broken compatible server can. The write may or may not have happened, so it is never reported as
 * a success: it is retried like a transient fault (every operation's plan is safe to repeat), and a
 * caller who still gets it sees a 500 without internals.
 */
export class UnprovenAnswerError extends Error {
  constructor(command: string, shardId: string) {
    super(`${command} on shard ${shardId}: DynamoDB's answer does not show what was asked (a broken answer)`);
    this.name = 'UnprovenAnswerError';
  }
}
