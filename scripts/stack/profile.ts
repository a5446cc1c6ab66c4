/**
 * Where a local stack lives: its ports and its state folder. The dev stack uses Supabase's
 * well-known local ports; the test stack uses its own, so `deno task test` runs while a dev
 * stack is up.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Ports {
  api: number;
  db: number;
  sqs: number;
  slack: number;
}

export interface Profile {
  name: "dev" | "test";
  root: string;
  stateDir: string;
  ports: Ports;
}

export const projectRoot: string = fileURLToPath(new URL("../../", import.meta.url)).replace(
  /\/$/,
  "",
);

const PORTS: Record<Profile["name"], Ports> = {
  dev: { api: 54321, db: 54322, sqs: 4566, slack: 54331 },
  test: { api: 55321, db: 55322, sqs: 55566, slack: 55331 },
};

export function profile(name: Profile["name"], root: string = projectRoot): Profile {
  return { name, root, stateDir: join(root, ".local", name), ports: PORTS[name] };
}
