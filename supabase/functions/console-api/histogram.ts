/**
 * Queue-latency percentiles from the roll-up's histogram (private.job_stats.latency_buckets over
 * private.latency_bounds_ms()): bucket 0 is below the first bound, bucket k from bound k-1 up to
 * bound k, the last one above the last bound. Interpolated linearly inside the bucket, as
 * Prometheus' histogram_quantile() does, so a figure is an estimate within its bucket's bounds.
 */
export interface Histogram {
  bounds_ms: number[];
  buckets: number[] | null;
}

export function quantileMs(h: Histogram, q: number): number | null {
  const buckets = h.buckets ?? [];
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      const lower = i === 0 ? 0 : h.bounds_ms[i - 1]!;
      // Above the last bound nothing says how far: report the bound itself.
      if (i >= h.bounds_ms.length) return lower;
      const upper = h.bounds_ms[i]!;
      return Math.round(lower + (upper - lower) * ((rank - seen) / n));
    }
    seen += n;
  }
  return h.bounds_ms[h.bounds_ms.length - 1]!;
}

export function latencySummary(h: Histogram): {
  samples: number;
  p50_ms: number | null;
  p95_ms: number | null;
  basis: string;
} {
  return {
    samples: (h.buckets ?? []).reduce((sum, n) => sum + n, 0),
    p50_ms: quantileMs(h, 0.5),
    p95_ms: quantileMs(h, 0.95),
    basis: "enqueue to first claim, estimated within the bounds of a histogram",
  };
}
