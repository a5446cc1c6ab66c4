/** The nearest-rank percentile of sorted values (NaN when there are none). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // Rounded first: 99.9 / 100 * 1000 is 999.0000000000001 in floating point, not 999.
  const rank = Math.ceil(Number(((p / 100) * sorted.length).toFixed(9)));
  const index = Math.min(sorted.length - 1, rank - 1);
  return sorted[Math.max(0, index)]!;
}
