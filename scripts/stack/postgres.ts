/**
 * The stack's PostgreSQL 15: a project-local cluster with pg_cron preloaded, run as the
 * `postgres` OS user when we are root (initdb and postgres refuse to run as root).
 */
import { dirname, join } from "node:path";
import { isRoot, PG_BIN } from "./packages.ts";
import { portOpen, type Service, spawnService, waitUntil } from "./process.ts";
import type { Profile } from "./profile.ts";

export const DB_USER = "postgres";
export const DB_PASSWORD = "postgres";
export const DB_NAME = "postgres";

export function dbUrl(p: Profile): string {
  return `postgresql://${DB_USER}:${DB_PASSWORD}@127.0.0.1:${p.ports.db}/${DB_NAME}`;
}

function dataDir(p: Profile): string {
  return join(p.stateDir, "pgdata");
}

/** setpriv drops to the postgres user (as root) and ties the server's life to ours. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  const user = isRoot() ? ["--reuid=postgres", "--regid=postgres", "--init-groups"] : [];
  return ["setpriv", [...user, "--pdeathsig=SIGINT", "--", command, ...args]];
}

async function run(command: string, args: string[]): Promise<void> {
  const [cmd, fullArgs] = asPostgres(command, args);
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args: fullArgs,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    const text = new TextDecoder().decode(stderr) || new TextDecoder().decode(stdout);
    throw new Error(`Cannot run ${command}: ${text.trim()}`);
  }
}

/** The postgres user must be able to walk down to the data folder (a 0700 temp dir blocks it). */
function grantTraverse(path: string): void {
  for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) {
    const mode = Deno.statSync(dir).mode ?? 0;
    if ((mode & 0o001) === 0) Deno.chmodSync(dir, mode | 0o001);
  }
}

async function postgresUid(): Promise<{ uid: number; gid: number }> {
  const { stdout } = await new Deno.Command("id", { args: ["postgres"], stdout: "piped" })
    .output();
  const text = new TextDecoder().decode(stdout);
  const uid = Number(/uid=(\d+)/.exec(text)?.[1]);
  const gid = Number(/gid=(\d+)/.exec(text)?.[1]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error("Cannot start PostgreSQL: the postgres OS user does not exist");
  }
  return { uid, gid };
}

/** Creates the cluster on first start; later starts reuse it. */
export async function initCluster(p: Profile, log: (line: string) => void): Promise<void> {
  const dir = dataDir(p);
  try {
    Deno.statSync(join(dir, "PG_VERSION"));
    return;
  } catch {
    // First start.
  }
  log(`creating PostgreSQL cluster in ${dir}`);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pwfile = join(p.stateDir, ".pwfile");
  Deno.writeTextFileSync(pwfile, DB_PASSWORD, { mode: 0o600 });
  if (isRoot()) {
    grantTraverse(p.stateDir);
    const { uid, gid } = await postgresUid();
    Deno.chownSync(dir, uid, gid);
    Deno.chownSync(pwfile, uid, gid);
  }
  try {
    await run(join(PG_BIN, "initdb"), [
      `--pgdata=${dir}`,
      `--username=${DB_USER}`,
      `--pwfile=${pwfile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C.UTF-8",
    ]);
  } finally {
    Deno.removeSync(pwfile);
  }
}

export async function startPostgres(p: Profile): Promise<Service> {
  if (await portOpen(p.ports.db)) {
    throw new Error(
      `Cannot start PostgreSQL: port ${p.ports.db} is taken (is a stack already running? try: deno task stop)`,
    );
  }
  if (isRoot()) grantTraverse(p.stateDir);
  const settings = {
    listen_addresses: "127.0.0.1",
    port: String(p.ports.db),
    // TCP only: no socket file to collide with another cluster.
    unix_socket_directories: "",
    shared_preload_libraries: "pg_cron",
    "cron.database_name": DB_NAME,
    // Jobs run in background workers, so pg_cron needs no password or pg_hba entry.
    "cron.use_background_workers": "on",
    max_worker_processes: "32",
    timezone: "UTC",
    log_timezone: "UTC",
  };
  const args = ["-D", dataDir(p)];
  for (const [key, value] of Object.entries(settings)) args.push("-c", `${key}=${value}`);
  const [cmd, fullArgs] = asPostgres(join(PG_BIN, "postgres"), args);
  const service = spawnService("postgres", cmd, {
    args: fullArgs,
    logDir: p.stateDir,
    stopSignal: "SIGINT",
  });
  let exitCode: number | undefined;
  service.exited.then((code) => (exitCode = code));
  await waitUntil("PostgreSQL to accept connections", async () => {
    if (exitCode !== undefined) {
      throw new Error(`postgres exited with ${exitCode}; see ${join(p.stateDir, "postgres.log")}`);
    }
    const { code } = await new Deno.Command(join(PG_BIN, "pg_isready"), {
      args: ["-h", "127.0.0.1", "-p", String(p.ports.db), "-d", DB_NAME, "-U", DB_USER],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  });
  return service;
}

/** Runs a SQL file as the superuser, stopping at the first error. */
export async function psqlFile(p: Profile, file: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("psql", {
    args: [dbUrl(p), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", file],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`Cannot apply ${file}: ${new TextDecoder().decode(stderr).trim()}`);
  }
}
