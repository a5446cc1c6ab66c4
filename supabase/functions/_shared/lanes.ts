/**
 * Priority lanes: one SQS queue per band of priority numbers (private.priority_lanes holds the
 * bands). The queues are named after the default lane's (SQS_QUEUE_URL): `jobs` is the default
 * lane, `jobs-high` and `jobs-low` the others, all dead-lettering to the one `jobs-dlq`.
 */

/** Highest first: the order in which workers fill their slots. */
export const LANES = ["high", "default", "low"] as const;
export type Lane = typeof LANES[number];

export function isLane(value: unknown): value is Lane {
  return (LANES as readonly unknown[]).includes(value);
}

/** Each lane's queue URL: the default lane's URL with `-high` / `-low` appended. */
export function laneQueueUrls(defaultQueueUrl: string): Record<Lane, string> {
  return {
    high: `${defaultQueueUrl}-high`,
    default: defaultQueueUrl,
    low: `${defaultQueueUrl}-low`,
  };
}

/** A lane the database named, or the default lane for anything else (a row written by hand). */
export function laneOf(value: unknown): Lane {
  return isLane(value) ? value : "default";
}
