/**
 * Log lines that could otherwise repeat once per request (a database or SQS outage under load):
 * one per kind per interval, with a count of the ones held back.
 */

/** Logs at most one line per kind per interval, counting what it did not print. */
export function intervalLog(
  log: (line: string) => void,
  intervalMs = 10_000,
  now: () => number = Date.now,
): (kind: string, line: string) => void {
  const last = new Map<string, { at: number; unseen: number }>();
  return (kind, line) => {
    const t = now();
    const seen = last.get(kind);
    if (seen && t - seen.at < intervalMs) {
      seen.unseen++;
      return;
    }
    const more = seen?.unseen ? ` (and ${seen.unseen} more since the last such line)` : "";
    log(`${line}${more}`);
    last.set(kind, { at: t, unseen: 0 });
  };
}
