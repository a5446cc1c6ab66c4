/**
 * `deno task demo`: enqueues a few jobs on the running local stack through the queue API and
 * shows them go through the workers, until each is completed or failed.
 */
import { profileFromArgs } from "./stack/profile.ts";
import { runningStackEnv } from "./stack/running.ts";

const env = runningStackEnv(profileFromArgs(Deno.args));
const customer = `demo-${new Date().toISOString().slice(11, 19).replaceAll(":", "")}`;
const base = `${env.API_URL}/functions/v1/queue/${customer}`;
const headers = { authorization: `Bearer ${env.SERVICE_ROLE_KEY}` };

console.log(`Enqueueing 5 jobs for ${customer}...`);
for (let i = 1; i <= 5; i++) {
  const res = await fetch(base, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json", "idempotency-key": `demo-${i}` },
    body: JSON.stringify({ package_size: 10 * i, priority_level: i % 3, payload: { demo: true } }),
  });
  const body = await res.json();
  if (res.status !== 202) {
    console.error(`POST failed (${res.status}): ${JSON.stringify(body)}`);
    Deno.exit(1);
  }
  console.log(`  202 ${body.job.id} package_size=${body.job.package_size}`);
}

const deadline = Date.now() + 60_000;
let last = "";
while (Date.now() < deadline) {
  const { jobs } = await (await fetch(base, { headers })).json();
  // An in-progress job shows its progress, as its handler reported it (for example "2/3").
  const line = jobs.map((j: { status: string; progress: { done: number; total: number } | null }) =>
    (j.status === "in_progress" && j.progress
      ? `${j.progress.done}/${j.progress.total}`.padStart(3) + " running"
      : j.status).padEnd(13)
  ).join(" ");
  if (line !== last) {
    console.log(`${new Date().toISOString().slice(11, 19)}  ${line}`);
    last = line;
  }
  if (jobs.every((j: { status: string }) => j.status === "completed" || j.status === "failed")) {
    console.log("All jobs finished.");
    Deno.exit(0);
  }
  await new Promise((r) => setTimeout(r, 500));
}
console.error("Some jobs did not finish within 60 s: are the workers running? (deno task status)");
Deno.exit(1);
