/**
 * Requests that match no route of the operations table get the contract's errors, not API Gateway's
 * bare `{"message":"Not Found"}`: the local server answers them with this, and so does the function
 * behind the deployed API's `$default` route.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ErrorCode } from '../core/errors';
import { INTERNAL_MESSAGE, PROBLEM_CONTENT_TYPE, problem } from './problem';
import { matchRoute } from './router';

/**
 * The 404 or 405 for a request no route takes; undefined when a route does take it. `rawPath` is the
 * path as it arrived (percent-encoded, no query): see router.ts for how it is split and decoded.
 */
export function unmatchedResponse(
  method: string,
  rawPath: string,
  requestId: string,
): APIGatewayProxyStructuredResultV2 | undefined {
  const match = matchRoute(method, rawPath);
  if (match.kind === 'matched') return undefined;
  const { status, body } =
    match.kind === 'notFound'
      ? problem(
          ErrorCode.NotFound,
          `no route ${method} ${rawPath}${match.reason ? `: ${match.reason}` : ''}`,
          requestId,
        )
      : problem(ErrorCode.MethodNotAllowed, `${method} is not allowed on ${rawPath}`, requestId);
  return {
    statusCode: status,
    headers: {
      'content-type': PROBLEM_CONTENT_TYPE,
      ...(match.kind === 'methodNotAllowed' && { allow: match.allow.join(', ') }),
    },
    body: JSON.stringify(body),
  };
}

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'shardlease' });

/** The `$default` route's handler. A request reaching it that a route would take is a deployment fault. */
export async function handleUnmatched(
  event: APIGatewayProxyEventV2,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> {
  const { method } = event.requestContext.http;
  // rawPath keeps the percent-encoding the router splits on; http.path is only a fallback.
  const path = event.rawPath || event.requestContext.http.path;
  const response = unmatchedResponse(method, path, context.awsRequestId);
  if (response) {
    logger.info('request handled', { operation: 'unmatched', method, path, statusCode: response.statusCode });
    return response;
  }
  logger.error('a routed request reached $default', { method, path });
  const { status, body } = problem(ErrorCode.Internal, INTERNAL_MESSAGE, context.awsRequestId);
  return {
    statusCode: status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE },
    body: JSON.stringify(body),
  };
}
