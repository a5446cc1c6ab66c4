/**
 * GCRA, the algorithm of private.rate_limit() (see supabase/schema.sql), for the in-memory
 * fallback: a bucket of `limit` units refilling continuously over the period, kept as one number
 * per key (the time the bucket is full again). A request costs `cost` units (default 1).
 */

export interface Decision {
  allowed: boolean;
  remaining: number;
  /** ms until the bucket is full again */
  resetMs: number;
  /** ms until a refused request could be admitted (0 when allowed) */
  retryAfterMs: number;
}

const SLACK_MS = 0.001;

/** Decides one request against a bucket full again at `tat` (ms); returns the decision and the new tat. */
export function gcra(
  tat: number | undefined,
  now: number,
  limit: number,
  periodMs: number,
  cost = 1,
): { decision: Decision; tat: number | undefined } {
  const emission = periodMs / limit;
  const base = Math.max(tat ?? now, now);
  const ahead = base - now + cost * emission;
  if (ahead > periodMs + SLACK_MS) {
    const current = base - now;
    return {
      decision: {
        allowed: false,
        remaining: Math.max(0, Math.floor((periodMs - current + SLACK_MS) / emission)),
        resetMs: Math.ceil(current),
        retryAfterMs: Math.max(0, Math.ceil(ahead - periodMs)),
      },
      tat,
    };
  }
  return {
    decision: {
      allowed: true,
      remaining: Math.max(0, Math.floor((periodMs - ahead + SLACK_MS) / emission)),
      resetMs: Math.ceil(ahead),
      retryAfterMs: 0,
    },
    tat: base + cost * emission,
  };
}
