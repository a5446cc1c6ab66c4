/**
 * `deno task dlq:redrive [--limit N] [--dry-run]`: moves dead letters from jobs-dlq back to
 * jobs by calling the dlq-monitor function's redrive action (POST /dlq-monitor/redrive) until
 * the DLQ is empty or N messages were handled. Safe to interrupt and run again: each DLQ
 * message is redriven once (private.redrives), and the outbox sends every re-queued job.
 *
 * Targets the running local stack, or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY when set
 * (a hosted project).
 */
import { profileFromArgs } from "./stack/profile.ts";
import { runningStackEnv } from "./stack/running.ts";

export interface RedriveArgs {
  limit: number;
  dryRun: boolean;
}

export const USAGE = "Usage: deno task dlq:redrive [--limit N] [--dry-run] [--profile dev]";

export function parseArgs(args: string[]): RedriveArgs {
  let limit = 10_000;
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--dry-run") dryRun = true;
    else if (arg === "--limit") {
      const value = Number(args[++i]);
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`--limit must be a positive integer, got '${args[i] ?? ""}'`);
      }
      limit = value;
    } else if (arg === "--profile") i++;
    else throw new Error(`Unknown argument '${arg}'. ${USAGE}`);
  }
  return { limit, dryRun };
}

/** Per call: what the function handles within its time budget. */
const PER_CALL = 500;

if (import.meta.main) {
  let options: RedriveArgs;
  try {
    options = parseArgs(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const hostedUrl = Deno.env.get("SUPABASE_URL");
  const hostedKey = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY");
  const { url, key } = hostedUrl && hostedKey ? { url: hostedUrl, key: hostedKey } : (() => {
    const env = runningStackEnv(profileFromArgs(Deno.args));
    return { url: env.API_URL, key: env.SERVICE_ROLE_KEY };
  })();
  const call = async (body: Record<string, unknown>) => {
    let res: Response;
    // 409: a DLQ check or another redrive holds the queue (usually seconds; a lease left by one
    // that died lapses within two minutes): wait for it rather than give up.
    for (let tries = 1;; tries++) {
      res = await fetch(`${url}/functions/v1/dlq-monitor/redrive`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (res.status !== 409 || tries === 24) break;
      await res.body?.cancel();
      const seconds = Number(res.headers.get("retry-after")) || 5;
      console.log(`Another DLQ check or redrive holds the queue; trying again in ${seconds} s.`);
      await new Promise((r) => setTimeout(r, seconds * 1000));
    }
    const answer = await res.json();
    if (!res.ok) throw new Error(`redrive answered ${res.status}: ${answer.message}`);
    return answer;
  };

  if (options.dryRun) {
    const answer = await call({ limit: Math.min(options.limit, 10), dryRun: true });
    const total = answer.remaining.visible + answer.remaining.inFlight;
    console.log(`Dry run: ${total} message(s) in the DLQ; would move up to ${options.limit}.`);
    const recorded = Object.entries(answer.recorded.byAction)
      .map(([action, n]) => `${action} ${n}`)
      .join(", ");
    console.log(`Recorded by the monitor: ${answer.recorded.total} (${recorded || "none"}).`);
    for (const m of answer.sample) {
      console.log(
        `  ${m.messageId}  job ${m.jobId ?? "(not a job message)"}  received ${m.receiveCount}x`,
      );
    }
  } else {
    let handled = 0;
    const totals = { requeued: 0, finished: 0, running: 0, already_redriven: 0, skipped: 0 };
    while (handled < options.limit) {
      const answer = await call({
        limit: Math.min(PER_CALL, options.limit - handled),
        dryRun: false,
      });
      const moved = Object.values(answer.moved as Record<string, number>).reduce(
        (a, b) => a + b,
        0,
      );
      for (const [k, v] of Object.entries(answer.moved as Record<string, number>)) {
        totals[k as keyof typeof totals] += v;
      }
      totals.skipped += answer.skipped;
      handled += moved + answer.skipped;
      console.log(
        `moved ${moved}, skipped ${answer.skipped}; left in the DLQ: ${answer.remaining.visible} visible, ${answer.remaining.inFlight} in flight`,
      );
      if (moved + answer.skipped === 0) break;
    }
    console.log(
      `Done: ${totals.requeued} job(s) re-queued, ${totals.already_redriven} already re-queued by an earlier run, ${totals.finished} already finished, ${totals.running} held by a live worker; ${totals.skipped} message(s) left in the DLQ (not a known job).`,
    );
  }
}
