/**
 * One request, logged: dispatch it and write one structured line with the operation, shard, worker,
 * status, error code and latency. Conflicts are routine for a lease service and log at INFO; faults
 * log at ERROR with the whole error, which never reaches the caller.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Checkpointer } from '../core/checkpointer';
import { dispatch } from './dispatcher';
import type { Operation } from './operations';

export interface RequestDependencies {
  readonly checkpointer: Checkpointer;
  readonly logger: Logger;
}

export async function handleRequest(
  operation: Operation,
  event: APIGatewayProxyEventV2,
  deps: RequestDependencies,
  requestId: string,
): Promise<APIGatewayProxyStructuredResultV2> {
  const started = performance.now();
  const outcome = await dispatch(operation, event, deps.checkpointer, requestId);
  const line = {
    operation: operation.route.name,
    ...outcome.keys,
    ...outcome.fields,
    statusCode: outcome.statusCode,
    outcome: outcome.statusCode < 400 ? 'ok' : outcome.code,
    durationMs: Math.round((performance.now() - started) * 100) / 100,
    requestId,
  };
  if (outcome.statusCode >= 500)
    deps.logger.error('request failed', { ...line, error: outcome.fault as Error });
  else deps.logger.info('request handled', line);
  return outcome.response;
}
