/**
 * An example handler that does real I/O: it submits a listing to each directory named in the job's
 * payload (`{"listing": "...", "directories": ["yelp", "bing"]}`) with an HTTP POST to
 * `<baseUrl>/<directory>/submissions`, reporting progress after each one.
 *
 * What it shows:
 * - pass `signal` to every call, so a lost lease, a timeout or a shutdown stops it at once;
 * - be idempotent: a job can run again after a crash, so each submission carries an
 *   Idempotency-Key made of the job and the directory, and the directory ignores a repeat;
 * - a 4xx answer will not change on a retry (PermanentJobError: the job fails at once), except
 *   408 and 429 (the directory was slow or busy); those, a 5xx or a network error are worth
 *   retrying (any other error: retried with backoff).
 *
 * Run it: `deno run -A worker/examples/directory_submission.ts` with the worker env vars and
 * DIRECTORY_API_URL.
 */
import { type JobHandler, PermanentJobError, runWorker } from "../mod.ts";

export function directorySubmission(
  baseUrl: string,
  fetcher: typeof fetch = fetch,
): JobHandler {
  return async (job, { signal, progress }) => {
    const directories = job.payload.directories;
    if (!Array.isArray(directories) || !directories.every((d) => typeof d === "string")) {
      throw new PermanentJobError("payload.directories must be a list of directory names");
    }
    const submitted: string[] = [];
    for (const directory of directories as string[]) {
      const res = await fetcher(`${baseUrl}/${encodeURIComponent(directory)}/submissions`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "idempotency-key": `${job.job_id}:${directory}`,
        },
        body: JSON.stringify({ listing: job.payload.listing, customer: job.customer_id }),
        signal,
      });
      await res.body?.cancel();
      const later = res.status === 408 || res.status === 429;
      if (res.status >= 400 && res.status < 500 && !later) {
        throw new PermanentJobError(`${directory} refused the listing (HTTP ${res.status})`);
      }
      if (!res.ok) throw new Error(`${directory} answered HTTP ${res.status}`);
      submitted.push(directory);
      progress(submitted.length, directories.length, directory);
    }
    return { submitted };
  };
}

if (import.meta.main) {
  const baseUrl = Deno.env.get("DIRECTORY_API_URL");
  if (!baseUrl) throw new Error("DIRECTORY_API_URL is required");
  await runWorker(directorySubmission(baseUrl));
}
