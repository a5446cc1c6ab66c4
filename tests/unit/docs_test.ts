/**
 * The docs tell the truth about what the code reads and says: every env var the code reads is in
 * docs/configuration.md, every health reason, alert and migration is in docs/runbook.md.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DEPLOY_SETTINGS,
  INJECTED,
  OPTIONAL_SECRETS,
  REQUIRED_SECRETS,
} from "../../scripts/deploy/settings.ts";
import { projectRoot } from "../../scripts/stack/profile.ts";
import { PRESETS } from "../../supabase/functions/_shared/ratelimit/policy.ts";

const read = (...path: string[]) => Deno.readTextFileSync(join(projectRoot, ...path));
const configuration = read("docs", "configuration.md");
const runbook = read("docs", "runbook.md");

function files(dir: string): string[] {
  return [...Deno.readDirSync(join(projectRoot, dir))].flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory) return files(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

/** Every env var name the code reads through the config helpers or Deno.env. */
function envVarsRead(): Set<string> {
  const patterns = [
    /(?:requireEnv|intEnv|numberEnv)\(env, [^,]+, "([A-Z][A-Z0-9_]+)"/g,
    /\benv\.([A-Z][A-Z0-9_]+)/g,
    /Deno\.env\.get\("([A-Z][A-Z0-9_]+)"\)/g,
  ];
  const names = new Set<string>();
  const sources = [
    ...files("supabase/functions"),
    ...files("worker"),
    ...files("scripts/deploy"),
    ...["deploy.ts", "dlq_redrive.ts", "gen_types.ts", "apikey.ts"].map((f) => `scripts/${f}`),
  ];
  for (const file of sources) {
    const text = read(file);
    for (const pattern of patterns) for (const [, name] of text.matchAll(pattern)) names.add(name!);
  }
  // Built from names: RATE_LIMIT_<FUNCTION> and RATE_LIMIT_PRESET_<PRESET>.
  for (const fn of ["QUEUE", "HEALTH", "CONSOLE_API"]) names.add(`RATE_LIMIT_${fn}`);
  for (const preset of Object.keys(PRESETS)) {
    names.add(`RATE_LIMIT_PRESET_${preset.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()}`);
  }
  return names;
}

Deno.test("docs/configuration.md names every env var the code reads", () => {
  const names = envVarsRead();
  assert.ok(names.size > 30, `the scan finds the variables (${names.size})`);
  const undocumented = [...names].filter((n) => !configuration.includes(`\`${n}\``));
  assert.deepEqual(undocumented, []);
});

Deno.test("every setting deploy knows is documented, and deploy knows every function setting", () => {
  const listed = [
    ...Object.keys(DEPLOY_SETTINGS),
    ...REQUIRED_SECRETS,
    ...OPTIONAL_SECRETS,
    ...INJECTED.filter((n) => n !== "SUPABASE_PUBLISHABLE_KEYS"),
  ];
  assert.deepEqual(listed.filter((n) => !configuration.includes(`\`${n}\``)), []);
  // What the functions read must be something deploy sets, or Supabase injects.
  const functionVars = new Set<string>();
  for (const file of files("supabase/functions")) {
    for (
      const match of read(file).matchAll(
        /(?:requireEnv|intEnv|numberEnv)\(env, [^,]+, "([A-Z][A-Z0-9_]+)"|\benv\.([A-Z][A-Z0-9_]+)/g,
      )
    ) functionVars.add(match[1] ?? match[2]!);
  }
  const known = new Set<string>([...listed, ...INJECTED, "SQS_ENDPOINT"]);
  assert.deepEqual([...functionVars].filter((n) => !known.has(n)), []);
});

Deno.test("docs/runbook.md explains every health reason the health function can give", () => {
  const status = read("supabase/functions/health/status.ts");
  const reasons = [
    ...status.matchAll(
      /reasons\.push\(\s*`([^`]+)`|reasons: \["([^"]+)"\]|reasons\.push\("([^"]+)"\)/g,
    ),
  ].map((m) => m[1] ?? m[2] ?? m[3]!);
  assert.ok(reasons.length >= 8, `found ${reasons.length} reasons`);
  for (const reason of reasons) {
    // The fixed words of a template: its longest piece between interpolations.
    const words = reason.split(/\$\{[^}]*\}?/).map((s) => s.trim())
      .sort((a, b) => b.length - a.length)[0]!;
    assert.ok(runbook.includes(words), `runbook explains "${words}"`);
  }
  for (const s of ["healthy", "degraded", "unhealthy"]) assert.ok(runbook.includes(`\`${s}\``));
});

Deno.test("docs/runbook.md covers every alert and how to roll back every migration", () => {
  const dlq = read("supabase/migrations/20261122200000_dlq_monitor.sql");
  const kinds = /kind in \(([^)]+)\)/.exec(dlq)![1]!.match(/'([a-z_]+)'/g)!.map((k) =>
    k.slice(1, -1)
  );
  assert.equal(kinds.length, 4);
  for (const kind of kinds) assert.ok(runbook.includes(`\`${kind}\``), kind);
  for (const entry of Deno.readDirSync(join(projectRoot, "supabase", "migrations"))) {
    const name = entry.name.replace(/\.sql$/, "");
    assert.ok(runbook.includes(`\`${name}\``), `runbook: rolling back ${name}`);
  }
});
