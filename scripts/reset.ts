/** `deno task reset`: stops the dev stack if it runs and deletes its local state. */
import { profileFromArgs } from "./stack/profile.ts";
import { stopProfile } from "./stop.ts";

const p = profileFromArgs(Deno.args);
await stopProfile(p);
await Deno.remove(p.stateDir, { recursive: true }).catch((error) => {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
});
console.log(`Local state removed (${p.stateDir}). The next start begins from scratch.`);
