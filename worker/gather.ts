/**
 * gathered(call, limits): single items in, batched calls out. Items that arrive together (in one
 * run of promise continuations: jobs that finish together) go in one call (at most `maxBatch`),
 * while fewer than `maxInFlight` calls are under way; items arriving meanwhile go together as soon
 * as a call ends. So an item never waits for a batch to fill, and under load the round trips are
 * shared.
 *
 * `call` answers one result per item, in order; if it throws, every item of that call rejects.
 */
export function gathered<T, R>(
  call: (items: T[]) => Promise<R[]>,
  limits: { maxBatch: number; maxInFlight: number },
): (item: T) => Promise<R> {
  let waiting: { item: T; resolve(r: R): void; reject(e: unknown): void }[] = [];
  let inFlight = 0;
  let scheduled = false;

  function pump(): void {
    while (inFlight < limits.maxInFlight && waiting.length > 0) {
      const batch = waiting.slice(0, limits.maxBatch);
      waiting = waiting.slice(batch.length);
      inFlight++;
      call(batch.map((w) => w.item))
        .then((results) => {
          if (results.length !== batch.length) {
            throw new Error(`a batched call answered ${results.length} of ${batch.length} items`);
          }
          batch.forEach((w, i) => w.resolve(results[i]!));
        })
        .catch((error) => batch.forEach((w) => w.reject(error)))
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  }

  return (item) =>
    new Promise<R>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        pump();
      });
    });
}
