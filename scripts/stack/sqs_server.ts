/**
 * The local SQS: the fauxqs emulator, persisted in the stack's folder so a second start keeps
 * the queues' messages, and bound to 127.0.0.1 only.
 *
 * Usage: deno run -A scripts/stack/sqs_server.ts <port> <data-dir>
 */
import net from "node:net";
import { onParentGone } from "./process.ts";

// fauxqs's startFauxqs() (the only entry that offers persistence) listens on 0.0.0.0, hard-coded.
// Rewriting the host of every listen() in this process keeps the emulator on loopback.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  const [options] = args;
  if (options && typeof options === "object" && "host" in options) {
    (options as { host: string }).host = "127.0.0.1";
  }
  return listen.apply(this, args as Parameters<typeof listen>);
} as typeof listen;

const { startFauxqs } = await import("fauxqs");

const port = Number(Deno.args[0]);
const dataDir = Deno.args[1];
if (!Number.isInteger(port) || !dataDir) {
  throw new Error("Cannot start SQS emulator: usage: sqs_server.ts <port> <data-dir>");
}
Deno.mkdirSync(dataDir, { recursive: true });
const server = await startFauxqs({ port, dataDir, logger: false });
onParentGone(() => server.stop());
console.log(`SQS emulator listening on ${server.address}`);
