/**
 * `deno task console:token --role viewer|operator [--minutes N] [--email E] [--profile dev]`:
 * prints a short-lived token for console-api, signed with the local stack's ES256 key, as hosted
 * Supabase Auth would sign an invited operator's session: role `authenticated`, and the console
 * role in `app_metadata` (which users cannot edit). console-api verifies it through the JWKS the
 * stack's gateway publishes, the same path as on a hosted project.
 *
 * Locally there is no Auth server to sign in with; on a hosted project, operators sign in through
 * Supabase Auth instead (see docs/console-api.md).
 */
import { importJWK, type JWK, SignJWT } from "jose";
import { join } from "node:path";
import { profileFromArgs } from "./stack/profile.ts";
import { runningStackEnv } from "./stack/running.ts";

export const CONSOLE_ROLES = ["viewer", "operator"] as const;
export type ConsoleRole = typeof CONSOLE_ROLES[number];

export interface TokenOptions {
  /** The console role, or none (a customer's or any other user's token, for tests). */
  role?: ConsoleRole;
  minutes?: number;
  email?: string;
  /** Other app_metadata claims (a customer_id, say). */
  appMetadata?: Record<string, unknown>;
  /** The stack's API URL: the token's issuer, as Auth's is <project>/auth/v1. */
  issuer?: string;
}

/** A token for `role`, signed with the stack's key (keys.json's signingKey). */
export async function mintConsoleToken(signingKey: JWK, options: TokenOptions): Promise<string> {
  const minutes = options.minutes ?? 60;
  const email = options.email ?? `${options.role ?? "user"}@localhost`;
  const key = await importJWK(signingKey, "ES256");
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({
    role: "authenticated",
    aud: "authenticated",
    email,
    app_metadata: {
      ...(options.role ? { console_role: options.role } : {}),
      ...options.appMetadata,
    },
  })
    .setProtectedHeader({ alg: "ES256", kid: signingKey.kid, typ: "JWT" })
    .setSubject(`local-${email}`)
    .setIssuer(`${options.issuer ?? "http://127.0.0.1"}/auth/v1`)
    .setIssuedAt(now)
    .setExpirationTime(now + minutes * 60)
    .sign(key);
}

/** The signing key of the stack whose state is in stateDir. */
export function stackSigningKey(stateDir: string): JWK {
  const keys = JSON.parse(Deno.readTextFileSync(join(stateDir, "keys.json")));
  if (!keys.signingKey) {
    throw new Error(`The stack in ${stateDir} has no signing key yet: start it once`);
  }
  return keys.signingKey as JWK;
}

export const USAGE =
  "Usage: deno task console:token --role viewer|operator [--minutes N] [--email E] [--profile dev]";

export function parseArgs(args: string[]): { role: ConsoleRole; minutes: number; email?: string } {
  let role: ConsoleRole | undefined;
  let minutes = 60;
  let email: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = args[i + 1];
    if (arg === "--role") {
      if (!CONSOLE_ROLES.includes(value as ConsoleRole)) {
        throw new Error(`--role must be viewer or operator, got '${value ?? ""}'`);
      }
      role = value as ConsoleRole;
      i++;
    } else if (arg === "--minutes") {
      minutes = Number(value);
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > 24 * 60) {
        throw new Error(`--minutes must be 1 to 1440, got '${value ?? ""}'`);
      }
      i++;
    } else if (arg === "--email") {
      if (!value) throw new Error("--email needs a value");
      email = value;
      i++;
    } else if (arg === "--profile") i++;
    else throw new Error(`Unknown argument '${arg}'. ${USAGE}`);
  }
  if (!role) throw new Error(USAGE);
  return { role, minutes, ...(email ? { email } : {}) };
}

if (import.meta.main) {
  try {
    const options = parseArgs(Deno.args);
    const p = profileFromArgs(Deno.args);
    const env = runningStackEnv(p);
    console.log(
      await mintConsoleToken(stackSigningKey(p.stateDir), { ...options, issuer: env.API_URL }),
    );
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
}
