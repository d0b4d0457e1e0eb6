import * as sqs from 'aws-cdk-lib/aws-sqs';

/**
 * SSE-SQS (SQS-managed keys): encrypted at rest at no cost, and producers/consumers need no KMS permission (a
 * KMS-encrypted queue needs kms:GenerateDataKey for every SendMessage). A queue policy denies any request not
 * made over TLS (cdk-nag SQS4).
 */
export const SSE_SQS_TLS_ONLY = {
  encryption: sqs.QueueEncryption.SQS_MANAGED,
  enforceSSL: true,
} as const satisfies sqs.QueueProps;
