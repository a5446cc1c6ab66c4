/**
 * The local stack's JWT secret and the anon / service_role keys signed with it (HS256, the
 * claims Supabase puts in its keys). Generated once per stack folder and kept there (0600), so a
 * second start reuses them and no two machines share a secret.
 */
import { SignJWT } from "jose";
import { join } from "node:path";

export interface Keys {
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
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
  try {
    return JSON.parse(Deno.readTextFileSync(file)) as Keys;
  } catch {
    // First start.
  }
  const bytes = crypto.getRandomValues(new Uint8Array(48));
  const jwtSecret = btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "");
  const keys: Keys = {
    jwtSecret,
    anonKey: await signKey("anon", jwtSecret),
    serviceRoleKey: await signKey("service_role", jwtSecret),
  };
  Deno.writeTextFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
}
