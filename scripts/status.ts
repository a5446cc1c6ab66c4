/** `deno task status`: the running stack's endpoints and keys, as KEY=value lines. */
import { profileFromArgs } from "./stack/profile.ts";
import { alive } from "./stack/process.ts";
import { envFile, readPids } from "./stack/stack.ts";

const p = profileFromArgs(Deno.args);
const pids = readPids(p);
if (!pids || !alive(pids.supervisor)) {
  console.error("No local stack is running. Start one with: deno task start");
  Deno.exit(1);
}
const down = Object.entries(pids.services).filter(([, pid]) => !alive(pid)).map(([n]) => n);
if (down.length) console.error(`Not running: ${down.join(", ")}`);
console.log(Deno.readTextFileSync(envFile(p)).trimEnd());
