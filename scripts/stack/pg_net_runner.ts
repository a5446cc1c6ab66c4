/**
 * DEV-ONLY runner for the pg_net stand-in (scripts/stack/sql/pg_net_standin.sql): takes committed
 * requests from net.http_request_queue, sends them, and records each outcome in
 * net._http_response the way pg_net's background worker does (status, headers, body, or
 * timed_out / error_msg). Like pg_net, delivery is at most once: a request is removed from the
 * queue when taken, whatever happens next.
 *
 * Usage: deno run -A scripts/stack/pg_net_runner.ts <database-url>
 */
import postgres from "postgres";
import { onParentGone } from "./process.ts";

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer> | null;
  timeout_milliseconds: number;
}

/** pg_net keeps responses for six hours (pg_net.ttl). */
const RESPONSE_TTL = "6 hours";
const BATCH = 200;
const POLL_MS = 1_000;

export async function sendRequest(req: QueuedRequest): Promise<{
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
}> {
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(req.timeout_milliseconds),
    });
    return {
      status_code: res.status,
      content_type: res.headers.get("content-type"),
      headers: Object.fromEntries(res.headers),
      content: await res.text(),
      timed_out: false,
      error_msg: null,
    };
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    return {
      status_code: null,
      content_type: null,
      headers: null,
      content: null,
      timed_out: timedOut,
      error_msg: timedOut
        ? `Timeout of ${req.timeout_milliseconds} ms reached`
        : error instanceof Error
        ? error.message
        : String(error),
    };
  }
}

if (import.meta.main) {
  const url = Deno.args[0];
  if (!url) throw new Error("Cannot start pg_net runner: database URL argument is missing");
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  let running = false;
  let again = false;
  let stopped = false;

  const drain = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const batch = await sql<QueuedRequest[]>`
          delete from net.http_request_queue
           where id in (select id from net.http_request_queue order by id limit ${BATCH}
                        for update skip locked)
          returning id, method, url, headers, body, timeout_milliseconds`;
        await Promise.all(batch.map(async (req) => {
          const outcome = await sendRequest(req);
          await sql`insert into net._http_response ${
            sql({
              id: req.id,
              ...outcome,
              headers: outcome.headers ? sql.json(outcome.headers) : null,
            })
          }`;
        }));
        if (batch.length === BATCH) again = true;
      } while (again && !stopped);
    } catch (error) {
      console.error(`pg_net runner: ${error instanceof Error ? error.message : error}`);
    } finally {
      running = false;
    }
  };

  await sql.listen("pg_net_standin", () => void drain());
  const poll = setInterval(() => void drain(), POLL_MS);
  const prune = setInterval(() => {
    sql`delete from net._http_response where created < now() - ${RESPONSE_TTL}::interval`
      .catch(() => {});
  }, 60_000);
  onParentGone(async () => {
    stopped = true;
    clearInterval(poll);
    clearInterval(prune);
    await sql.end({ timeout: 2 });
  });
  console.log("pg_net runner ready");
  void drain();
}
