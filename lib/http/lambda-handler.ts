/**
 * The Lambda side: configuration, client and checkpointer are made once per container, on the first
 * invocation (nothing slow at import time), then every invocation is one `handleRequest`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { loadConfig } from '../core/config';
import { DynamoCheckpointer } from '../store/dynamo-checkpointer';
import { createDynamoClient } from '../store/dynamo-client';
import { handleRequest, type RequestDependencies } from './handle-request';
import { OPERATIONS } from './operations';
import type { OperationName } from './routes';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'shardlease' });

let dependencies: RequestDependencies | undefined;

/** Built on first use and kept for the container's life; a bad configuration fails every call the same way. */
function containerDependencies(): RequestDependencies {
  if (!dependencies) {
    const config = loadConfig(process.env);
    const endpoint = process.env.DYNAMODB_ENDPOINT;
    dependencies = {
      logger,
      checkpointer: new DynamoCheckpointer({
        client: createDynamoClient(endpoint ? { endpoint } : {}),
        tableName: config.tableName,
        leaseDurationMs: config.leaseDurationMs,
        claimTimeoutMs: config.claimTimeoutMs,
      }),
    };
  }
  return dependencies;
}

export type HttpLambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * The handler of one operation over the given dependencies. Lambda passes the container's; the local
 * server passes its own (its embedded table), so both run exactly this code per request.
 */
export function createHttpHandler(
  name: OperationName,
  resolveDependencies: () => RequestDependencies,
): HttpLambdaHandler {
  const operation = OPERATIONS[name];
  return async (event, context) => {
    const deps = resolveDependencies();
    deps.logger.addContext(context);
    return handleRequest(operation, event, deps, context.awsRequestId);
  };
}

export function createLambdaHandler(name: OperationName): HttpLambdaHandler {
  return createHttpHandler(name, containerDependencies);
}
