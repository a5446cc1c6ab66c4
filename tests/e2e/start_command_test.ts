/**
 * The README's first command, driven as a user would: `deno task start` brings the stack up
 * and prints its endpoints, `status` repeats them, `stop` and Ctrl-C leave no process behind,
 * and a second start reuses the data. Uses the `e2e` profile (own ports and folder).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { profile } from "../../scripts/stack/profile.ts";
import { alive, portOpen } from "../../scripts/stack/process.ts";
import { readPids } from "../../scripts/stack/stack.ts";
import { eventually } from "../_support/stack.ts";

const p = profile("e2e");
const ROOT = p.root;
const STATUS_KEYS = [
  "API_URL",
  "DB_URL",
  "ANON_KEY",
  "SERVICE_ROLE_KEY",
  "SQS_ENDPOINT",
  "SQS_QUEUE_URL",
  "SQS_DLQ_URL",
  "SLACK_WEBHOOK_URL",
  "CONSOLE_URL",
];

interface Running {
  child: Deno.ChildProcess;
  output: string[];
  done: Promise<Deno.CommandStatus>;
}

function script(name: string, ...args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/scripts/${name}.ts`, "--profile", "e2e", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  });
}

async function start(): Promise<Running> {
  const child = script("start").spawn();
  const output: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output.push(chunk);
  };
  const pumps = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited: Deno.CommandStatus | undefined;
  const done = (async () => {
    const status = await child.status;
    await pumps;
    exited = status;
    return status;
  })();
  try {
    await eventually(
      "the stack to report it is up",
      () => {
        if (output.join("").includes("Press Ctrl-C to stop.")) return Promise.resolve(true);
        if (exited) throw new Error(`start exited with ${exited.code}`);
        return Promise.resolve(undefined);
      },
      180_000,
      200,
    );
  } catch (error) {
    try {
      child.kill("SIGINT");
    } catch {
      // It has exited already: its output says why.
    }
    await done.catch(() => {});
    throw new Error(`${(error as Error).message}; its output:\n${output.join("")}`);
  }
  return { child, output, done };
}

function stackPids(): number[] {
  const pids = readPids(p);
  assert.ok(pids, "pids.json exists while the stack runs");
  return [pids.supervisor, ...Object.values(pids.services)];
}

async function assertAllGone(pids: number[]): Promise<void> {
  await eventually(
    "every stack process to end",
    () => Promise.resolve(pids.every((pid) => !alive(pid)) ? true : undefined),
    30_000,
  );
  for (const port of Object.values(p.ports)) {
    assert.equal(await portOpen(port), false, `port ${port} is closed`);
  }
}

async function output(cmd: Deno.Command): Promise<{ code: number; text: string }> {
  const { code, stdout, stderr } = await cmd.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, text: decode(stdout) + decode(stderr) };
}

Deno.test({
  name: "deno task start serves the system, stop and Ctrl-C end it, a restart keeps the data",
  async fn() {
    await output(script("reset"));
    try {
      // First start: a new cluster, endpoints printed like `supabase status -o env`.
      const first = await start();
      const printed = first.output.join("");
      assert.match(printed, /creating PostgreSQL cluster/);
      for (const key of STATUS_KEYS) assert.match(printed, new RegExp(`^${key}=\\S+`, "m"));
      // A viewer's and an operator's sign-in link to the console.
      for (const role of ["viewer", "operator"]) {
        const link = new RegExp(
          `^\\s+${role}\\s+http://127\\.0\\.0\\.1:${p.ports.console}/#token=ey\\S+$`,
          "m",
        );
        assert.match(printed, link);
      }

      const status = await output(script("status"));
      assert.equal(status.code, 0);
      const env = Object.fromEntries(
        status.text.trim().split("\n").map((
          l,
        ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      for (const key of STATUS_KEYS) assert.ok(env[key], `status prints ${key}`);
      assert.equal(env.API_URL, `http://127.0.0.1:${p.ports.api}`);
      const page = await fetch(`${env.CONSOLE_URL}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="module" src="app.js">/);
      const config = await (await fetch(`${env.CONSOLE_URL}/config.json`)).json();
      assert.deepEqual(config, { apiUrl: env.API_URL, anonKey: env.ANON_KEY, signIn: "token" });

      const health = await fetch(`${env.API_URL}/functions/v1/health`);
      assert.equal(health.status, 200);
      assert.equal((await health.json()).services.database.status, "up");

      const sql = postgres(env.DB_URL!, { max: 1, onnotice: () => {} });
      const marker = `e2e-${crypto.randomUUID()}`;
      await sql`insert into public.jobs (customer_id, package_size) values (${marker}, 1)`;
      await sql.end();

      let pids = stackPids();
      const stop = await output(script("stop"));
      assert.equal(stop.code, 0);
      assert.match(stop.text, /stopped/i);
      assert.equal((await first.done).code, 0);
      await assertAllGone(pids);

      // Second start: same cluster, same data; Ctrl-C ends it.
      const second = await start();
      assert.doesNotMatch(second.output.join(""), /creating PostgreSQL cluster/);
      const again = postgres(env.DB_URL!, { max: 1, onnotice: () => {} });
      const rows = await again`select 1 from public.jobs where customer_id = ${marker}`;
      await again.end();
      assert.equal(rows.length, 1, "the row written before the restart is still there");
      pids = stackPids();
      second.child.kill("SIGINT");
      assert.equal((await second.done).code, 0);
      await assertAllGone(pids);
    } finally {
      await output(script("stop"));
      await output(script("reset"));
    }
  },
});
