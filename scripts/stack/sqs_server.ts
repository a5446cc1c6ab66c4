/**
 * The local SQS: the fauxqs emulator, persisted in the stack's folder so a second start keeps
 * the queues' messages, and bound to 127.0.0.1 only.
 *
 * Usage: deno run -A scripts/stack/sqs_server.ts <port> <data-dir>
 */
import net from "node:net";
import { DatabaseSync } from "node:sqlite";
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

// fauxqs 2.4.1 persistence bug: making a message visible again (ChangeMessageVisibility 0)
// writes NULL into the NOT NULL approximate_receive_count column; the write throws after the
// message left the in-flight list, so the message vanishes. Keeping the stored count (as SQS
// does) fixes it. Checked by tests/integration/sqs_test.ts.
const prepare = DatabaseSync.prototype.prepare;
DatabaseSync.prototype.prepare = function (this: DatabaseSync, sql: string) {
  return prepare.call(
    this,
    sql.replace(
      "approximate_receive_count = ?,",
      "approximate_receive_count = coalesce(?, approximate_receive_count),",
    ),
  );
} as typeof prepare;

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
