/**
 * Who may use the console API. Every read needs a console role and every action `operator`:
 * - a user token whose app_metadata.console_role is `viewer` or `operator` (app_metadata is set
 *   by the project's admins; users cannot edit it);
 * - the service role key (scripts; it never reaches a browser), which may read and act.
 * Customers are users of the same project: their tokens carry no console role and get 403, never
 * data. API keys are customers' too.
 */
import {
  bearerToken,
  type Caller,
  identifyOnce,
  isServiceKey,
  subjectOf,
} from "../_shared/auth.ts";
import type { JWTPayload } from "jose";

export type ConsoleRole = "viewer" | "operator" | "service";

export type ConsoleCaller =
  | { kind: "member"; role: ConsoleRole; actor: string }
  | { kind: "anonymous" }
  | { kind: "invalid" }
  | { kind: "no_role"; subject: string };

export interface AccessDeps {
  serviceKeys: string[];
  verifyJwt(token: string): Promise<JWTPayload>;
}

/** The name an action is recorded under: "service", or the user's email and subject. */
function actorOf(claims: JWTPayload): string {
  const email = typeof claims.email === "string" && claims.email ? claims.email : undefined;
  const subject = claims.sub ?? "unknown";
  return (email ? `${email} (${subject})` : subject).slice(0, 300);
}

export async function identifyConsoleCaller(
  req: Request,
  deps: AccessDeps,
): Promise<ConsoleCaller> {
  const token = bearerToken(req);
  if (!token) return { kind: "anonymous" };
  if (isServiceKey(token, deps.serviceKeys)) {
    return { kind: "member", role: "service", actor: "service" };
  }
  let claims: JWTPayload;
  try {
    claims = await deps.verifyJwt(token);
  } catch {
    return { kind: "invalid" };
  }
  if (claims.role === "service_role") return { kind: "member", role: "service", actor: "service" };
  const role = (claims.app_metadata as Record<string, unknown> | undefined)?.console_role;
  if (role === "viewer" || role === "operator") {
    return { kind: "member", role, actor: actorOf(claims) };
  }
  return { kind: "no_role", subject: subjectOf(claims) };
}

export function mayAct(role: ConsoleRole): boolean {
  return role === "operator" || role === "service";
}

/**
 * One identification per request, shared by the rate limiter (as a Caller: the service role, a
 * user counted by subject, or nobody counted by address) and the handler.
 */
export function rateLimitCaller(identify: (req: Request) => Promise<ConsoleCaller>): {
  console(req: Request): Promise<ConsoleCaller>;
  rateLimit(req: Request): Promise<Caller>;
} {
  const once = identifyOnce(identify);
  return {
    console: once,
    rateLimit: async (req) => {
      const caller = await once(req);
      if (caller.kind === "member") {
        return caller.role === "service"
          ? { kind: "service" }
          : { kind: "user", subject: `user:${caller.actor}` };
      }
      if (caller.kind === "no_role") return { kind: "user", subject: caller.subject };
      return { kind: "none" };
    },
  };
}
