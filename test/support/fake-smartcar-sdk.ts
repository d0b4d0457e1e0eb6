import { vi } from 'vitest';
import {
  startFakeSmartcar,
  type FakeSmartcar,
  type FakeSmartcarOptions,
} from '../../local/stand-ins/smartcar/index.js';
import { smartcarGateway, type SmartcarGateway } from '../../lambdas/smartcar/gateway.js';
import type { SmartcarSecret } from '../../lambdas/smartcar/secret.js';
import { freePort } from './ports.js';

/** Where the `smartcar` SDK sends its requests, read from process.env (auth: when an AuthClient is built). */
const ORIGIN_VARS = [
  'SMARTCAR_AUTH_ORIGIN',
  'SMARTCAR_API_ORIGIN',
  'SMARTCAR_MANAGEMENT_API_ORIGIN',
] as const;

export interface SdkFakeSmartcar {
  readonly fake: FakeSmartcar;
  /** A loopback redirect URI on a free port; nothing listens there (the tests play the browser). */
  readonly redirectUri: string;
  /** Stops the fake and gives the SDK its previous origins back. */
  stop(): Promise<void>;
}

/** Starts the fake Smartcar on a free loopback port and points the `smartcar` SDK at it. */
export async function startSdkFakeSmartcar(
  options: Omit<FakeSmartcarOptions, 'port'>,
  redirectPath: string,
): Promise<SdkFakeSmartcar> {
  const [fakePort, callbackPort] = await Promise.all([freePort(), freePort()]);
  const fake = await startFakeSmartcar({ port: fakePort, ...options });
  const saved = new Map<string, string | undefined>();
  for (const name of ORIGIN_VARS) {
    saved.set(name, process.env[name]);
    process.env[name] = fake.env[name];
  }
  return {
    fake,
    redirectUri: `http://127.0.0.1:${callbackPort}${redirectPath}`,
    stop: async () => {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await fake.stop();
    },
  };
}

export interface FakeSmartcarGateway extends SdkFakeSmartcar {
  readonly gateway: SmartcarGateway;
}

/**
 * The gateway (`mode: 'test'`) over the REAL `smartcar` SDK against a fake Smartcar accepting `credentials`.
 * The gateway reads `secret()` on every call, so a test can change the credentials it presents.
 */
export async function startFakeSmartcarGateway(
  credentials: SmartcarSecret,
  secret: () => SmartcarSecret,
): Promise<FakeSmartcarGateway> {
  const sdk = await startSdkFakeSmartcar(
    {
      clientId: credentials.clientId,
      clientSecret: credentials.clientSecret,
      managementToken: credentials.managementToken,
    },
    '/cb',
  );
  const gateway = smartcarGateway({
    secret: { get: () => Promise.resolve(secret()) },
    redirectUri: sdk.redirectUri,
    mode: 'test',
  });
  return { ...sdk, gateway };
}

export interface IssuedTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
}

/**
 * Spies on the global `fetch` (the SDK's) and reports every token pair the fake's token endpoint really
 * issued, read from its responses. Undone by `vi.restoreAllMocks()`.
 */
export function recordIssuedTokens(fake: FakeSmartcar, onIssued: (tokens: IssuedTokens) => void): void {
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const response = await realFetch(input, init);
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith(`${fake.url}/oauth/token`) && response.ok) {
      const body = (await response.clone().json()) as { access_token: string; refresh_token: string };
      onIssued({ accessToken: body.access_token, refreshToken: body.refresh_token });
    }
    return response;
  });
}
