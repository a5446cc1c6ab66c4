/**
 * The soak's steady mixed load, until `signal` aborts: each customer enqueues single jobs and
 * bulk batches at a steady pace (modes drawn so that some fail, hang or retry), a poison job
 * every few minutes with Slack scripted to answer 429 or 500 to the next post, health probes,
 * and the console's reads with a viewer token. It records every answer and every accepted job.
 */
import type { Mode } from "./handler.ts";

export interface LoadOptions {
  apiUrl: string;
  /** Customer id to its JWT (role authenticated, app_metadata.customer_id). */
  customers: Map<string, string>;
  /** A console viewer's token. */
  viewerToken: string;
  /** The Slack sink's base URL (its /_sink/respond scripts failures). */
  sinkUrl: string;
  /** Between one customer's requests, on average. */
  enqueueEveryMs: number;
  deadLetterEveryMs: number;
  healthEveryMs: number;
  consoleEveryMs: number;
  signal: AbortSignal;
  random?: () => number;
}

export interface Accepted {
  id: string;
  mode: Mode;
}

export interface LoadRecord {
  /** Per request kind ("POST /queue bulk", "GET /health", ...), answers by status. */
  statuses: Map<string, Map<number, number>>;
  latencies: Map<string, number[]>;
  accepted: Accepted[];
  /** Requests that got no answer at all (a network error), by kind. */
  unanswered: Map<string, number>;
  /** The statuses Slack was scripted to answer with, in order. */
  slackFaults: number[];
}

const REQUEST_TIMEOUT_MS = 30_000;

/** The share of each mode among ordinary jobs (poison jobs come on their own schedule). */
const MIX: [Mode, number][] = [["ok", 0.8], ["flaky", 0.08], ["hang", 0.04], ["reject", 0.08]];

export function drawMode(random: () => number): Mode {
  let r = random();
  for (const [mode, share] of MIX) {
    if (r < share) return mode;
    r -= share;
  }
  return "ok";
}

/** The console's reads, as its panels poll them. */
const CONSOLE_READS = [
  "/overview",
  "/jobs",
  "/jobs?status=failed",
  "/leases",
  "/workers",
  "/dlq",
  "/alerts",
  "/schedules",
];

export async function runLoad(options: LoadOptions): Promise<LoadRecord> {
  const random = options.random ?? Math.random;
  const record: LoadRecord = {
    statuses: new Map(),
    latencies: new Map(),
    accepted: [],
    unanswered: new Map(),
    slackFaults: [],
  };
  // One loop failing (the sink gone, an answer we cannot read) stops them all.
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  // Jittered, so the customers do not move in step.
  const every = async (ms: number, first: number, act: () => Promise<void>) => {
    try {
      await sleep(first);
      while (!signal.aborted) {
        await act();
        await sleep(ms * (0.5 + random()));
      }
    } catch (error) {
      stop.abort(error);
      throw error;
    }
  };
  const call = async (kind: string, url: string, init: RequestInit = {}) => {
    const started = performance.now();
    try {
      // An answer that never comes counts as unanswered, rather than holding the soak.
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const body = await res.text();
      const byStatus = record.statuses.get(kind) ?? new Map<number, number>();
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      record.statuses.set(kind, byStatus);
      const latencies = record.latencies.get(kind) ?? [];
      latencies.push(performance.now() - started);
      record.latencies.set(kind, latencies);
      return { status: res.status, body };
    } catch {
      record.unanswered.set(kind, (record.unanswered.get(kind) ?? 0) + 1);
      return undefined;
    }
  };
  // Slack's scripted failures: 429 then 500 for the first alert, then one more each time the
  // last was met. (The sink replaces what is still waiting, and after the first alert the DLQ
  // monitor alerts at most every 10 minutes, so scripting one per dead letter would mostly be lost.)
  const sink = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${options.sinkUrl}${path}`, init);
    if (!res.ok) throw new Error(`The Slack sink answered ${res.status} to ${path}`);
    return await res.json();
  };
  const scriptSlack = async () => {
    const posts = await sink("/_sink/messages") as { status: number }[];
    const refused = posts.filter((p) => p.status !== 200).length;
    if (refused < record.slackFaults.length) return; // the last script still waits
    const statuses = record.slackFaults.length === 0
      ? [429, 500]
      : [record.slackFaults.length % 2 === 0 ? 429 : 500];
    await sink("/_sink/respond", {
      method: "POST",
      body: JSON.stringify({ statuses, retryAfter: 1 }),
    });
    record.slackFaults.push(...statuses);
  };
  const enqueue = async (customer: string, token: string, modes: Mode[], bulk: boolean) => {
    const jobs = modes.map((mode) => ({
      package_size: 1 + Math.floor(random() * 4),
      priority_level: Math.floor(random() * 11),
      payload: { soak: mode },
    }));
    const answer = await call(
      bulk ? "POST /queue bulk" : "POST /queue",
      `${options.apiUrl}/functions/v1/queue/${customer}`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(bulk ? { jobs } : jobs[0]),
      },
    );
    if (answer?.status !== 202) return;
    const body = JSON.parse(answer.body);
    const ids: string[] = bulk ? body.jobs.map((j: { id: string }) => j.id) : [body.job.id];
    ids.forEach((id, i) => record.accepted.push({ id, mode: modes[i]! }));
  };

  const customers = [...options.customers];
  const [poisonCustomer, poisonToken] = customers[0]!;
  const loops = [
    ...customers.map(([customer, token]) =>
      every(options.enqueueEveryMs, random() * options.enqueueEveryMs, async () => {
        const bulk = random() < 0.3;
        const count = bulk ? 5 + Math.floor(random() * 6) : 1;
        await enqueue(customer, token, Array.from({ length: count }, () => drawMode(random)), bulk);
      })
    ),
    // A dead letter every few minutes.
    every(options.deadLetterEveryMs, options.deadLetterEveryMs / 4, async () => {
      await scriptSlack();
      await enqueue(poisonCustomer, poisonToken, ["poison"], false);
    }),
    every(options.healthEveryMs, 0, async () => {
      await call("GET /health", `${options.apiUrl}/functions/v1/health`);
    }),
    every(options.consoleEveryMs, options.consoleEveryMs / 2, async () => {
      const path = CONSOLE_READS[Math.floor(random() * CONSOLE_READS.length)]!;
      await call(
        `GET console-api${path.split("?")[0]}`,
        `${options.apiUrl}/functions/v1/console-api${path}`,
        { headers: { authorization: `Bearer ${options.viewerToken}` } },
      );
    }),
  ];
  await Promise.all(loops);
  return record;
}
