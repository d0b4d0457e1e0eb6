import { smartcarGateway } from '../../lambdas/smartcar/gateway.js';
import { runRotationOutage } from '../../test/support/rotation-outage.js';
import { startOAuthBackends } from '../../test/support/oauth-backends.js';
import { check, type Check } from '../stats.js';

/**
 * The rotation drill: a 30 s KMS outage and a 30 s DynamoDB outage, each starting the moment Smartcar has
 * rotated a grant's pair, on one clock shared by the refresh job and the fake Smartcar (so Smartcar's reuse
 * window for the old refresh token closes as it does in production). The same scenario the integration tests
 * run (test/support/rotation-outage.ts); here each outage is one correctness check: the owner never has to
 * reconnect.
 */
export async function rotationOutageDrill(): Promise<Check[]> {
  const credentials = {
    clientId: 'drill-client',
    clientSecret: 'drill-secret',
    managementToken: 'drill-amt',
  };
  const backends = await startOAuthBackends({ ...credentials, refreshReuseGraceSeconds: 60 });
  try {
    const gateway = smartcarGateway({
      secret: { get: () => Promise.resolve(credentials) },
      redirectUri: backends.redirectUri,
      mode: 'test',
    });
    const checks: Check[] = [];
    for (const service of ['kms', 'dynamodb'] as const) {
      const report = await runRotationOutage({
        backends,
        smartcar: gateway,
        service,
        outageMs: 30_000,
        // The job's retry warnings are what the drill provokes, not its output: only errors reach the terminal.
        logLevel: 'ERROR',
      });
      checks.push(
        check(
          `a 30 s ${service === 'kms' ? 'KMS' : 'DynamoDB'} outage during a token rotation loses nothing`,
          !report.lost,
          `parked ${report.parked}, stored v${report.storedAfterOutage.version} ${report.storedAfterOutage.status}, ` +
            `vehicles ${report.vehicleStatuses.join('/')}`,
        ),
      );
    }
    return checks;
  } finally {
    await backends.stop();
  }
}
