/**
 * Where a local stack lives: its ports and its state folder. `dev` (deno task start) uses
 * Supabase's well-known local ports; `test` (deno task test), `e2e` (the test that drives
 * `deno task start` itself), `bench` (deno task bench) and `soak` (deno task soak) have their own,
 * so they run while a dev stack is up.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Ports {
  api: number;
  db: number;
  sqs: number;
  slack: number;
  /** The operator console's static files (as `supabase start` serves Studio). */
  console: number;
  /** The test runner's control endpoint (stop/start one service for fault tests). */
  control: number;
}

export const PROFILE_NAMES = ["dev", "test", "e2e", "bench", "soak"] as const;
export type ProfileName = typeof PROFILE_NAMES[number];

export interface Profile {
  name: ProfileName;
  root: string;
  stateDir: string;
  ports: Ports;
  /** Reference workers the stack starts (tests start their own). */
  workers: number;
}

export const projectRoot: string = fileURLToPath(new URL("../../", import.meta.url)).replace(
  /\/$/,
  "",
);

const PORTS: Record<ProfileName, Ports> = {
  dev: { api: 54321, db: 54322, sqs: 4566, slack: 54331, console: 54323, control: 54399 },
  test: { api: 55321, db: 55322, sqs: 55566, slack: 55331, console: 55323, control: 55399 },
  e2e: { api: 56321, db: 56322, sqs: 56566, slack: 56331, console: 56323, control: 56399 },
  bench: { api: 57321, db: 57322, sqs: 57566, slack: 57331, console: 57323, control: 57399 },
  soak: { api: 58321, db: 58322, sqs: 58566, slack: 58331, console: 58323, control: 58399 },
};

const WORKERS: Record<ProfileName, number> = { dev: 2, test: 0, e2e: 2, bench: 0, soak: 0 };

export function profile(name: ProfileName, root: string = projectRoot): Profile {
  return {
    name,
    root,
    stateDir: join(root, ".local", name),
    ports: PORTS[name],
    workers: WORKERS[name],
  };
}

/** The profile named by `--profile <name>` in args (default dev), for the stack commands. */
export function profileFromArgs(args: string[]): Profile {
  const index = args.indexOf("--profile");
  const name = index >= 0 ? args[index + 1] : "dev";
  if (!PROFILE_NAMES.includes(name as ProfileName)) {
    throw new Error(`Unknown profile '${name}': use one of ${PROFILE_NAMES.join(", ")}`);
  }
  return profile(name as ProfileName);
}
