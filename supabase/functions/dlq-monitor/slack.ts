/**
 * Posting to a Slack incoming webhook, and what its answer means for the alert. The webhook URL
 * is a secret (anyone holding it can post): it is never logged and never part of a detail.
 */

export type SlackOutcome =
  | { outcome: "delivered" }
  | { outcome: "rate_limited"; retryAfterSeconds: number; detail: string }
  | { outcome: "misconfigured"; detail: string }
  | { outcome: "failed"; detail: string };

/** 400/403/404/410: the webhook or its channel is wrong or gone; retrying as is cannot help. */
const MISCONFIGURED = new Set([400, 403, 404, 410]);

export function classify(status: number, body: string, retryAfter: string | null): SlackOutcome {
  // Slack's error bodies are short codes (invalid_token, channel_not_found...): safe to keep.
  const said = body.replace(/\s+/g, " ").trim().slice(0, 100);
  const detail = `Slack webhook answered ${status}${said ? ` ${said}` : ""}`;
  if (status >= 200 && status < 300) return { outcome: "delivered" };
  if (status === 429) {
    const seconds = Number(retryAfter);
    return {
      outcome: "rate_limited",
      retryAfterSeconds: Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : 30,
      detail,
    };
  }
  if (MISCONFIGURED.has(status)) return { outcome: "misconfigured", detail };
  return { outcome: "failed", detail };
}

export type PostToSlack = (message: unknown) => Promise<SlackOutcome>;

export function slackWebhook(url: string, timeoutMs: number): PostToSlack {
  return async (message) => {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(message),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await res.text();
      return classify(res.status, body, res.headers.get("retry-after"));
    } catch (error) {
      // The error names the host at most; keep only its kind, never the URL.
      const kind = error instanceof Error ? error.name : "Error";
      return {
        outcome: "failed",
        detail: kind === "TimeoutError"
          ? `Slack did not answer within ${timeoutMs} ms`
          : `Slack unreachable (${kind})`,
      };
    }
  };
}
