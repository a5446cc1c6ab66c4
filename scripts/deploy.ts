/**
 * `deno task deploy [--env-file <file>] [--dry-run]`: deploys to a hosted Supabase project with
 * the Supabase CLI, in four idempotent steps (running it again changes nothing that is already
 * in place), after checking that every priority lane's SQS queue and the DLQ exist:
 *   1. supabase db push             the migrations not yet applied (pg_cron jobs included)
 *   2. supabase secrets set         the functions' settings (AWS, SQS, Slack, rate limits)
 *   3. Vault                        project_url and service_role_key, which pg_cron's calls use
 *   4. supabase functions deploy    every function, with deno.json's pinned imports
 * It first checks every setting (each missing one is named) and runs each function's own
 * config parser on them. --dry-run prints the plan and contacts nothing; secret values are never
 * printed. The env file defaults to supabase/.env.deploy (see deploy.env.example).
 */
import { parse as parseDotenv } from "dotenv";
import { isAbsolute, join, relative } from "node:path";
import postgres from "postgres";
import { checkSettings, DEPLOY_SETTINGS, SECRET_VALUES, shown } from "./deploy/settings.ts";
import { projectRoot } from "./stack/profile.ts";
import { supabase } from "./stack/supabase_cli.ts";
import { laneQueueUrls, LANES } from "../supabase/functions/_shared/lanes.ts";
import {
  createSqsClient,
  queueDepth,
  sqsConfigFromEnv,
} from "../supabase/functions/_shared/sqs.ts";

export interface Step {
  title: string;
  /** Supabase CLI arguments; `display`, when given, is the same with secrets masked. */
  cli?: { args: string[]; display?: string[] };
  run?: () => Promise<void>;
}

export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "***";
  }
}

/** The text with every secret value of env (and the database password) replaced by ***. */
export function redact(text: string, env: Record<string, string>): string {
  const values = [...SECRET_VALUES].map((name) => env[name]).filter((v): v is string => !!v);
  try {
    const password = decodeURIComponent(new URL(env.DEPLOY_DB_URL ?? "").password);
    if (password) values.push(password);
  } catch {
    // Not a URL: nothing more to hide.
  }
  let out = text;
  for (const value of values.sort((a, b) => b.length - a.length)) {
    out = out.replaceAll(value, "***");
  }
  return out;
}

export function plan(
  env: Record<string, string>,
  /** The function secrets, as checkSettings() found them. */
  secrets: Record<string, string>,
  files: { secretsFile: string; importMap: string },
): Step[] {
  const ref = env.SUPABASE_PROJECT_REF!;
  const dbUrl = env.DEPLOY_DB_URL!;
  const laneUrls = laneQueueUrls(secrets.SQS_QUEUE_URL!);
  const queues = [...LANES.map((lane) => laneUrls[lane]), secrets.SQS_DLQ_URL!];
  return [
    {
      title: `Check that the SQS queues answer: ${
        LANES.map((lane) => `${lane} lane ${laneUrls[lane]}`).join(", ")
      }, DLQ ${secrets.SQS_DLQ_URL} (create them with infra/sqs.yaml)`,
      run: () => checkQueues(secrets, queues),
    },
    {
      title: "Apply the migrations not yet applied",
      cli: {
        args: ["db", "push", `--remote=${dbUrl}`],
        display: ["db", "push", `--remote=${maskUrl(dbUrl)}`],
      },
    },
    {
      title: `Set ${Object.keys(secrets).length} function secrets: ${
        Object.entries(secrets).map(([k, v]) => `${k}=${shown(k, v)}`).join(" ")
      }`,
      cli: {
        args: ["secrets", "set", `--remote=${ref}`, "--env-file", files.secretsFile],
      },
    },
    {
      title:
        `Store Vault secrets project_url=https://${ref}.supabase.co and service_role_key=*** (create or update)`,
      run: () => storeVaultSecrets(dbUrl, ref, env.SUPABASE_SERVICE_ROLE_KEY!),
    },
    {
      title: `Deploy the functions ${
        functionSlugs().join(", ")
      } (verify_jwt from supabase/config.toml)`,
      cli: {
        args: [
          "functions",
          "deploy",
          `--remote=${ref}`,
          "--use-api",
          "--import-map",
          files.importMap,
        ],
      },
    },
  ];
}

/** Every function folder: supabase functions deploy deploys them all. */
export function functionSlugs(): string[] {
  return [...Deno.readDirSync(join(projectRoot, "supabase", "functions"))]
    .filter((e) => e.isDirectory && !e.name.startsWith("_"))
    .map((e) => e.name)
    .sort();
}

/** Fails naming every queue that does not answer (missing, or not allowed to this key). */
async function checkQueues(secrets: Record<string, string>, urls: string[]): Promise<void> {
  const sqs = createSqsClient(sqsConfigFromEnv(secrets, "deploy"), 10_000);
  try {
    const failures = await Promise.all(urls.map(async (url) => {
      try {
        await queueDepth(sqs, url);
        return undefined;
      } catch (error) {
        return `${url}: ${error instanceof Error ? error.name : String(error)}`;
      }
    }));
    const failed = failures.filter((f) => f !== undefined);
    if (failed.length > 0) throw new Error(`SQS queues not reachable: ${failed.join("; ")}`);
  } finally {
    sqs.destroy();
  }
}

async function storeVaultSecrets(dbUrl: string, ref: string, serviceKey: string): Promise<void> {
  const sql = postgres(dbUrl, { max: 1, prepare: false, onnotice: () => {} });
  try {
    for (
      const [name, value] of [["project_url", `https://${ref}.supabase.co`], [
        "service_role_key",
        serviceKey,
      ]] as const
    ) {
      const [row] = await sql`select id from vault.secrets where name = ${name}`;
      if (row) await sql`select vault.update_secret(${row.id}, ${value})`;
      else await sql`select vault.create_secret(${value}, ${name})`;
    }
  } finally {
    await sql.end();
  }
}

/** Why deploy cannot start without its env file, and how to make one. */
export function missingEnvFile(envFile: string): string {
  // Inside the project, the path as the docs write it (supabase/.env.deploy); outside, as given.
  const inProject = relative(projectRoot, envFile);
  const shownPath = inProject.startsWith("..") || isAbsolute(inProject) ? envFile : inProject;
  return `${shownPath} does not exist. Copy deploy.env.example to it and fill it in (or pass --env-file F).`;
}

function parseArgs(args: string[]): { envFile: string; dryRun: boolean } {
  let envFile = join(projectRoot, "supabase", ".env.deploy");
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--dry-run") dryRun = true;
    else if (args[i] === "--env-file" && args[i + 1]) envFile = args[++i]!;
    else {throw new Error(
        `Unknown argument '${args[i]}'. Usage: deno task deploy [--env-file F] [--dry-run]`,
      );}
  }
  return { envFile, dryRun };
}

if (import.meta.main) {
  let options: { envFile: string; dryRun: boolean };
  let env: Record<string, string>;
  try {
    options = parseArgs(Deno.args);
    env = parseDotenv(await Deno.readTextFile(options.envFile));
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? missingEnvFile(options!.envFile) // only reading the file throws NotFound
      : (error as Error).message;
    console.error(`Cannot deploy: ${reason}`);
    Deno.exit(2);
  }
  const check = checkSettings(env);
  if (check.missing.length || check.errors.length) {
    console.error(`Cannot deploy with ${options.envFile}:`);
    for (const name of check.missing) {
      const what = (DEPLOY_SETTINGS as Record<string, string>)[name];
      console.error(`  missing ${name}${what ? ` (${what})` : ""}`);
    }
    for (const error of check.errors) console.error(`  ${error}`);
    Deno.exit(1);
  }

  const work = options.dryRun ? undefined : await Deno.makeTempDir({ prefix: "deploy-" });
  const files = {
    secretsFile: work ? join(work, "secrets.env") : "<temporary secrets file>",
    importMap: work ? join(work, "import_map.json") : "<import map from deno.json>",
  };
  const steps = plan(env, check.secrets, files);
  console.log(
    options.dryRun
      ? "Plan (dry run: nothing is contacted, nothing is written):"
      : `Deploying to project ${env.SUPABASE_PROJECT_REF}:`,
  );
  steps.forEach((step, i) => {
    console.log(`${i + 1}. ${step.title}`);
    if (step.cli) console.log(`   supabase ${(step.cli.display ?? step.cli.args).join(" ")}`);
  });
  if (!work) Deno.exit(0);

  try {
    // Files, not arguments: secret values never appear in a process list.
    await Deno.writeTextFile(
      files.secretsFile,
      Object.entries(check.secrets).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("\n") + "\n",
      { mode: 0o600 },
    );
    const { imports } = JSON.parse(await Deno.readTextFile(join(projectRoot, "deno.json")));
    await Deno.writeTextFile(files.importMap, JSON.stringify({ imports }, null, 2));
    for (const [i, step] of steps.entries()) {
      console.log(`\n[${i + 1}/${steps.length}] ${step.title}`);
      if (step.cli) {
        const result = await supabase(step.cli.args, projectRoot, {
          SUPABASE_ACCESS_TOKEN: env.SUPABASE_ACCESS_TOKEN!,
        });
        if (result.stdout.trim()) console.log(redact(result.stdout.trim(), env));
        if (result.code !== 0) {
          throw new Error(
            `supabase ${step.cli.args.slice(0, 2).join(" ")}: ${redact(result.stderr, env)}`,
          );
        }
      }
      await step.run?.();
    }
    console.log("\nDeployed. Running it again is safe: each step leaves what is in place.");
  } catch (error) {
    console.error(`\nDeploy stopped: ${redact((error as Error).message, env)}`);
    console.error("Fix the cause and run deno task deploy again; finished steps are kept.");
    Deno.exitCode = 1;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
