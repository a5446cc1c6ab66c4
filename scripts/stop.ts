/**
 * `deno task stop`: ends a running stack (`--profile test|e2e` for the others). Asks the supervisor to stop (it stops its
 * services in order); if the supervisor is gone, ends the recorded services by pid.
 */
import { type Profile, profileFromArgs } from "./stack/profile.ts";
import { alive, waitUntil } from "./stack/process.ts";
import { pidFile, readPids } from "./stack/stack.ts";

export async function stopProfile(p: Profile): Promise<boolean> {
  const pids = readPids(p);
  if (!pids) return false;
  if (alive(pids.supervisor)) {
    Deno.kill(pids.supervisor, "SIGTERM");
    await waitUntil("the stack to stop", () => Promise.resolve(!alive(pids.supervisor)), 60_000);
  }
  for (const [name, pid] of Object.entries(pids.services)) {
    if (!alive(pid)) continue;
    Deno.kill(pid, name === "postgres" ? "SIGINT" : "SIGTERM");
    await waitUntil(`${name} to stop`, () => Promise.resolve(!alive(pid)), 30_000)
      .catch(() => Deno.kill(pid, "SIGKILL"));
  }
  try {
    Deno.removeSync(pidFile(p));
  } catch {
    // The supervisor removed it.
  }
  return true;
}

if (import.meta.main) {
  const stopped = await stopProfile(profileFromArgs(Deno.args));
  console.log(stopped ? "Local stack stopped." : "No local stack is running.");
}
