/**
 * Whether a measure keeps rising: the least-squares line through the samples after warm-up, and
 * how much it rises over that window as a share of where it starts. A sawtooth (a garbage
 * collector, a pool) averages out; a leak shows as a steady slope.
 */

export interface Reading {
  /** Seconds since the soak started. */
  at: number;
  value: number;
}

/** The fitted rise over the window, relative to the fitted start (0.1: 10%); 0 for < 2 readings. */
export function growth(readings: Reading[]): number {
  if (readings.length < 2) return 0;
  const n = readings.length;
  const meanT = readings.reduce((s, r) => s + r.at, 0) / n;
  const meanV = readings.reduce((s, r) => s + r.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const r of readings) {
    num += (r.at - meanT) * (r.value - meanV);
    den += (r.at - meanT) ** 2;
  }
  if (den === 0) return 0;
  const slope = num / den;
  const first = readings[0]!.at;
  const last = readings[n - 1]!.at;
  const start = meanV + slope * (first - meanT);
  if (start <= 0) return slope > 0 ? Infinity : 0;
  return (slope * (last - first)) / start;
}

/** When warm-up ends: a quarter of the run, at least a minute. */
export function warmUpSeconds(runSeconds: number): number {
  return Math.max(60, runSeconds / 4);
}
