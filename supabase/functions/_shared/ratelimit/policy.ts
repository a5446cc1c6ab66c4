/**
 * Rate-limit policies: the presets the old system named, and their configuration from env vars,
 * so limits change per endpoint without code changes.
 *
 *   RATE_LIMIT_<FUNCTION>=standard,apiKey       which presets apply to a function (default: standard)
 *   RATE_LIMIT_PRESET_<NAME>=100/60[:closed]    override a preset: limit per seconds, fail mode
 *   RATE_LIMIT_SERVICE=10000/60                 the service role's own policy (the default)
 *   RATE_LIMIT_JOBS=10000/3600                  jobs a customer may enqueue (queue only; off: none)
 */
import type { Env } from "../config.ts";

export type FailMode = "open" | "closed";

export interface Policy {
  name: string;
  limit: number;
  periodSeconds: number;
  /** What to do when the database cannot decide in time. */
  failMode: FailMode;
  /** client: the caller (user, API key or IP); apiKey: only requests with x-api-key, per key. */
  keyedOn: "client" | "apiKey";
}

export const PRESETS: Record<string, Policy> = {
  standard: {
    name: "standard",
    limit: 100,
    periodSeconds: 60,
    failMode: "open",
    keyedOn: "client",
  },
  strict: { name: "strict", limit: 10, periodSeconds: 60, failMode: "open", keyedOn: "client" },
  relaxed: { name: "relaxed", limit: 1000, periodSeconds: 60, failMode: "open", keyedOn: "client" },
  apiKey: {
    name: "apiKey",
    limit: 10_000,
    periodSeconds: 3600,
    failMode: "open",
    keyedOn: "apiKey",
  },
};

export const SERVICE_POLICY: Policy = {
  name: "service",
  limit: 10_000,
  periodSeconds: 60,
  failMode: "open",
  keyedOn: "client",
};

/**
 * Jobs per customer, charged by the queue function one unit per new job (a bulk of 500 costs
 * 500) in the same transaction as the enqueue: without the database nothing is enqueued, so it
 * has no fallback and fails closed.
 */
export const JOBS_POLICY: Policy = {
  name: "jobs",
  limit: 10_000,
  periodSeconds: 3600,
  failMode: "closed",
  keyedOn: "client",
};

const SPEC = /^(\d+)\/(\d+)(?::(open|closed))?$/;

function parseSpec(base: Policy, raw: string, variable: string, fn: string): Policy {
  const match = SPEC.exec(raw.trim());
  const limit = Number(match?.[1]);
  const periodSeconds = Number(match?.[2]);
  if (!match || limit < 1 || periodSeconds < 1 || periodSeconds > 86_400) {
    throw new Error(
      `Cannot start ${fn}: ${variable} must look like 100/60 or 100/60:closed (limit/seconds), got '${raw}'`,
    );
  }
  return { ...base, limit, periodSeconds, failMode: (match[3] as FailMode) ?? base.failMode };
}

function envName(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").replace(/-/g, "_").toUpperCase();
}

/** The policies a function applies to its callers, and the service role's own. */
export interface Policies {
  policies: Policy[];
  service: Policy;
}

export function policiesFromEnv(env: Env, fn: string): Policies {
  const presets: Record<string, Policy> = {};
  for (const [name, preset] of Object.entries(PRESETS)) {
    const variable = `RATE_LIMIT_PRESET_${envName(name)}`;
    const raw = env[variable]?.trim();
    presets[name] = raw ? parseSpec(preset, raw, variable, fn) : preset;
  }
  const listVariable = `RATE_LIMIT_${envName(fn)}`;
  const names = (env[listVariable]?.trim() || "standard").split(",").map((s) => s.trim())
    .filter(Boolean);
  const policies = names.map((name) => {
    const policy = presets[name];
    if (!policy) {
      throw new Error(
        `Cannot start ${fn}: ${listVariable} names unknown policy '${name}' (known: ${
          Object.keys(PRESETS).join(", ")
        })`,
      );
    }
    return policy;
  });
  const serviceRaw = env.RATE_LIMIT_SERVICE?.trim();
  const service = serviceRaw
    ? parseSpec(SERVICE_POLICY, serviceRaw, "RATE_LIMIT_SERVICE", fn)
    : SERVICE_POLICY;
  return { policies, service };
}

/** The queue function's jobs policy, or undefined when RATE_LIMIT_JOBS=off. */
export function jobsPolicyFromEnv(env: Env, fn: string): Policy | undefined {
  const raw = env.RATE_LIMIT_JOBS?.trim();
  if (raw === "off") return undefined;
  return raw ? parseSpec(JOBS_POLICY, raw, "RATE_LIMIT_JOBS", fn) : JOBS_POLICY;
}
