/** The endpoints of a running local stack (what `deno task status` prints), for tools. */
import { alive } from "./process.ts";
import type { Profile } from "./profile.ts";
import { envFile, readPids, type StackEnv } from "./stack.ts";

export function runningStackEnv(p: Profile): StackEnv {
  const pids = readPids(p);
  if (!pids || !alive(pids.supervisor)) {
    throw new Error(`No ${p.name} stack is running. Start one with: deno task start`);
  }
  const env: Record<string, string> = {};
  for (const line of Deno.readTextFileSync(envFile(p)).split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env as unknown as StackEnv;
}
