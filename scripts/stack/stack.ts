/**
 * Brings the whole local stack up, in dependency order, and down again:
 * PostgreSQL (+ Supabase roles, pg_net / Vault stand-ins, migrations via the Supabase CLI, seed)
 * → SQS emulator (+ queues) → Slack sink → pg_net runner → functions gateway.
 * Every process is recorded in <state>/pids.json so `deno task stop` can end them by pid.
 */
import { join } from "node:path";
import postgres from "postgres";
import { ensurePackages } from "./packages.ts";
import { loadOrCreateKeys } from "./keys.ts";
import { dbUrl, initCluster, psqlFile, startPostgres } from "./postgres.ts";
import { alive, portOpen, type Service, spawnService, waitUntil } from "./process.ts";
import type { Profile } from "./profile.ts";
import { createQueues } from "./sqs_queues.ts";
import { supabase } from "./supabase_cli.ts";

export interface StackEnv {
  API_URL: string;
  DB_URL: string;
  ANON_KEY: string;
  SERVICE_ROLE_KEY: string;
  JWT_SECRET: string;
  SQS_ENDPOINT: string;
  SQS_QUEUE_URL: string;
  SQS_DLQ_URL: string;
  SLACK_WEBHOOK_URL: string;
}

export interface Stack {
  profile: Profile;
  env: StackEnv;
  services: Service[];
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: (line: string) => void;
  /** "database": PostgreSQL with migrations only (enough for `supabase db lint`). */
  only?: "database";
}

export interface PidFile {
  supervisor: number;
  services: Record<string, number>;
}

const STACK_DIR = import.meta.dirname!;
const SQL_DIR = join(STACK_DIR, "sql");

export function pidFile(p: Profile): string {
  return join(p.stateDir, "pids.json");
}

export function readPids(p: Profile): PidFile | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(pidFile(p))) as PidFile;
  } catch {
    return undefined;
  }
}

export function envFile(p: Profile): string {
  return join(p.stateDir, "status.env");
}

export function formatEnv(env: StackEnv): string {
  return Object.entries(env).map(([key, value]) => `${key}=${value}`).join("\n") + "\n";
}

async function installStandIns(p: Profile, log: (line: string) => void): Promise<boolean> {
  const sql = postgres(dbUrl(p), { max: 1, onnotice: () => {} });
  try {
    const available = await sql<{ name: string }[]>`
      select name from pg_available_extensions where name in ('pg_net', 'supabase_vault')`;
    const has = new Set(available.map((r) => r.name));
    let standIn = false;
    if (!has.has("pg_net")) {
      await psqlFile(p, join(SQL_DIR, "pg_net_standin.sql"));
      standIn = true;
    }
    if (!has.has("supabase_vault")) await psqlFile(p, join(SQL_DIR, "vault_standin.sql"));
    if (standIn) log("pg_net and Vault are missing here: using the dev-only stand-ins");
    return standIn;
  } finally {
    await sql.end();
  }
}

async function migrate(p: Profile, log: (line: string) => void): Promise<void> {
  const { code, stdout, stderr } = await supabase(
    ["db", "push", `--remote=${dbUrl(p)}`, "--include-seed", "--yes"],
    p.root,
  );
  if (code !== 0) {
    throw new Error(`supabase db push failed:\n${stderr || stdout}`);
  }
  for (const line of `${stdout}\n${stderr}`.split("\n")) {
    if (/^(Applying|Seeding)/.test(line.trim())) log(line.trim());
  }
}

function waitForLine(service: Service, pattern: RegExp, lines: string[]): Promise<void> {
  return waitUntil(`${service.name} to be ready`, () => {
    return Promise.resolve(lines.some((l) => pattern.test(l)));
  });
}

export async function startStack(p: Profile, opts: StartOptions = {}): Promise<Stack> {
  const log = opts.log ?? (() => {});
  Deno.mkdirSync(p.stateDir, { recursive: true });
  const previous = readPids(p);
  if (previous && alive(previous.supervisor) && previous.supervisor !== Deno.pid) {
    throw new Error(
      `Cannot start the ${p.name} stack: it is already running (pid ${previous.supervisor}); run: deno task stop`,
    );
  }
  const services: Service[] = [];
  const record = () => {
    const pids: PidFile = {
      supervisor: Deno.pid,
      services: Object.fromEntries(services.map((s) => [s.name, s.pid])),
    };
    Deno.writeTextFileSync(pidFile(p), JSON.stringify(pids, null, 2));
  };
  const stop = async () => {
    for (const service of [...services].reverse()) await service.stop();
    try {
      Deno.removeSync(pidFile(p));
    } catch {
      // Already gone.
    }
  };

  try {
    await ensurePackages(log);
    const keys = await loadOrCreateKeys(p.stateDir);
    await initCluster(p, log);
    log(`starting PostgreSQL on 127.0.0.1:${p.ports.db}`);
    services.push(await startPostgres(p));
    record();
    await psqlFile(p, join(SQL_DIR, "supabase_roles.sql"));
    const netStandIn = await installStandIns(p, log);
    log("applying migrations with the Supabase CLI");
    await migrate(p, log);

    const apiUrl = `http://127.0.0.1:${p.ports.api}`;
    const sqsEndpoint = `http://127.0.0.1:${p.ports.sqs}`;
    const env: StackEnv = {
      API_URL: apiUrl,
      DB_URL: dbUrl(p),
      ANON_KEY: keys.anonKey,
      SERVICE_ROLE_KEY: keys.serviceRoleKey,
      JWT_SECRET: keys.jwtSecret,
      SQS_ENDPOINT: sqsEndpoint,
      SQS_QUEUE_URL: "",
      SQS_DLQ_URL: "",
      SLACK_WEBHOOK_URL: `http://127.0.0.1:${p.ports.slack}/services/local-sink`,
    };
    if (opts.only === "database") return { profile: p, env, services, stop };

    const deno = Deno.execPath();
    const denoService = (name: string, script: string, args: string[], extra = {}) =>
      spawnService(name, deno, {
        args: ["run", "-A", "--no-prompt", join(STACK_DIR, script), ...args],
        logDir: p.stateDir,
        ...extra,
      });

    log(`starting SQS emulator on 127.0.0.1:${p.ports.sqs}`);
    for (const port of [p.ports.sqs, p.ports.slack, p.ports.api]) {
      if (await portOpen(port)) throw new Error(`Cannot start the stack: port ${port} is taken`);
    }
    services.push(
      denoService("sqs", "sqs_server.ts", [String(p.ports.sqs), join(p.stateDir, "sqs")]),
    );
    record();
    await waitUntil("the SQS emulator", () => portOpen(p.ports.sqs));
    const queues = await createQueues(sqsEndpoint);
    env.SQS_QUEUE_URL = queues.queueUrl;
    env.SQS_DLQ_URL = queues.dlqUrl;

    services.push(
      denoService("slack-sink", "slack_sink.ts", [
        String(p.ports.slack),
        join(p.stateDir, "slack.jsonl"),
      ], {
        onLine: (line: string) => line.startsWith("[slack") && log(line),
      }),
    );
    record();
    await waitUntil("the Slack sink", () => portOpen(p.ports.slack));

    if (netStandIn) {
      const lines: string[] = [];
      const runner = denoService("pg-net-runner", "pg_net_runner.ts", [dbUrl(p)], {
        onLine: (line: string) => lines.push(line),
      });
      services.push(runner);
      record();
      await waitForLine(runner, /ready/, lines);
    }

    const functionEnv = {
      SUPABASE_URL: apiUrl,
      SUPABASE_DB_URL: dbUrl(p),
      SUPABASE_ANON_KEY: keys.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
      SQS_ENDPOINT: sqsEndpoint,
      SQS_QUEUE_URL: env.SQS_QUEUE_URL,
      SQS_DLQ_URL: env.SQS_DLQ_URL,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      SLACK_WEBHOOK_URL: env.SLACK_WEBHOOK_URL,
    };
    log(`starting Edge Functions on ${apiUrl}/functions/v1/<name>`);
    services.push(denoService("functions", "functions_server.ts", [], {
      env: {
        FUNCTIONS_GATEWAY_CONFIG: JSON.stringify({
          port: p.ports.api,
          functionsDir: join(p.root, "supabase", "functions"),
          configToml: join(p.root, "supabase", "config.toml"),
          jwtSecret: keys.jwtSecret,
          env: functionEnv,
          logDir: p.stateDir,
        }),
      },
    }));
    record();
    await waitUntil("the functions gateway", () => portOpen(p.ports.api));
    Deno.writeTextFileSync(envFile(p), formatEnv(env), { mode: 0o600 });
    return { profile: p, env, services, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
