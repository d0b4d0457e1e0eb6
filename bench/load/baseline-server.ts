import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * The least a webhook front door can do: verify the HMAC and SendMessage to the same SQS emulator, nothing
 * else (no gateway emulation, no Lambda runtime, no logging). The load's accepted/s is quoted against it.
 */
export async function startBareReceiver(options: {
  client: SQSClient;
  queueUrl: string;
  managementToken: string;
}): Promise<{ url: string; stop(): Promise<void> }> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const given = Buffer.from(String(request.headers['sc-signature'] ?? ''), 'hex');
      const expected = createHmac('sha256', options.managementToken).update(body).digest();
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        response.writeHead(401).end();
        return;
      }
      options.client
        .send(new SendMessageCommand({ QueueUrl: options.queueUrl, MessageBody: body.toString('utf8') }))
        .then(
          () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"received"}'),
          () => response.writeHead(503).end(),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/smartcar`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
