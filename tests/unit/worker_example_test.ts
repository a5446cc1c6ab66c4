/** The example handler against a real HTTP server on 127.0.0.1 standing in for the directories. */
import assert from "node:assert/strict";
import { directorySubmission } from "../../worker/examples/directory_submission.ts";
import { PermanentJobError, type Progress } from "../../worker/mod.ts";

const job = (directories: unknown) => ({
  job_id: "4f1d2c3b-5a69-4e7f-8a9b-000000000001",
  attempt: 1,
  lease: "l",
  customer_id: "acme",
  package_size: 2,
  priority_level: 0,
  payload: { listing: "Joe's Pizza", directories },
});

async function withDirectories(
  answer: (directory: string) => number,
  run: (
    baseUrl: string,
    seen: { directory: string; key: string | null; body: unknown }[],
  ) => Promise<void>,
) {
  const seen: { directory: string; key: string | null; body: unknown }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const directory = new URL(req.url).pathname.split("/")[1]!;
    seen.push({ directory, key: req.headers.get("idempotency-key"), body: await req.json() });
    return new Response(null, { status: answer(directory) });
  });
  try {
    await run(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

Deno.test("the example submits to each directory with an idempotency key and reports progress", async () => {
  await withDirectories(() => 201, async (baseUrl, seen) => {
    const reports: Omit<Progress, "attempt" | "at">[] = [];
    const result = await directorySubmission(baseUrl)(job(["yelp", "bing"]), {
      signal: new AbortController().signal,
      progress: (done, total, note) => reports.push({ done, total, note }),
    });
    assert.deepEqual(result, { submitted: ["yelp", "bing"] });
    assert.deepEqual(seen.map((s) => s.directory), ["yelp", "bing"]);
    assert.deepEqual(seen.map((s) => s.key), [
      "4f1d2c3b-5a69-4e7f-8a9b-000000000001:yelp",
      "4f1d2c3b-5a69-4e7f-8a9b-000000000001:bing",
    ]);
    assert.deepEqual(seen[0]!.body, { listing: "Joe's Pizza", customer: "acme" });
    assert.deepEqual(reports, [
      { done: 1, total: 2, note: "yelp" },
      { done: 2, total: 2, note: "bing" },
    ]);
  });
});

Deno.test("a 4xx is permanent (but 408 and 429), a 5xx is retryable, a bad payload is permanent", async () => {
  const answers: Record<string, number> = { bing: 422, apple: 503, here: 429, slow: 408 };
  await withDirectories(
    (d) => answers[d] ?? 201,
    async (baseUrl) => {
      const context = { signal: new AbortController().signal, progress: () => {} };
      const handler = directorySubmission(baseUrl);
      await assert.rejects(handler(job(["yelp", "bing"]), context), PermanentJobError);
      await assert.rejects(
        handler(job(["apple"]), context),
        (e: Error) => !(e instanceof PermanentJobError) && /HTTP 503/.test(e.message),
      );
      for (const busy of ["here", "slow"]) {
        await assert.rejects(
          handler(job([busy]), context),
          (e: Error) => !(e instanceof PermanentJobError),
          `${busy} is worth a retry`,
        );
      }
      await assert.rejects(handler(job("yelp"), context), PermanentJobError);
    },
  );
});

Deno.test("an aborted signal stops the example mid-way", async () => {
  await withDirectories(() => 201, async (baseUrl, seen) => {
    const abort = new AbortController();
    const context = {
      signal: abort.signal,
      progress: () => abort.abort(new Error("lease lost")),
    };
    await assert.rejects(directorySubmission(baseUrl)(job(["yelp", "bing"]), context));
    assert.deepEqual(seen.map((s) => s.directory), ["yelp"], "nothing sent after the abort");
  });
});
