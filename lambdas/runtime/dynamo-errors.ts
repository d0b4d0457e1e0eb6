import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';

/** A conditional write whose condition did not hold (by class, or by name across SDK copies and mocks). */
export function isConditionalFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

/**
 * A TransactWriteItems cancelled because a condition failed or another write touched an item meanwhile
 * (`TransactionConflict`): both mean "re-read and try again". Other reasons (throttling, validation) are not.
 */
export function isRetryableTransactionCancel(error: unknown): boolean {
  const cancelled =
    error instanceof TransactionCanceledException ||
    (error instanceof Error && error.name === 'TransactionCanceledException');
  if (!cancelled) return false;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  if (!Array.isArray(reasons) || reasons.length === 0) return true;
  return reasons.every(
    (reason) =>
      reason.Code === undefined ||
      reason.Code === 'None' ||
      reason.Code === 'ConditionalCheckFailed' ||
      reason.Code === 'TransactionConflict',
  );
}
