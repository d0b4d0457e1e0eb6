/**
 * Explicit time limits for AWS SDK clients. Without them an SDK call waits as long as the socket stays open: a
 * hung DynamoDB or KMS request would then hold a rotated token pair in memory until the Lambda is killed.
 */

export interface AwsCallLimits {
  /** Limit to establish the TCP/TLS connection of one attempt. */
  readonly connectionTimeoutMs: number;
  /** Limit of one attempt, from sending the request to the end of the response. */
  readonly requestTimeoutMs: number;
  /** Attempts per call, the SDK's own retries included (its default is 3). */
  readonly maxAttempts: number;
}

/**
 * Client options (`new DynamoDBClient(awsClientConfig(...))`): the Node HTTP handler's connection and request
 * timeouts, the latter thrown as an error (`throwOnRequestTimeout`: since @smithy/node-http-handler 4.4 a
 * breached `requestTimeout` is otherwise only logged as a warning), and the attempt count. One call then takes
 * at most about `maxAttempts × (connectionTimeoutMs + requestTimeoutMs)` plus the SDK's backoff.
 */
export function awsClientConfig(limits: AwsCallLimits) {
  return {
    maxAttempts: limits.maxAttempts,
    requestHandler: {
      connectionTimeout: limits.connectionTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}
