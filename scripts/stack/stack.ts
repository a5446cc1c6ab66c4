/**
 * Brings the whole local stack up, in dependency order, and down again:
 * PostgreSQL (+ Supabase roles, pg_net / Vault stand-ins, migrations via the Supabase CLI, seed,
 * the Vault secrets the cron jobs read) → SQS emulator (+ queues) → Slack sink → pg_net runner
 * → functions gateway → reference workers.
 * Every process is recorded in <state>/pids.json so `deno task stop` can end them by pid, and
 * each can be stopped and started again on its own (fault tests, via control.ts).
 */
import { join } from "node:path";
import postgres from "postgres";
import { ensurePackages } from "./packages.ts";
import { type Keys, loadOrCreateKeys, publicJwk } from "./keys.ts";
import { appliedMigrations, migrationFiles, staleMigrations } from "./migrations.ts";
import { dbUrl, initCluster, psqlFile, startPostgres } from "./postgres.ts";
import { alive, portOpen, type Service, spawnService, waitUntil } from "./process.ts";
import type { Profile } from "./profile.ts";
import type { GatewayConfig } from "./functions_server.ts";
import type { ConsoleConfig } from "./console_server.ts";
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
  /** The emulator ignores credentials; a unique fake lets tests prove it never reaches a log. */
  AWS_SECRET_ACCESS_KEY: string;
  SLACK_WEBHOOK_URL: string;
  /** The bearer token of console-api's GET /metrics. */
  METRICS_TOKEN: string;
  /** The operator console, served from console/ (sign in with the links `start` prints). */
  CONSOLE_URL: string;
}

export interface Stack {
  profile: Profile;
  env: StackEnv;
  services: Service[];
  /** Stops one service (by name) and leaves the rest running. */
  stopService(name: string): Promise<void>;
  /** Starts a stopped service again, as it was. */
  startService(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: (line: string) => void;
  /** "database": PostgreSQL with migrations only (enough for `supabase db lint`). */
  only?: "database";
  /** Settings for the functions over the shipped ones (the fuzzer raises the rate limits). */
  functionEnv?: Record<string, string>;
  /** `deno run` flags for every Deno process it starts, function instances too (the soak's hook). */
  denoFlags?: string[];
}

export interface PidFile {
  supervisor: number;
  services: Record<string, number>;
}

const STACK_DIR = import.meta.dirname!;
const SQL_DIR = join(STACK_DIR, "sql");
const ROOT_DIR = join(STACK_DIR, "..", "..");

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

/** The running stack's functions gateway settings (secrets included: mode 0600). */
export function gatewayFile(p: Profile | string): string {
  return join(typeof p === "string" ? p : p.stateDir, "gateway.json");
}

/** FUNCTION_INSTANCES: processes per function, as hosted Supabase scales one out (default 1). */
function functionInstances(): number {
  const raw = Deno.env.get("FUNCTION_INSTANCES")?.trim();
  if (!raw) return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 16) {
    throw new Error(`Cannot start the stack: FUNCTION_INSTANCES must be 1 to 16, got '${raw}'`);
  }
  return n;
}

export function formatEnv(env: StackEnv): string {
  return Object.entries(env).map(([key, value]) => `${key}=${value}`).join("\n") + "\n";
}

async function withSql<T>(p: Profile, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(dbUrl(p), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

/** Installs the pg_net / Vault stand-ins where the real extensions are missing. */
function installStandIns(p: Profile, log: (line: string) => void): Promise<boolean> {
  return withSql(p, async (sql) => {
    const available = await sql<{ name: string }[]>`
      select name from pg_available_extensions where name in ('pg_net', 'supabase_vault')`;
    const has = new Set(available.map((r) => r.name));
    if (!has.has("pg_net")) await psqlFile(p, join(SQL_DIR, "pg_net_standin.sql"));
    if (!has.has("supabase_vault")) await psqlFile(p, join(SQL_DIR, "vault_standin.sql"));
    if (!has.has("pg_net") || !has.has("supabase_vault")) {
      log("pg_net and Vault are missing here: using the dev-only stand-ins");
    }
    return !has.has("pg_net");
  });
}

async function migrate(p: Profile, log: (line: string) => void): Promise<void> {
  const stale = staleMigrations(await withSql(p, appliedMigrations), migrationFiles(p.root));
  if (stale.length) {
    const reset = `deno task reset${p.name === "dev" ? "" : ` --profile ${p.name}`}`;
    throw new Error(
      `Cannot start the ${p.name} stack: its database in ${p.stateDir} no longer matches ` +
        `supabase/migrations:\n  ${stale.join("\n  ")}\n` +
        `Local data cannot be migrated past that. Run ${reset} (it deletes ${p.stateDir}), ` +
        `then start again.`,
    );
  }
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

/** The Vault secrets pg_cron jobs read to call Edge Functions (as `deno task deploy` sets hosted). */
function storeVaultSecrets(p: Profile, secrets: Record<string, string>): Promise<void> {
  return withSql(p, async (sql) => {
    for (const [name, value] of Object.entries(secrets)) {
      const [row] = await sql`select id from vault.decrypted_secrets where name = ${name}`;
      if (row) await sql`select vault.update_secret(${row.id}, ${value})`;
      else await sql`select vault.create_secret(${value}, ${name})`;
    }
  });
}

function waitForLine(name: string, pattern: RegExp, lines: string[]): Promise<void> {
  return waitUntil(
    `${name} to be ready`,
    () => Promise.resolve(lines.some((l) => pattern.test(l))),
  );
}

function stackEnv(p: Profile, keys: Keys): StackEnv {
  return {
    API_URL: `http://127.0.0.1:${p.ports.api}`,
    DB_URL: dbUrl(p),
    ANON_KEY: keys.anonKey,
    SERVICE_ROLE_KEY: keys.serviceRoleKey,
    JWT_SECRET: keys.jwtSecret,
    SQS_ENDPOINT: `http://127.0.0.1:${p.ports.sqs}`,
    SQS_QUEUE_URL: "",
    SQS_DLQ_URL: "",
    AWS_SECRET_ACCESS_KEY: keys.awsSecretAccessKey,
    SLACK_WEBHOOK_URL: `http://127.0.0.1:${p.ports.slack}/services/${keys.slackToken}`,
    METRICS_TOKEN: keys.metricsToken,
    CONSOLE_URL: `http://127.0.0.1:${p.ports.console}`,
  };
}

/** What every Edge Function sees: hosted's SUPABASE_* plus the stack's defaults. */
function functionEnv(env: StackEnv, p: Profile): Record<string, string> {
  return {
    // The benchmarks measure endpoints, not the limiter refusing them (it still runs).
    ...(p.name === "bench" ? { RATE_LIMIT_PRESET_STANDARD: "100000000/60" } : {}),
    SUPABASE_URL: env.API_URL,
    SUPABASE_DB_URL: env.DB_URL,
    SUPABASE_ANON_KEY: env.ANON_KEY,
    SUPABASE_SERVICE_ROLE_KEY: env.SERVICE_ROLE_KEY,
    JWT_SECRET: env.JWT_SECRET,
    SQS_ENDPOINT: env.SQS_ENDPOINT,
    SQS_QUEUE_URL: env.SQS_QUEUE_URL,
    SQS_DLQ_URL: env.SQS_DLQ_URL,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
    SLACK_WEBHOOK_URL: env.SLACK_WEBHOOK_URL,
    METRICS_TOKEN: env.METRICS_TOKEN,
    // The console page calls console-api from its own origin.
    CONSOLE_ALLOWED_ORIGINS: env.CONSOLE_URL,
  };
}

/** What a reference worker needs; it calls the worker SQL functions as service_role. */
export function workerEnv(env: StackEnv, workerId: string): Record<string, string> {
  return {
    WORKER_ID: workerId,
    // The stack holds our stdin open; when it goes away, so do we (gracefully).
    EXIT_WHEN_STDIN_CLOSES: "1",
    // Shorter long polls than production's 20 s, so stopping the stack is quick.
    RECEIVE_WAIT_SECONDS: "5",
    WORKER_DB_URL: `${env.DB_URL}?options=-c%20role%3Dservice_role`,
    SQS_ENDPOINT: env.SQS_ENDPOINT,
    SQS_QUEUE_URL: env.SQS_QUEUE_URL,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
  };
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
  // Services in start order; a stopped one stays in the list with its launcher.
  const order: string[] = [];
  const launchers = new Map<string, () => Promise<Service>>();
  const running = new Map<string, Service>();
  const record = () => {
    const pids: PidFile = {
      supervisor: Deno.pid,
      services: Object.fromEntries([...running].map(([name, s]) => [name, s.pid])),
    };
    Deno.writeTextFileSync(pidFile(p), JSON.stringify(pids, null, 2));
  };
  const startService = async (name: string) => {
    const launch = launchers.get(name);
    if (!launch) throw new Error(`Unknown service '${name}'`);
    if (running.has(name)) return;
    running.set(name, await launch());
    record();
  };
  const add = async (name: string, launch: () => Promise<Service>) => {
    order.push(name);
    launchers.set(name, launch);
    await startService(name);
  };
  const stopService = async (name: string) => {
    const service = running.get(name);
    if (!service) return;
    await service.stop();
    running.delete(name);
    record();
  };
  const stop = async () => {
    for (const name of [...order].reverse()) await stopService(name);
    try {
      Deno.removeSync(pidFile(p));
    } catch {
      // Already gone.
    }
  };
  const stack = (env: StackEnv): Stack => ({
    profile: p,
    env,
    get services() {
      return [...running.values()];
    },
    stopService,
    startService,
    stop,
  });

  try {
    await ensurePackages(log);
    const keys = await loadOrCreateKeys(p.stateDir);
    const env = stackEnv(p, keys);
    await initCluster(p, log);
    log(`starting PostgreSQL on 127.0.0.1:${p.ports.db}`);
    await add("postgres", () => startPostgres(p));
    await psqlFile(p, join(SQL_DIR, "supabase_roles.sql"));
    const netStandIn = await installStandIns(p, log);
    log("applying migrations with the Supabase CLI");
    await migrate(p, log);
    await storeVaultSecrets(p, { project_url: env.API_URL, service_role_key: keys.serviceRoleKey });
    if (opts.only === "database") return stack(env);

    for (const port of [p.ports.sqs, p.ports.slack, p.ports.api, p.ports.console]) {
      if (await portOpen(port)) throw new Error(`Cannot start the stack: port ${port} is taken`);
    }
    const deno = Deno.execPath();
    const denoService = (
      name: string,
      script: string,
      args: string[],
      extra: { env?: Record<string, string>; onLine?: (line: string) => void } = {},
    ) =>
      spawnService(name, deno, {
        args: [
          "run",
          "-A",
          "--no-prompt",
          ...opts.denoFlags ?? [],
          join(ROOT_DIR, script),
          ...args,
        ],
        logDir: p.stateDir,
        ...extra,
      });

    log(`starting SQS emulator on 127.0.0.1:${p.ports.sqs}`);
    await add("sqs", async () => {
      const service = denoService("sqs", "scripts/stack/sqs_server.ts", [
        String(p.ports.sqs),
        join(p.stateDir, "sqs"),
      ]);
      await waitUntil("the SQS emulator", () => portOpen(p.ports.sqs));
      return service;
    });
    const queues = await createQueues(env.SQS_ENDPOINT);
    env.SQS_QUEUE_URL = queues.queueUrl;
    env.SQS_DLQ_URL = queues.dlqUrl;

    await add("slack-sink", async () => {
      const service = denoService(
        "slack-sink",
        "scripts/stack/slack_sink.ts",
        [String(p.ports.slack), join(p.stateDir, "slack.jsonl")],
        { onLine: (line: string) => line.startsWith("[slack") && log(line) },
      );
      await waitUntil("the Slack sink", () => portOpen(p.ports.slack));
      return service;
    });

    if (netStandIn) {
      await add("pg-net-runner", async () => {
        const lines: string[] = [];
        const service = denoService("pg-net-runner", "scripts/stack/pg_net_runner.ts", [
          env.DB_URL,
        ], { onLine: (line: string) => lines.push(line) });
        await waitForLine("pg-net-runner", /ready/, lines);
        return service;
      });
    }

    log(`starting Edge Functions on ${env.API_URL}/functions/v1/<name>`);
    const gateway: GatewayConfig = {
      port: p.ports.api,
      functionsDir: join(p.root, "supabase", "functions"),
      configToml: join(p.root, "supabase", "config.toml"),
      jwtSecret: keys.jwtSecret,
      jwks: [publicJwk(keys.signingKey)],
      env: { ...functionEnv(env, p), ...opts.functionEnv },
      logDir: p.stateDir,
      instances: functionInstances(),
      denoFlags: opts.denoFlags,
    };
    const gatewayConfig = JSON.stringify(gateway);
    // For tests and benchmarks that run a gateway of their own (other instance counts, settings).
    Deno.writeTextFileSync(gatewayFile(p), gatewayConfig, { mode: 0o600 });
    await add("functions", async () => {
      const service = denoService("functions", "scripts/stack/functions_server.ts", [], {
        env: { FUNCTIONS_GATEWAY_CONFIG: gatewayConfig },
      });
      await waitUntil("the functions gateway", () => portOpen(p.ports.api));
      return service;
    });

    log(`starting the operator console on ${env.CONSOLE_URL}`);
    await add("console", async () => {
      const config: ConsoleConfig = { apiUrl: env.API_URL, anonKey: env.ANON_KEY, signIn: "token" };
      const service = denoService("console", "scripts/stack/console_server.ts", [
        String(p.ports.console),
      ], { env: { CONSOLE_CONFIG: JSON.stringify(config) } });
      await waitUntil("the console", () => portOpen(p.ports.console));
      return service;
    });

    for (let i = 1; i <= p.workers; i++) {
      const name = `worker-${i}`;
      if (i === 1) log(`starting ${p.workers} reference worker(s)`);
      await add(name, () => {
        const lines: string[] = [];
        const service = denoService(name, "worker/main.ts", [], {
          env: {
            ...workerEnv(env, `${p.name}-${name}`),
            // Jobs long enough, and heartbeats (which carry progress) often enough, that
            // `deno task demo` shows each job's progress while it runs.
            HEARTBEAT_SECONDS: "1",
            HANDLER_DURATION_MS: "5000",
          },
          onLine: (line: string) => lines.push(line),
        });
        return waitForLine(name, /worker .* ready/, lines).then(() => service);
      });
    }
    // Send what waited in the outbox (the seed, or jobs enqueued while the stack was down) now
    // rather than at pg_cron's next minute.
    await withSql(p, (sql) => sql`select private.request_dispatch()`);
    Deno.writeTextFileSync(envFile(p), formatEnv(env), { mode: 0o600 });
    return stack(env);
  } catch (error) {
    await stop();
    throw error;
  }
}
