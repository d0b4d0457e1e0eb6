import { randomBytes } from 'node:crypto';

/**
 * Single-use OAuth `state` records (docs/design.md, "OAuth state table"). The state binds a Connect visit to the
 * app user who started it, so a code that comes back is linked to that user and nobody else (CSRF / login-CSRF
 * protection), and it can be used once only. The DynamoDB adapter: dynamo-oauth-state.ts.
 */

export const CONNECT_FLOW = 'connect';
/** Connect sessions and codes live 10 minutes at Smartcar; a state outliving them would be useless. */
export const STATE_TTL_SECONDS = 600;
const STATE_BYTES = 32;
/** base64url of 32 bytes, no padding: exactly 43 characters. */
const STATE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface OAuthStateRecord {
  readonly state: string;
  readonly flow: string;
  readonly appUserId: string;
  readonly scopes: readonly string[];
  readonly mode: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch seconds (the table's TTL attribute). */
  readonly expiresAt: number;
  readonly consumedAt?: number;
}

/** 256 random bits, base64url. */
export function newState(): string {
  return randomBytes(STATE_BYTES).toString('base64url');
}

/** Anything else cannot be one of ours; checked before any DynamoDB call (and keeps odd keys out of it). */
export function isWellFormedState(value: string): boolean {
  return STATE_PATTERN.test(value);
}

export interface OAuthStateStore {
  /** Stores a new unused record; `state` defaults to a fresh newState(). */
  create(input: {
    readonly state?: string;
    readonly appUserId: string;
    readonly scopes: readonly string[];
    readonly mode: string;
    readonly now: number;
  }): Promise<OAuthStateRecord>;
  /**
   * Marks the state used, atomically, if it exists, belongs to the connect flow, is unused and unexpired.
   * Returns the record, or undefined when any of that is not true (the caller must then do nothing else).
   */
  consume(state: string, now: number): Promise<OAuthStateRecord | undefined>;
}
