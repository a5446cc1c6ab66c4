/**
 * Who is calling: the service role (server to server), a customer (a user JWT whose
 * app_metadata.customer_id names it, or an API key issued to it), someone authenticated but tied
 * to no customer, or nobody. Functions decide what each may do; this module only identifies.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createRemoteJWKSet, decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import type { Env } from "./config.ts";
import { errorResponse } from "./errors.ts";

/**
 * `subject` names the verified caller for rate limiting: user:<sub> or key:<sha256>. A customer
 * calling with an API key also carries the key's SHA-256 (hex), on which the apiKey policy keys.
 */
export type Caller =
  | { kind: "service" }
  | { kind: "customer"; customerId: string; via: "jwt"; subject: string }
  | { kind: "customer"; customerId: string; via: "api_key"; subject: string; apiKeyHash: string }
  | { kind: "user"; subject: string }
  | { kind: "none" }
  | { kind: "invalid"; reason: string };

export interface AuthDeps {
  /** The project's secret keys (legacy service_role JWT and/or new sb_secret_ keys). */
  serviceKeys: string[];
  /** Verifies a JWT's signature and expiry; throws when it is not valid. */
  verifyJwt(token: string): Promise<JWTPayload>;
  /** The customer an API key (given as its SHA-256 hex) belongs to, if active. */
  customerForApiKey(keyHashHex: string): Promise<string | undefined>;
}

/** Legacy SUPABASE_SERVICE_ROLE_KEY, and the values of SUPABASE_SECRET_KEYS (JSON). */
export function serviceKeysFromEnv(env: Env, fn: string): string[] {
  const keys: string[] = [];
  const secretKeys = env.SUPABASE_SECRET_KEYS?.trim();
  if (secretKeys) {
    try {
      keys.push(...Object.values(JSON.parse(secretKeys) as Record<string, string>));
    } catch {
      throw new Error(`Cannot start ${fn}: SUPABASE_SECRET_KEYS is not a JSON object`);
    }
  }
  const legacy = env.SUPABASE_SERVICE_ROLE_KEY?.trim();
  if (legacy) keys.push(legacy);
  if (keys.length === 0) {
    throw new Error(`Cannot start ${fn}: SUPABASE_SERVICE_ROLE_KEY is not set`);
  }
  return keys;
}

/**
 * How user JWTs are verified, chosen per token by its `alg` header, as Supabase Auth signs them:
 * HS256 with the project's JWT secret (JWT_SECRET: legacy projects, and the local stack's keys),
 * and ES256 / RS256 / EdDSA with the signing keys the project publishes as JWKS under
 * SUPABASE_URL (new projects; the local stack's gateway publishes its own). Either may be absent;
 * a token of the other kind is then refused.
 */
export interface JwtConfig {
  secret?: string;
  jwksUrl?: string;
}

export function jwtConfigFromEnv(env: Env, fn: string): JwtConfig {
  const secret = env.JWT_SECRET?.trim();
  const base = env.SUPABASE_URL?.trim();
  if (!secret && !base) throw new Error(`Cannot start ${fn}: set JWT_SECRET or SUPABASE_URL`);
  return {
    ...(secret ? { secret } : {}),
    ...(base ? { jwksUrl: new URL("/auth/v1/.well-known/jwks.json", base).href } : {}),
  };
}

const ASYMMETRIC = ["ES256", "RS256", "EdDSA"];

/** Verifies a JWT's signature and expiry as the config says; the result throws when invalid. */
export function createJwtVerifier(config: JwtConfig): (token: string) => Promise<JWTPayload> {
  const secret = config.secret ? new TextEncoder().encode(config.secret) : undefined;
  // Fetched on first use and cached by jose (refetched when a token names an unknown kid).
  const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : undefined;
  return async (token) => {
    if (decodeProtectedHeader(token).alg === "HS256") {
      if (!secret) throw new Error("HS256 tokens are not accepted: JWT_SECRET is not set");
      return (await jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
    }
    if (!jwks) throw new Error("asymmetric tokens are not accepted: SUPABASE_URL is not set");
    return (await jwtVerify(token, jwks, { algorithms: ASYMMETRIC })).payload;
  };
}

/** Synchronous on purpose: it runs on every rate-limited request, and WebCrypto's is async. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Whether two secrets are equal, compared in constant time. */
export function sameSecret(a: string, b: string): boolean {
  // Hash first so both sides have the same length; compare in constant time.
  return timingSafeEqual(
    new TextEncoder().encode(sha256Hex(a)),
    new TextEncoder().encode(sha256Hex(b)),
  );
}

export function bearerToken(req: Request): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "")?.[1];
}

/**
 * For functions only the service role may call: the refusal for anyone else (401 without a key,
 * 403 with another credential), or undefined for the service role.
 */
export function refuseUnlessServiceRole(
  req: Request,
  serviceKeys: string[],
  action: string,
): Response | undefined {
  const token = bearerToken(req);
  if (!token) return errorResponse(401, "unauthorized", "A service role key is required.");
  if (!isServiceKey(token, serviceKeys)) {
    return errorResponse(403, "forbidden", `Only the service role may ${action}.`);
  }
  return undefined;
}

export function isServiceKey(token: string | undefined, keys: string[]): boolean {
  if (!token) return false;
  let match = false;
  for (const key of keys) match = sameSecret(token, key) || match;
  return match;
}

/**
 * The service role or nobody, by comparing the bearer token with the service keys alone: for a
 * function that must keep answering when Auth (JWKS) or the database is down, like health.
 */
export function identifyServiceOnly(serviceKeys: string[]): (req: Request) => Promise<Caller> {
  return (req) =>
    Promise.resolve(
      isServiceKey(bearerToken(req), serviceKeys) ? { kind: "service" } : { kind: "none" },
    );
}

/**
 * The rate limiter's client for a verified user token: user:<sub>. The anon key and other
 * subject-less tokens share one bucket per role.
 */
export function subjectOf(claims: JWTPayload): string {
  return `user:${claims.sub ?? `role:${claims.role ?? "unknown"}`}`;
}

export async function identify(req: Request, deps: AuthDeps): Promise<Caller> {
  const token = bearerToken(req);
  if (isServiceKey(token, deps.serviceKeys)) return { kind: "service" };

  const apiKey = req.headers.get("x-api-key")?.trim();
  if (apiKey) {
    const hash = sha256Hex(apiKey);
    const customerId = await deps.customerForApiKey(hash);
    return customerId
      ? { kind: "customer", customerId, via: "api_key", subject: `key:${hash}`, apiKeyHash: hash }
      : { kind: "invalid", reason: "unknown or revoked API key" };
  }

  if (!token) return { kind: "none" };
  let claims: JWTPayload;
  try {
    claims = await deps.verifyJwt(token);
  } catch {
    return { kind: "invalid", reason: "invalid or expired token" };
  }
  if (claims.role === "service_role") return { kind: "service" };
  const appMetadata = claims.app_metadata as Record<string, unknown> | undefined;
  const customerId = appMetadata?.customer_id;
  const subject = subjectOf(claims);
  if (typeof customerId === "string" && customerId) {
    return { kind: "customer", customerId, via: "jwt", subject };
  }
  return { kind: "user", subject };
}

/** Memoizes identify() per request, so the rate limiter and the handler share one lookup. */
export function identifyOnce<T = Caller>(
  identifyFn: (req: Request) => Promise<T>,
): (req: Request) => Promise<T> {
  const seen = new WeakMap<Request, Promise<T>>();
  return (req) => {
    let caller = seen.get(req);
    if (!caller) {
      caller = identifyFn(req);
      seen.set(req, caller);
    }
    return caller;
  };
}

/**
 * customerForApiKey, remembered per instance for ttlMs: a client calling with the same key costs
 * one database round trip per ttlMs instead of one per request, and concurrent requests share
 * one lookup. The price, documented as API_KEY_CACHE_SECONDS: a revoked key keeps working in an
 * instance that saw it for at most ttlMs, and a key tried before it existed is refused as long.
 * A lookup that fails is not remembered. ttlMs 0: no cache.
 */
export function cacheApiKeys(
  lookup: AuthDeps["customerForApiKey"],
  ttlMs: number,
  maxKeys = 10_000,
  now: () => number = Date.now,
): AuthDeps["customerForApiKey"] {
  if (ttlMs <= 0) return lookup;
  const known = new Map<string, { until: number; customer: Promise<string | undefined> }>();
  return (keyHashHex) => {
    const t = now();
    const hit = known.get(keyHashHex);
    if (hit && hit.until > t) return hit.customer;
    const customer = lookup(keyHashHex);
    known.delete(keyHashHex);
    known.set(keyHashHex, { until: t + ttlMs, customer });
    customer.catch(() => {
      if (known.get(keyHashHex)?.customer === customer) known.delete(keyHashHex);
    });
    while (known.size > maxKeys) known.delete(known.keys().next().value!);
    return customer;
  };
}
