/**
 * A local stand-in for a Slack incoming webhook: records every POST (in memory and in
 * slack.jsonl), prints one readable line per message and answers "ok" like Slack does.
 * Tests read what arrived with GET /_sink/messages and script failures with
 * POST /_sink/respond {"statuses":[429,500], "retryAfter": 1}: the next requests get those
 * statuses, in order, then 200 again.
 *
 * Usage: deno run -A scripts/stack/slack_sink.ts <port> <jsonl-file>
 */
import { onParentGone } from "./process.ts";

/** What Slack's webhooks answer with each status (their bodies are short error codes). */
const ANSWERS: Record<number, string> = {
  200: "ok",
  400: "invalid_payload",
  403: "invalid_token",
  404: "no_team",
  410: "channel_is_archived",
};

export interface SinkMessage {
  receivedAt: string;
  path: string;
  status: number;
  body: unknown;
}

export interface Sink {
  handle(req: Request): Promise<Response>;
  messages: SinkMessage[];
}

/** One line a human can read in the stack's output. */
export function summarize(body: unknown): string {
  if (body && typeof body === "object" && "text" in body && typeof body.text === "string") {
    return body.text.replace(/\s+/g, " ").slice(0, 200);
  }
  return JSON.stringify(body).slice(0, 200);
}

export function createSink(record: (m: SinkMessage) => void = () => {}): Sink {
  const messages: SinkMessage[] = [];
  let scripted: number[] = [];
  let retryAfter = 1;
  const json = (data: unknown, status = 200) => Response.json(data, { status });
  return {
    messages,
    async handle(req: Request): Promise<Response> {
      const { pathname } = new URL(req.url);
      if (pathname === "/_sink/messages") {
        if (req.method === "GET") return json(messages);
        if (req.method === "DELETE") {
          messages.length = 0;
          return json({ cleared: true });
        }
      }
      if (pathname === "/_sink/respond" && req.method === "POST") {
        const body = await req.json();
        scripted = Array.isArray(body.statuses) ? body.statuses.map(Number) : [];
        retryAfter = Number(body.retryAfter ?? 1);
        return json({ scripted });
      }
      if (req.method !== "POST") return new Response("invalid_method", { status: 405 });
      const text = await req.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return new Response("invalid_payload", { status: 400 });
      }
      const status = scripted.shift() ?? 200;
      const message = { receivedAt: new Date().toISOString(), path: pathname, status, body };
      messages.push(message);
      record(message);
      if (status === 429) {
        return new Response("rate_limited", {
          status,
          headers: { "retry-after": String(retryAfter) },
        });
      }
      return new Response(ANSWERS[status] ?? "server_error", { status });
    },
  };
}

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  const file = Deno.args[1];
  if (!Number.isInteger(port) || !file) {
    throw new Error("Cannot start Slack sink: usage: slack_sink.ts <port> <jsonl-file>");
  }
  const sink = createSink((m) => {
    Deno.writeTextFileSync(file, JSON.stringify(m) + "\n", { append: true });
    console.log(`[slack ${m.status}] ${summarize(m.body)}`);
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => console.log(`Slack sink on ${port}`) },
    sink.handle,
  );
  onParentGone(() => server.shutdown());
}
