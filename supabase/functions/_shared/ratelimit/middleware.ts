/**
 * withRateLimit(handler, deps): the rate limiter in front of any function. One decision per
 * request covers every policy that applies; a refused request gets 429 with Retry-After and
 * the body existing clients parse; every response carries the IETF RateLimit-Policy and
 * RateLimit header fields (draft-ietf-httpapi-ratelimit-headers).
 */
import { errorResponse } from "../errors.ts";
import { sha256Hex } from "../auth.ts";
import { clientAddress, type ClientIpSource } from "./client.ts";
import type { LimitRequest, Outcome } from "./limiter.ts";
import type { Policy, RateLimitConfig } from "./policy.ts";

/** Who is calling, as far as the function has verified it. */
export type Identity =
  | { kind: "service" }
  | { kind: "subject"; subject: string; apiKey?: string }
  | { kind: "anonymous" };

export interface RateLimitDeps {
  fn: string;
  config: RateLimitConfig;
  limiter: { check(requests: LimitRequest[]): Promise<Outcome> };
  clientIp: ClientIpSource;
  identify?(req: Request): Promise<Identity>;
}

type Handler = (req: Request) => Promise<Response>;

function applicable(
  identity: Identity,
  config: RateLimitConfig,
): { policy: Policy; client: string }[] {
  if (identity.kind === "service") return [{ policy: config.service, client: "service" }];
  return config.policies.flatMap((policy) => {
    if (policy.keyedOn === "apiKey") {
      return identity.kind === "subject" && identity.apiKey
        ? [{ policy, client: `key:${identity.apiKey}` }]
        : [];
    }
    return [{ policy, client: identity.kind === "subject" ? identity.subject : "" }];
  });
}

function quote(name: string): string {
  return `"${name.replace(/["\\]/g, "")}"`;
}

export function withRateLimit(handler: Handler, deps: RateLimitDeps): Handler {
  return async (req) => {
    if (req.method === "OPTIONS") return handler(req);
    const identity = deps.identify ? await deps.identify(req) : { kind: "anonymous" as const };
    const address = clientAddress(req, deps.clientIp) ?? "unknown";
    const rules = applicable(identity, deps.config).map(({ policy, client }) => ({
      policy,
      client: client || `ip:${address}`,
    }));
    if (rules.length === 0) return handler(req);
    const requests: LimitRequest[] = rules.map(({ policy, client }) => ({
      key: sha256Hex(`${deps.fn}\u0000${policy.name}\u0000${client}`),
      limit: policy.limit,
      periodMs: policy.periodSeconds * 1000,
      failMode: policy.failMode,
    }));
    const outcome = await deps.limiter.check(requests);
    if (outcome.source === "unavailable") {
      await req.body?.cancel();
      return errorResponse(
        503,
        "rate_limiter_unavailable",
        "The service cannot check rate limits right now. Try again shortly.",
        { headers: { "retry-after": "1" } },
      );
    }
    const policyHeader = rules.map(({ policy }) =>
      `${quote(policy.name)};q=${policy.limit};w=${policy.periodSeconds}`
    ).join(", ");
    const stateHeader = rules.map(({ policy }, i) => {
      const d = outcome.decisions[i]!;
      return `${quote(policy.name)};r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`;
    }).join(", ");

    let res: Response;
    if (outcome.decisions.every((d) => d.allowed)) {
      res = await handler(req);
    } else {
      await req.body?.cancel();
      // The policy that refused with the longest wait speaks for the answer.
      let worst = 0;
      outcome.decisions.forEach((d, i) => {
        if (d.retryAfterMs > outcome.decisions[worst]!.retryAfterMs) worst = i;
      });
      const { policy } = rules[worst]!;
      const retryAfter = Math.max(1, Math.ceil(outcome.decisions[worst]!.retryAfterMs / 1000));
      res = errorResponse(
        429,
        "rate_limited",
        `Rate limit exceeded. Max ${policy.limit} requests per ${policy.periodSeconds}s`,
        { extra: { retryAfter }, headers: { "retry-after": String(retryAfter) } },
      );
    }
    const headers = new Headers(res.headers);
    headers.set("ratelimit-policy", policyHeader);
    headers.set("ratelimit", stateHeader);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };
}
