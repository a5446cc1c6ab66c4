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
import { spawnService, waitUntil } from "./stack/process.ts";
import { profile } from "./stack/profile.ts";
import { type Stack, startStack, workerEnv } from "./stack/stack.ts";
import { stopProfile } from "./stop.ts";
import {
  alertCheck,
  answerCheck,
  type Check,
  connectionCheck,
  jobCheck,
  type JobRow,
  leaseCheck,
  memoryCheck,
} from "./soak/checks.ts";
import { runLoad } from "./soak/load.ts";
import { drawSoakCharts, soakMarkdown, type SoakResult } from "./soak/report.ts";
import { type Sample, sampleDatabase, sampleProcesses } from "./soak/sample.ts";
import { warmUpSeconds } from "./soak/trend.ts";

const SAMPLE_EVERY_MS = 30_000;
const CUSTOMERS = 6;
const WORKERS = 2;
/** Their default. */
const CONCURRENCY = 10;
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
    if (!Number.isFinite(minutes) || minutes < 1 || minutes > 24 * 60) {
      throw new Error(`--minutes must be a number from 1 to 1440, got '${args[at + 1] ?? ""}'`);
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

async function soak(stack: Stack, settings: SoakSettings): Promise<SoakResult> {
  const { env, profile: p } = stack;
  const log = (line: string) => console.log(`[soak] ${line}`);
  const workers = await Promise.all(Array.from({ length: WORKERS }, (_, i) => {
    const name = `soak-worker-${i + 1}`;
    let ready = false;
    const service = spawnService(name, Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", join(p.root, "scripts", "soak", "worker.ts")],
      env: {
        ...workerEnv(env, name),
        WORKER_DB_URL: `${workerEnv(env, name).WORKER_DB_URL}&application_name=${name}`,
        WORKER_CONCURRENCY: String(CONCURRENCY),
        JOB_TIMEOUT_SECONDS: "10",
      },
      logDir: p.stateDir,
      onLine: (line) => {
        if (line.includes(" ready ")) ready = true;
      },
    });
    return waitUntil(name, () => Promise.resolve(ready)).then(() => service);
  }));
  const sql = postgres(`${env.DB_URL}?application_name=soak-sampler`, {
    max: 1,
    onnotice: () => {},
  });
  try {
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
    const roots = () =>
      [...stack.services, ...workers].map((s) => ({ service: s.name, pid: s.pid }));
    const takeSample = async () => {
      samples.push({
        at: seconds(),
        processes: sampleProcesses(roots()),
        database: await sampleDatabase(sql),
      });
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await takeSample();
        const last = samples.at(-1)!;
        log(
          `${
            (last.at / 60).toFixed(1)
          } min: ${last.database.leases} leases, ${last.database.pending} pending, ${
            Object.values(last.database.connections).reduce((a, b) => a + b, 0)
          } connections`,
        );
        const wake = Date.now() + SAMPLE_EVERY_MS;
        while (sampling && Date.now() < wake) await sleep(250);
      }
    })();

    log(`load for ${settings.minutes} min, ${CUSTOMERS} customers, ${WORKERS} workers`);
    const record = await runLoad({
      apiUrl: env.API_URL,
      customers,
      viewerToken,
      sinkUrl: new URL(env.SLACK_WEBHOOK_URL).origin,
      enqueueEveryMs: 3_000,
      deadLetterEveryMs: 4 * 60_000,
      healthEveryMs: 5_000,
      consoleEveryMs: 10_000,
      signal: AbortSignal.timeout(settings.minutes * 60_000),
    });
    const loadSeconds = seconds();
    log(`load stopped: ${record.accepted.length} jobs accepted; draining`);

    // The drain: every accepted job ended, then every alert delivered.
    const ids = record.accepted.map((a) => a.id);
    const deadline = Date.now() + DRAIN_LIMIT_MS;
    while (Date.now() < deadline) {
      const [open] = await sql<{ n: number }[]>`
        select count(*)::int as n from public.jobs
         where id = any(${ids}::uuid[]) and status in ('pending', 'in_progress')`;
      const [alerts] = await sql<{ n: number }[]>`
        select count(*)::int as n from private.alerts where delivered_at is null`;
      if (open!.n === 0 && alerts!.n === 0) break;
      await sleep(2_000);
    }
    // Workers heartbeat every 15 s: the last beat after the last job says they hold nothing.
    await sleep(16_000);
    const drainSeconds = seconds() - loadSeconds;
    sampling = false;
    await sampler;

    const rows = await sql<JobRow[]>`
      select j.id, j.status,
             (select count(*)::int from public.queue_history h
               where h.job_id = j.id
                 and h.event in ('completed', 'failed', 'dead_lettered', 'cancelled')) as endings
        from public.jobs j where j.id = any(${ids}::uuid[])`;
    const [leases] = await sql<{ in_progress: number; holding: number; recovered: number }[]>`
      select (select count(*)::int from public.jobs where status = 'in_progress') as in_progress,
             (select count(*)::int from public.worker_heartbeats
               where current_job_id is not null) as holding,
             (select count(*)::int from public.queue_history
               where event = 'recovered' and job_id = any(${ids}::uuid[])) as recovered`;
    const alerts = await sql<{ id: number; kind: string; delivered: boolean; text: string }[]>`
      select id::int, kind, delivered_at is not null as delivered, message->>'text' as text
        from private.alerts order by id`;
    const posts = (await (await fetch(`${new URL(env.SLACK_WEBHOOK_URL).origin}/_sink/messages`))
      .json() as { status: number; body: { text?: string } }[])
      .map((m) => ({ status: m.status, text: m.body?.text ?? "" }));

    const warmUp = warmUpSeconds(loadSeconds);
    const loaded = samples.filter((s) => s.at <= loadSeconds);
    const checks: Check[] = [
      memoryCheck(loaded, warmUp),
      connectionCheck(loaded, warmUp),
      jobCheck(record.accepted, rows),
      leaseCheck({
        inProgress: leases!.in_progress,
        workersHoldingJobs: leases!.holding,
        recovered: leases!.recovered,
      }),
      alertCheck(alerts, posts, record.accepted.filter((a) => a.mode === "poison").length),
      answerCheck(record),
    ];
    return {
      minutes: settings.minutes,
      loadSeconds,
      warmUpSeconds: warmUp,
      drainSeconds,
      workers: { processes: WORKERS, concurrency: CONCURRENCY },
      customers: CUSTOMERS,
      samples,
      record,
      checks,
      date: new Date().toISOString().slice(0, 10),
    };
  } finally {
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
    stack = await startStack(p, { log: (line) => console.log(`• ${line}`) });
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
