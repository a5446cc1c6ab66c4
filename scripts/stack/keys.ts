/**
 * The local stack's JWT secret and the anon / service_role keys signed with it (HS256, the
 * claims Supabase puts in its keys). Generated once per stack folder and kept there (0600), so a
 * second start reuses them and no two machines share a secret.
 */
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { join } from "node:path";

export interface Keys {
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
  /** The local Slack sink's path token and the emulator's AWS secret: fakes, but unique per
   * stack, so a test can look for them in the logs and find nothing. */
  slackToken: string;
  awsSecretAccessKey: string;
  /**
   * The stack's asymmetric signing key (ES256), as hosted Supabase Auth signs user tokens on new
   * projects: the gateway publishes its public half as JWKS, `deno task console:token` signs with
   * the private half.
   */
  signingKey: JWK;
  /** The bearer token console-api's GET /metrics takes (METRICS_TOKEN). */
  metricsToken: string;
}

/** The public half of the signing key, as /auth/v1/.well-known/jwks.json lists it. */
export function publicJwk(key: JWK): JWK {
  const { d: _private, key_ops: _ops, ...rest } = key;
  return rest;
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: crypto.randomUUID(), alg: "ES256", use: "sig" };
}

function randomToken(bytes: number): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes))))
    .replace(/[+/=]/g, "");
}

const TEN_YEARS = 10 * 365 * 24 * 3600;

export function signKey(role: string, secret: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role, iss: "supabase", ref: "local" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + TEN_YEARS)
    .sign(new TextEncoder().encode(secret));
}

export async function loadOrCreateKeys(stateDir: string): Promise<Keys> {
  const file = join(stateDir, "keys.json");
  let saved: Partial<Keys> = {};
  try {
    saved = JSON.parse(Deno.readTextFileSync(file));
  } catch {
    // First start.
  }
  const jwtSecret = saved.jwtSecret ?? randomToken(48);
  const keys: Keys = {
    jwtSecret,
    anonKey: saved.anonKey ?? await signKey("anon", jwtSecret),
    serviceRoleKey: saved.serviceRoleKey ?? await signKey("service_role", jwtSecret),
    // Folders from before these existed get them on their next start.
    slackToken: saved.slackToken ?? randomToken(24),
    awsSecretAccessKey: saved.awsSecretAccessKey ?? randomToken(30),
    signingKey: saved.signingKey ?? await newSigningKey(),
    metricsToken: saved.metricsToken ?? randomToken(24),
  };
  if (JSON.stringify(keys) !== JSON.stringify(saved)) {
    Deno.writeTextFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  }
  return keys;
}
