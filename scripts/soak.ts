/**
 * `deno task soak [--minutes N] [--no-report]`: the whole stack under a steady mixed load for N
 * minutes (default 20), on a stack of its own (the `soak` profile), sampled every 30 s; then the
 * drain and the checks (scripts/soak/checks.ts). Its part of docs/RELIABILITY.md and its charts in
 * docs/reliability/ are rewritten unless --no-report (CI's short run) says otherwise. Ends with
 * `N passed, N failed` over the checks; any failure exits non-zero.
 */
import { join } from "node:path";
import postgres from "postgres";
import { mintConsoleToken, stackSigningKey } from "./console_token.ts";
import { writeReliabilityReport } from "./reliability_report.ts";
import { type Service, spawnService, waitUntil } from "./stack/process.ts";
import { profile } from "./stack/profile.ts";
import { type Stack, startStack, workerEnv } from "./stack/stack.ts";
import { stopProfile } from "./stop.ts";
import {
  alertCheck,
  answerCheck,
  connectionCheck,
  drainCheck,
  jobCheck,
  leaseCheck,
  memoryCheck,
} from "./soak/checks.ts";
import { drain, readBack } from "./soak/drain.ts";
import { heapHookFlags, HeapReports } from "./soak/heap.ts";
import { runLoad } from "./soak/load.ts";
import { drawSoakCharts, soakMarkdown, type SoakResult } from "./soak/report.ts";
import { type Sample, sampleDatabase, sampleProcesses } from "./soak/sample.ts";
import { warmUpSeconds } from "./soak/trend.ts";

const SAMPLE_EVERY_S = 30;
const CUSTOMERS = 6;
const WORKERS = 2;
/** The workers' default (WORKER_CONCURRENCY), which the soak leaves as shipped. */
const CONCURRENCY = 10;
/** The soak's jobs take at most 2 s; hanging attempts outlast this (the default is 30 min). */
const JOB_TIMEOUT_SECONDS = 10;
/** How long the drain may take: a poison job's retries and the DLQ monitor's minute schedule. */
const DRAIN_LIMIT_MS = 10 * 60_000;

export interface SoakSettings {
  minutes: number;
  writeReport: boolean;
}

export function soakSettings(args: string[]): SoakSettings {
  const at = args.indexOf("--minutes");
  let minutes = 20;
  if (at >= 0) {
    minutes = Number(args[at + 1]);
    // Three minutes give the trend checks their samples after the minute of warm-up.
    if (!Number.isFinite(minutes) || minutes < 3 || minutes > 24 * 60) {
      throw new Error(`--minutes must be a number from 3 to 1440, got '${args[at + 1] ?? ""}'`);
    }
  }
  const known = ["--minutes", "--no-report"];
  const unknown = args.find((a, i) => !known.includes(a) && args[i - 1] !== "--minutes");
  if (unknown !== undefined) {
    throw new Error(`Unknown argument '${unknown}': deno task soak [--minutes N] [--no-report]`);
  }
  return { minutes, writeReport: !args.includes("--no-report") };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A soak worker: the shipped runtime's settings, but for the job timeout (see worker.ts). */
function startWorker(stack: Stack, name: string): Promise<Service> {
  // The shipped long poll (20 s), not the stack's shorter one for quick stops.
  const { RECEIVE_WAIT_SECONDS: _, ...env } = workerEnv(stack.env, name);
  let ready = false;
  const service = spawnService(name, Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      ...heapHookFlags(stack.profile.root),
      join(stack.profile.root, "scripts", "soak", "worker.ts"),
    ],
    env: {
      ...env,
      WORKER_DB_URL: `${env.WORKER_DB_URL}&application_name=${name}`,
      JOB_TIMEOUT_SECONDS: String(JOB_TIMEOUT_SECONDS),
    },
    logDir: stack.profile.stateDir,
    onLine: (line) => {
      if (line.includes(" ready ")) ready = true;
    },
  });
  return waitUntil(name, () => Promise.resolve(ready)).then(() => service, async (error) => {
    await service.stop();
    throw error;
  });
}

async function soak(stack: Stack, settings: SoakSettings): Promise<SoakResult> {
  const { env, profile: p } = stack;
  const log = (line: string) => console.log(`[soak] ${line}`);
  const sinkUrl = new URL(env.SLACK_WEBHOOK_URL).origin;
  const sql = postgres(`${env.DB_URL}?application_name=soak-sampler`, {
    max: 1,
    onnotice: () => {},
  });
  const workers: Service[] = [];
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  try {
    for (let i = 1; i <= WORKERS; i++) workers.push(await startWorker(stack, `soak-worker-${i}`));
    const key = stackSigningKey(p.stateDir);
    const tokenMinutes = settings.minutes + 60;
    const customers = new Map<string, string>();
    for (let i = 1; i <= CUSTOMERS; i++) {
      const customer = `soak-customer-${i}`;
      customers.set(
        customer,
        await mintConsoleToken(key, {
          email: `${customer}@localhost`,
          appMetadata: { customer_id: customer },
          minutes: tokenMinutes,
          issuer: env.API_URL,
        }),
      );
    }
    const viewerToken = await mintConsoleToken(key, {
      role: "viewer",
      minutes: tokenMinutes,
      issuer: env.API_URL,
    });

    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const samples: Sample[] = [];
    const heapReports = new HeapReports(p.stateDir);
    const roots = () =>
      [...stack.services, ...workers].map((s) => ({ service: s.name, pid: s.pid }));
    // On the 30 s grid from the start, however long a sample takes; a failed one is skipped.
    sampler = (async () => {
      for (let n = 0; sampling; n++) {
        try {
          // Every Deno process collects fully and reports, then all are sampled (heap.ts).
          const { reports } = await heapReports.collect();
          const at = seconds();
          samples.push({
            at,
            processes: sampleProcesses(roots(), (pid) => reports.get(pid)),
            database: await sampleDatabase(sql),
          });
          const db = samples.at(-1)!.database;
          log(`${(at / 60).toFixed(1)} min: ${db.leases} leases, ${db.pending} pending`);
        } catch (error) {
          log(`sample skipped: ${error instanceof Error ? error.message : error}`);
        }
        while (sampling && seconds() < (n + 1) * SAMPLE_EVERY_S) await sleep(250);
      }
    })();

    log(`load for ${settings.minutes} min, ${CUSTOMERS} customers, ${WORKERS} workers`);
    const record = await runLoad({
      apiUrl: env.API_URL,
      customers,
      viewerToken,
      sinkUrl,
      enqueueEveryMs: 3_000,
      deadLetterEveryMs: 4 * 60_000,
      healthEveryMs: 5_000,
      consoleEveryMs: 10_000,
      signal: AbortSignal.timeout(settings.minutes * 60_000),
    });
    const loadSeconds = seconds();
    log(`load stopped: ${record.accepted.length} jobs accepted; draining`);
    const ids = record.accepted.map((a) => a.id);
    const settled = await drain(sql, ids, DRAIN_LIMIT_MS);
    const drainSeconds = seconds() - loadSeconds;
    if (!settled) log(`not settled after ${DRAIN_LIMIT_MS / 60_000} min`);
    sampling = false;
    await sampler;
    const back = await readBack(sql, sinkUrl, ids);

    const warmUp = warmUpSeconds(loadSeconds);
    const loaded = samples.filter((s) => s.at <= loadSeconds);
    const poisonJobs = record.accepted.filter((a) => a.mode === "poison").length;
    return {
      minutes: settings.minutes,
      loadSeconds,
      warmUpSeconds: warmUp,
      drainSeconds,
      workers: { processes: WORKERS, concurrency: CONCURRENCY },
      customers: CUSTOMERS,
      samples,
      record,
      checks: [
        memoryCheck(loaded, warmUp),
        connectionCheck(loaded, warmUp),
        jobCheck(record.accepted, back.jobs),
        leaseCheck(back.leases),
        alertCheck(back.alerts, back.posts, poisonJobs, record.slackFaults),
        answerCheck(record),
        drainCheck(settled, drainSeconds, DRAIN_LIMIT_MS / 1000),
      ],
      date: new Date().toISOString().slice(0, 10),
    };
  } finally {
    sampling = false;
    await sampler;
    await sql.end();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

if (import.meta.main) {
  let settings: SoakSettings;
  try {
    settings = soakSettings(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const p = profile("soak");
  await stopProfile(p);
  await Deno.remove(p.stateDir, { recursive: true }).catch(() => {});
  let stack: Stack | undefined;
  const interrupted = async () => {
    await stack?.stop();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  Deno.addSignalListener("SIGTERM", interrupted);
  let result: SoakResult | undefined;
  try {
    console.log(`Starting the soak stack in ${p.stateDir}...`);
    stack = await startStack(p, {
      log: (line) => console.log(`• ${line}`),
      denoFlags: heapHookFlags(p.root),
    });
    result = await soak(stack, settings);
  } catch (error) {
    console.error(`Soak aborted: ${error instanceof Error ? error.message : error}`);
  } finally {
    await stack?.stop();
  }
  if (!result) {
    console.log("0 passed, 1 failed");
    Deno.exit(1);
  }
  // Every sample, process by process, for a closer look than the charts give.
  const samplesFile = join(p.stateDir, "samples.json");
  Deno.writeTextFileSync(samplesFile, JSON.stringify(result.samples));
  console.log(`samples in ${samplesFile}`);
  const chartDir = settings.writeReport
    ? join(p.root, "docs", "reliability")
    : join(p.stateDir, "charts");
  const charts = await drawSoakCharts(result, chartDir);
  const markdown = soakMarkdown(result, charts);
  console.log(`\n${markdown}`);
  if (settings.writeReport) console.log(`wrote ${writeReliabilityReport("soak", markdown)}`);
  console.log(`charts in ${chartDir}`);
  const failed = result.checks.filter((c) => !c.passed).length;
  console.log(`${result.checks.length - failed} passed, ${failed} failed`);
  Deno.exit(failed === 0 ? 0 : 1);
}
