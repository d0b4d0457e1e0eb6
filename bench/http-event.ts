import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** An API Gateway HTTP API (payload 2.0) `POST /webhooks/smartcar` event, as the receiver gets it in AWS. */
export function webhookHttpEvent(body: string, signature: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/smartcar',
    rawPath: '/webhooks/smartcar',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'sc-signature': signature,
      'user-agent': 'Smartcar-Webhooks',
      'content-length': String(Buffer.byteLength(body)),
    },
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName: 'bench.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'bench',
      http: {
        method: 'POST',
        path: '/webhooks/smartcar',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'Smartcar-Webhooks',
      },
      requestId: randomUUID(),
      routeKey: 'POST /webhooks/smartcar',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    body,
    isBase64Encoded: false,
  };
}
