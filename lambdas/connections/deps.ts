import type { Logger } from '@aws-lambda-powertools/logger';
import type { SmartcarGateway } from '../smartcar/gateway.js';
import type { TokenStore } from '../tokens/token-store.js';
import type { VehicleLinkStore } from '../vehicles/vehicle-links.js';
import type { ConnectionHooks } from './hooks.js';

/** What the connection life-cycle functions (confirm, disconnect, user removal, expiry, reconciliation) use. */
export interface ConnectionDeps {
  readonly tokens: TokenStore;
  readonly links: VehicleLinkStore;
  readonly smartcar: Pick<
    SmartcarGateway,
    'deleteConnections' | 'listConnections' | 'getUserId' | 'listVehicleIds'
  >;
  readonly hooks: ConnectionHooks;
  /** Limit of each Management API call. */
  readonly smartcarTimeoutMs: number;
  readonly logger: Logger;
}
