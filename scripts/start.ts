/**
 * `deno task start`: the whole system on this machine, offline, no Docker. Stays in the
 * foreground; Ctrl-C (or `deno task stop` from another shell) ends every process it started.
 */
import { profileFromArgs } from "./stack/profile.ts";
import { formatEnv, startStack } from "./stack/stack.ts";
import { CONSOLE_ROLES, mintConsoleToken, stackSigningKey } from "./console_token.ts";

const p = profileFromArgs(Deno.args);
const log = (line: string) => console.log(`• ${line}`);
let stack;
try {
  stack = await startStack(p, { log });
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(
    message.startsWith("Cannot") ? message : `Cannot start the local stack: ${message}`,
  );
  Deno.exit(1);
}
console.log(`\nLocal stack is up (state in ${p.stateDir}).\n`);
console.log(formatEnv(stack.env));
console.log(`Functions: ${stack.env.API_URL}/functions/v1/<name>   Logs: ${p.stateDir}/*.log`);
// Locally there is no Auth server to sign in with: links with minted tokens (12 hours; the
// token is in the fragment, which the browser never sends, and the page removes it at once).
console.log("Console sign-in links (12 h; new ones: deno task console:token --role ...):");
for (const role of CONSOLE_ROLES) {
  const token = await mintConsoleToken(stackSigningKey(p.stateDir), {
    role,
    minutes: 12 * 60,
    issuer: stack.env.API_URL,
  });
  console.log(`  ${role.padEnd(8)} ${stack.env.CONSOLE_URL}/#token=${token}`);
}
console.log("Press Ctrl-C to stop.");

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log("\nStopping the local stack...");
  await stack.stop();
  console.log("Stopped.");
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);

// A service that dies on its own is reported; the rest keep running.
for (const service of stack.services) {
  service.exited.then((code) => {
    if (!stopping) console.error(`! ${service.name} exited with code ${code}`);
  });
}
