/**
 * The Debian packages the local stack needs. As root they are installed on first use; as another
 * user we stop with the exact command to run, rather than half-starting.
 */
export const PG_BIN = "/usr/lib/postgresql/15/bin";
const EXTENSIONS = "/usr/share/postgresql/15/extension";

const REQUIRED: { pkg: string; file: string }[] = [
  { pkg: "postgresql-15", file: `${PG_BIN}/postgres` },
  { pkg: "postgresql-client-15", file: "/usr/bin/psql" },
  { pkg: "postgresql-15-cron", file: `${EXTENSIONS}/pg_cron.control` },
  { pkg: "postgresql-15-pgtap", file: `${EXTENSIONS}/pgtap.control` },
  { pkg: "postgresql-15-plpgsql-check", file: `${EXTENSIONS}/plpgsql_check.control` },
  { pkg: "libtap-parser-sourcehandler-pgtap-perl", file: "/usr/bin/pg_prove" },
];

export function isRoot(): boolean {
  return Deno.uid() === 0;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Debian's Chromium, for the console's browser test, benchmark and screenshots. */
export const CHROMIUM = { pkg: "chromium", file: "/usr/bin/chromium" };

export async function ensurePackages(
  log: (line: string) => void,
  required: { pkg: string; file: string }[] = REQUIRED,
): Promise<void> {
  const missing = required.filter(({ file }) => !exists(file)).map(({ pkg }) => pkg);
  if (missing.length === 0) return;
  const install = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (!isRoot()) {
    throw new Error(`Missing packages. Run as root: ${install}`);
  }
  log(`installing ${missing.join(", ")} (apt-get)`);
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", ...missing]]) {
    const { code, stderr } = await new Deno.Command("apt-get", {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(
        `Cannot install ${missing.join(" ")}: apt-get ${args[0]} failed: ${
          new TextDecoder().decode(stderr).trim()
        }`,
      );
    }
  }
}
