/**
 * USD per million webhooks on AWS, from the durations, memory sizes and request counts measured in the same
 * run, for this stack and for the shape of Smartcar's recipe (REST API, one 256 MB Lambda that verifies and
 * writes one item per signal). On-demand list prices, us-east-1, without free tiers.
 */

export const PRICES = {
  source: 'AWS public list prices, us-east-1, on-demand, no free tier (aws.amazon.com/<service>/pricing)',
  httpApiPerMillion: 1.0,
  restApiPerMillion: 3.5,
  lambdaRequestsPerMillion: 0.2,
  lambdaArmGbSecond: 0.0000133334,
  lambdaX86GbSecond: 0.0000166667,
  sqsPerMillionRequests: 0.4,
  dynamoWriteUnitsPerMillion: 0.625,
  dynamoReadUnitsPerMillion: 0.125,
} as const;

export interface CostInputs {
  readonly receiverMs: number;
  readonly receiverMemoryMB: number;
  /** Median wall time of a processor batch of `batchSize` events. */
  readonly processorBatchMs: number;
  readonly processorMemoryMB: number;
  readonly batchSize: number;
  readonly processorWriteUnitsPerEvent: number;
  readonly processorReadUnitsPerEvent: number;
  /** The recipe: its verification's time plus one write per signal at the measured latency of one PutItem. */
  readonly recipeVerifyMs: number;
  readonly signals: number;
  readonly putItemMs: number;
}

export interface CostLine {
  readonly item: string;
  readonly usdPerMillion: number;
}

const billedMs = (ms: number): number => Math.max(1, Math.ceil(ms));
const gbSeconds = (ms: number, memoryMB: number): number => (billedMs(ms) / 1000) * (memoryMB / 1024);

export function ourCost(inputs: CostInputs): CostLine[] {
  const perBatch = 1 / inputs.batchSize;
  return [
    { item: 'HTTP API requests', usdPerMillion: PRICES.httpApiPerMillion },
    {
      item: 'receiver Lambda (requests + arm64 GB-s)',
      usdPerMillion:
        PRICES.lambdaRequestsPerMillion +
        gbSeconds(inputs.receiverMs, inputs.receiverMemoryMB) * PRICES.lambdaArmGbSecond * 1e6,
    },
    {
      // SendMessage per webhook; ReceiveMessage and DeleteMessageBatch per batch.
      item: 'SQS requests',
      usdPerMillion: (1 + 2 * perBatch) * PRICES.sqsPerMillionRequests,
    },
    {
      item: 'processor Lambda (requests + arm64 GB-s)',
      usdPerMillion:
        perBatch * PRICES.lambdaRequestsPerMillion +
        perBatch *
          gbSeconds(inputs.processorBatchMs, inputs.processorMemoryMB) *
          PRICES.lambdaArmGbSecond *
          1e6,
    },
    {
      item: 'DynamoDB write + read units',
      usdPerMillion:
        inputs.processorWriteUnitsPerEvent * PRICES.dynamoWriteUnitsPerMillion +
        inputs.processorReadUnitsPerEvent * PRICES.dynamoReadUnitsPerMillion,
    },
  ];
}

export function recipeCost(inputs: CostInputs): CostLine[] {
  const lambdaMs = inputs.recipeVerifyMs + inputs.signals * inputs.putItemMs;
  return [
    { item: 'REST API requests', usdPerMillion: PRICES.restApiPerMillion },
    {
      // The Lambda default architecture; it waits on one PutItem per signal.
      item: 'Lambda 256 MB (requests + x86_64 GB-s)',
      usdPerMillion:
        PRICES.lambdaRequestsPerMillion + gbSeconds(lambdaMs, 256) * PRICES.lambdaX86GbSecond * 1e6,
    },
    // One item of ≤ 1 KB per signal: one write unit each.
    { item: 'DynamoDB write units', usdPerMillion: inputs.signals * PRICES.dynamoWriteUnitsPerMillion },
  ];
}

export const total = (lines: readonly CostLine[]): number =>
  lines.reduce((sum, line) => sum + line.usdPerMillion, 0);
