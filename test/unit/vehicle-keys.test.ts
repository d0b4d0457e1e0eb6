import { describe, expect, it } from 'vitest';
import {
  errorKey,
  ERROR_SK_PREFIX,
  PROFILE_SK,
  rawEventSk,
  SIGNAL_SK_PREFIX,
  STATE_SK,
  STATE_SK_RANGE,
  subscriptionSk,
} from '../../lambdas/vehicles/vehicle-keys.js';

/** DynamoDB compares string sort keys by their UTF-8 bytes: for these ASCII keys, what `<` says. */
const inRange = (sk: string) => sk >= STATE_SK_RANGE.from && sk <= STATE_SK_RANGE.to;

describe('the read range of a vehicle partition (one Query)', () => {
  it('holds the PROFILE, the STATE item, earlier SIGNAL# items and every SUBSCRIPTION# item', () => {
    for (const sk of [
      PROFILE_SK,
      STATE_SK,
      `${SIGNAL_SK_PREFIX}tractionbattery-stateofcharge`,
      subscriptionSk('wh-a'),
      subscriptionSk('zzzz~~~~'),
      subscriptionSk('0'),
    ]) {
      expect(inRange(sk), sk).toBe(true);
    }
  });

  it('leaves out raw event bodies and the error items of the earlier layout', () => {
    for (const sk of [
      rawEventSk('VEHICLE_STATE', 'evt-1'),
      `${ERROR_SK_PREFIX}${errorKey('CONNECTED_SERVICES_ACCOUNT', 'SUBSCRIPTION')}`,
    ]) {
      expect(inRange(sk), sk).toBe(false);
    }
  });
});
