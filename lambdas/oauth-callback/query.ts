import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/**
 * The query of a Connect redirect (`?code=…&state=…` or `?error=…&error_description=…&state=…`), parsed from the
 * raw query string so that a repeated parameter is seen as such (API Gateway would join repeats with commas).
 */

/** The `error` values Smartcar Connect documents for the redirect URI (errors/connect-errors). */
export const CONNECT_ERRORS = [
  'access_denied',
  'configuration_error',
  'invalid_subscription',
  'no_vehicles',
  'server_error',
  'vehicle_incompatible',
] as const;

export type ConnectErrorCode = (typeof CONNECT_ERRORS)[number];

/** Every `reason` the failure redirect can carry: a closed set, so nothing from the request is echoed. */
export type FailureReason =
  | ConnectErrorCode
  | 'invalid_state'
  | 'connect_error'
  | 'missing_code'
  | 'invalid_request'
  | 'exchange_failed'
  | 'smartcar_unavailable'
  | 'too_many_vehicles'
  | 'storage_failed'
  | 'temporarily_unavailable';

export interface CallbackQuery {
  readonly state?: string;
  readonly code?: string;
  readonly error?: string;
  /** Names of the parameters above that appeared more than once (their values are not trusted then). */
  readonly repeated: readonly string[];
}

const NAMES = ['state', 'code', 'error'] as const;
/** Far above any real code or state; longer values are not ours and are not looked at further. */
const MAX_VALUE_LENGTH = 512;

export function parseCallbackQuery(
  event: Pick<APIGatewayProxyEventV2, 'rawQueryString' | 'queryStringParameters'>,
): CallbackQuery {
  const params =
    event.rawQueryString !== undefined && event.rawQueryString !== ''
      ? new URLSearchParams(event.rawQueryString)
      : new URLSearchParams(
          Object.entries(event.queryStringParameters ?? {}).filter(
            (entry): entry is [string, string] => typeof entry[1] === 'string',
          ),
        );
  const result: { state?: string; code?: string; error?: string } = {};
  const repeated: string[] = [];
  for (const name of NAMES) {
    const values = params.getAll(name);
    if (values.length > 1) repeated.push(name);
    const value = values[0];
    if (values.length === 1 && value !== undefined && value !== '' && value.length <= MAX_VALUE_LENGTH) {
      result[name] = value;
    }
  }
  return { ...result, repeated };
}

export function isConnectError(value: string): value is ConnectErrorCode {
  return (CONNECT_ERRORS as readonly string[]).includes(value);
}

/** A documented Connect error passes through as the reason; anything else becomes `connect_error`. */
export function connectErrorReason(error: string): FailureReason {
  return isConnectError(error) ? error : 'connect_error';
}
