import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBodyText } from '../loopback-server.js';

/**
 * The server side of the AWS JSON 1.1 protocol, shared by the local AWS fakes (KMS, Secrets Manager): a
 * `POST` whose `X-Amz-Target: <Service>.<Operation>` names the operation and whose body is a JSON object;
 * answers are JSON, errors `{"__type", "message"}` with the type also in `x-amzn-errortype`, which the AWS
 * SDK turns into its typed exceptions. Loopback use only: requests are not authenticated (SigV4 is ignored).
 */

/** An error answered to the client as `{"__type": type, "message": message}` with HTTP `status`. */
export class AwsJsonError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Runs one operation on its JSON object input; returns the answer body or throws an {@link AwsJsonError}. */
export type AwsJsonAction = (input: Record<string, unknown>) => unknown;

export interface AwsJsonService {
  /** The `X-Amz-Target` prefix before the `.` and the operation name, e.g. `TrentService`. */
  readonly targetPrefix: string;
  readonly actions: Readonly<Record<string, AwsJsonAction>>;
  /** Larger request bodies fail with `ValidationException`. */
  readonly maxRequestBytes: number;
  /** The `__type` of the 500 answered for an unexpected error. */
  readonly internalErrorType: string;
  /**
   * Runs once the body is read, before it is parsed; may throw an {@link AwsJsonError} or delay the answer
   * (injected faults).
   */
  readonly beforeAction?: (operation: string) => void | Promise<void>;
  /** Sees every error answered, with the operation named by the request (possibly unknown or empty). */
  readonly onError?: (operation: string, error: AwsJsonError) => void;
}

const JSON_11 = 'application/x-amz-json-1.1';

function parseInput(text: string): Record<string, unknown> {
  let input: unknown;
  try {
    input = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new AwsJsonError('SerializationException', 'request body is not JSON');
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new AwsJsonError('SerializationException', 'request body must be a JSON object');
  }
  return input as Record<string, unknown>;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  extraHeaders: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': JSON_11,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...extraHeaders,
  });
  res.end(text);
}

/** Answers an error; an empty message is left out, as AWS does for e.g. `InvalidCiphertextException`. */
function sendError(res: ServerResponse, error: AwsJsonError): void {
  const body = error.message === '' ? { __type: error.type } : { __type: error.type, message: error.message };
  send(res, error.status, body, { 'x-amzn-errortype': error.type });
}

/** A request handler (for `http.createServer`) that dispatches on `X-Amz-Target` to `service.actions`. */
export function awsJsonHandler(
  service: AwsJsonService,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const prefix = `${service.targetPrefix}.`;
  return async (req, res) => {
    const target = req.headers['x-amz-target'];
    const operation =
      typeof target !== 'string' ? '' : target.startsWith(prefix) ? target.slice(prefix.length) : target;
    try {
      if (req.method !== 'POST')
        throw new AwsJsonError('UnknownOperationException', 'only POST is supported', 404);
      const action = Object.hasOwn(service.actions, operation) ? service.actions[operation] : undefined;
      if (!action)
        throw new AwsJsonError('UnknownOperationException', `operation not supported locally: ${operation}`);
      const text = await readBodyText(
        req,
        service.maxRequestBytes,
        () => new AwsJsonError('ValidationException', 'request too large'),
      );
      await service.beforeAction?.(operation);
      send(res, 200, action(parseInput(text)));
    } catch (error) {
      const failure =
        error instanceof AwsJsonError
          ? error
          : new AwsJsonError(service.internalErrorType, String(error), 500);
      service.onError?.(operation, failure);
      sendError(res, failure);
    }
  };
}
