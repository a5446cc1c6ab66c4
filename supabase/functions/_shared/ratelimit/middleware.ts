/**
 * withRateLimit(handler, deps): the rate limiter in front of any function. One decision per
 * request covers every policy that applies; a refused request gets 429 with Retry-After and
 * the body existing clients parse; every response carries the IETF RateLimit-Policy and
 * RateLimit header fields (draft-ietf-httpapi-ratelimit-headers).
 */
import { errorResponse } from "../errors.ts";
import { type Caller, sha256Hex } from "../auth.ts";
import { clientAddress, type ClientIpSource } from "./client.ts";
import type { Decision, LimitRequest } from "./limiter.ts";
import type { Outcome } from "./resilient.ts";
import type { Policies, Policy } from "./policy.ts";
import type { RefusalLog } from "./refusals.ts";

export interface RateLimitDeps {
  fn: string;
  config: Policies;
  limiter: { check(requests: LimitRequest[], cost?: number): Promise<Outcome> };
  clientIp: ClientIpSource;
  /** Who is calling, as far as the function has verified it; without it, everyone is "none". */
  identify?(req: Request): Promise<Caller>;
  /** Where refusals are counted for operators (see refusals.ts). */
  refusals?: RefusalLog;
}

type Handler = (req: Request) => Promise<Response>;

/**
 * The policies that apply to a caller, each with the client it counts against: the service role
 * has its own policy; a verified customer or user is counted by subject, and by API key under
 * the apiKey policy (which applies to API-key callers only); anyone else by client address.
 */
function applicable(
  caller: Caller,
  config: Policies,
  address: string,
): { policy: Policy; client: string }[] {
  if (caller.kind === "service") return [{ policy: config.service, client: "service" }];
  const verified = caller.kind === "customer" || caller.kind === "user";
  const client = verified ? caller.subject : `ip:${address}`;
  const apiKeyHash = caller.kind === "customer" && caller.via === "api_key"
    ? caller.apiKeyHash
    : undefined;
  return config.policies.flatMap((policy) => {
    if (policy.keyedOn === "apiKey") {
      return apiKeyHash ? [{ policy, client: `key:${apiKeyHash}` }] : [];
    }
    return [{ policy, client }];
  });
}

/** Answers for a request the limiter could not decide: the database is out, or too busy. */
const UNDECIDED = {
  unavailable: [
    "rate_limiter_unavailable",
    "The service cannot check rate limits right now. Try again shortly.",
  ],
  shed: [
    "rate_limiter_busy",
    "Too many requests are waiting for a rate-limit decision. Try again shortly.",
  ],
} as const;

function quote(name: string): string {
  return `"${name.replace(/["\\]/g, "")}"`;
}

/** The stored key of a client's bucket under a function's policy (SHA-256, hex). */
export function limitKey(fn: string, policy: Policy, client: string): string {
  return sha256Hex(`${fn}\u0000${policy.name}\u0000${client}`);
}

/** A policy's entry in the RateLimit-Policy header field. */
export function policyField(policy: Policy): string {
  return `${quote(policy.name)};q=${policy.limit};w=${policy.periodSeconds}`;
}

/** A policy's entry in the RateLimit header field, from its decision. */
export function stateField(policy: Policy, d: Pick<Decision, "remaining" | "resetMs">): string {
  return `${quote(policy.name)};r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`;
}

function joinFields(...fields: (string | null)[]): string {
  return fields.filter(Boolean).join(", ");
}

/**
 * The 429 existing clients parse: "Max <limit> <what> per <period>s", retryAfter in seconds in
 * the body and in Retry-After.
 */
export function rateLimited(policy: Policy, retryAfterMs: number, what = "requests"): Response {
  const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return errorResponse(
    429,
    "rate_limited",
    `Rate limit exceeded. Max ${policy.limit} ${what} per ${policy.periodSeconds}s`,
    { extra: { retryAfter }, headers: { "retry-after": String(retryAfter) } },
  );
}

export function withRateLimit(handler: Handler, deps: RateLimitDeps): Handler {
  return async (req) => {
    if (req.method === "OPTIONS") return handler(req);
    const caller: Caller = deps.identify ? await deps.identify(req) : { kind: "none" };
    const address = clientAddress(req, deps.clientIp) ?? "unknown";
    const rules = applicable(caller, deps.config, address);
    if (rules.length === 0) return handler(req);
    const requests: LimitRequest[] = rules.map(({ policy, client }) => ({
      key: limitKey(deps.fn, policy, client),
      limit: policy.limit,
      periodMs: policy.periodSeconds * 1000,
      failMode: policy.failMode,
    }));
    const outcome = await deps.limiter.check(requests);
    if (outcome.source === "unavailable" || outcome.source === "shed") {
      // 503, not 429: nothing was decided about this client's quota (see resilient.ts).
      // Retryable, and never an admission.
      await req.body?.cancel();
      const [code, message] = UNDECIDED[outcome.source];
      return errorResponse(503, code, message, { headers: { "retry-after": "1" } });
    }
    const policyHeader = rules.map(({ policy }) => policyField(policy)).join(", ");
    const stateHeader = rules.map(({ policy }, i) => stateField(policy, outcome.decisions[i]!))
      .join(", ");

    let res: Response;
    if (outcome.decisions.every((d) => d.allowed)) {
      res = await handler(req);
    } else {
      await req.body?.cancel();
      outcome.decisions.forEach((d, i) => {
        if (d.allowed) return;
        deps.refusals?.refused({
          policy: rules[i]!.policy.name,
          client: rules[i]!.client,
          ...(caller.kind === "customer" ? { customerId: caller.customerId } : {}),
        });
      });
      // The policy that refused with the longest wait speaks for the answer.
      let worst = 0;
      outcome.decisions.forEach((d, i) => {
        if (d.retryAfterMs > outcome.decisions[worst]!.retryAfterMs) worst = i;
      });
      res = rateLimited(rules[worst]!.policy, outcome.decisions[worst]!.retryAfterMs);
    }
    // A policy the handler applied itself (the queue's jobs policy) comes after the middleware's.
    const headers = new Headers(res.headers);
    headers.set("ratelimit-policy", joinFields(policyHeader, res.headers.get("ratelimit-policy")));
    headers.set("ratelimit", joinFields(stateHeader, res.headers.get("ratelimit")));
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };
}
