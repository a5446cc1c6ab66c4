/** `deno task deploy`: the settings check and the dry-run plan (hosted APIs are out of reach). */
import assert from "node:assert/strict";
import { parse as parseDotenv } from "dotenv";
import { join } from "node:path";
import { checkSettings } from "../../scripts/deploy/settings.ts";
import { missingEnvFile, redact } from "../../scripts/deploy.ts";
import { projectRoot } from "../../scripts/stack/profile.ts";

// The example operators copy is itself the fixture: it must stay a valid, complete setup.
const FIXTURE = join(projectRoot, "deploy.env.example");
const complete = () => parseDotenv(Deno.readTextFileSync(FIXTURE));

async function deploy(...args: string[]): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/deploy.ts", ...args],
    cwd: projectRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, text: decode(out.stdout) + decode(out.stderr) };
}

Deno.test("deploy --dry-run prints the whole plan, contacts nothing and shows no secret", async () => {
  const { code, text } = await deploy("--env-file", FIXTURE, "--dry-run");
  assert.equal(code, 0, text);
  for (
    const line of [
      /supabase db push --remote=postgresql:\/\/postgres:\*\*\*@db\.abcdefghijklmnopqrst/,
      /supabase secrets set --remote=abcdefghijklmnopqrst --env-file/,
      /Vault secrets project_url=https:\/\/abcdefghijklmnopqrst\.supabase\.co and service_role_key=\*\*\*/,
      /supabase functions deploy --remote=abcdefghijklmnopqrst --use-api --import-map/,
      /dispatch, dlq-monitor, health, queue/,
      /SQS_QUEUE_URL=https:\/\/sqs\.eu-west-1\.amazonaws\.com\/123456789012\/jobs /,
      // Every lane's queue, found by name from SQS_QUEUE_URL, is checked before anything changes.
      /1\. Check that the SQS queues answer: high lane https:\/\/sqs\.eu-west-1\.amazonaws\.com\/123456789012\/jobs-high, default lane \S+\/jobs, low lane \S+\/jobs-low, DLQ \S+\/jobs-dlq/,
    ]
  ) assert.match(text, line);
  const env = complete();
  for (
    const name of [
      "SUPABASE_ACCESS_TOKEN",
      "SUPABASE_SERVICE_ROLE_KEY",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "SLACK_WEBHOOK_URL",
    ]
  ) assert.ok(!text.includes(env[name]!), `${name}'s value is not printed`);
  assert.ok(!text.includes("PASSWORD"), "nor the database password");
});

Deno.test("deploy names every missing setting and stops", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "partial.env");
    await Deno.writeTextFile(file, "SUPABASE_PROJECT_REF=abc\nAWS_REGION=eu-west-1\n");
    const { code, text } = await deploy("--env-file", file, "--dry-run");
    assert.equal(code, 1);
    for (
      const name of [
        "SUPABASE_ACCESS_TOKEN",
        "DEPLOY_DB_URL",
        "SUPABASE_SERVICE_ROLE_KEY",
        "SQS_QUEUE_URL",
        "SQS_DLQ_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "SLACK_WEBHOOK_URL",
      ]
    ) assert.match(text, new RegExp(`missing ${name}\\b`));
    assert.doesNotMatch(text, /missing (SUPABASE_PROJECT_REF|AWS_REGION)\b/);
    assert.doesNotMatch(text, /Plan/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy without its env file says which file is missing and how to make it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "missing.env");
    const { code, text } = await deploy("--env-file", file, "--dry-run");
    assert.equal(code, 2);
    assert.equal(
      text.trim(),
      `Cannot deploy: ${file} does not exist. Copy deploy.env.example to it and fill it in (or pass --env-file F).`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("missingEnvFile() names the default file as the docs do, relative to the project", () => {
  assert.equal(
    missingEnvFile(join(projectRoot, "supabase", ".env.deploy")),
    "supabase/.env.deploy does not exist. Copy deploy.env.example to it and fill it in (or pass --env-file F).",
  );
});

Deno.test("checkSettings() runs each function's own parser and refuses unknown names", () => {
  assert.deepEqual(checkSettings(complete()).errors, []);
  const bad = checkSettings({ ...complete(), RATE_LIMIT_PRESET_STANDARD: "lots" });
  assert.equal(bad.errors.length, 3, "queue, health and console-api all apply the preset");
  assert.match(bad.errors[0]!, /RATE_LIMIT_PRESET_STANDARD/);
  assert.deepEqual(checkSettings({ ...complete(), RATE_LIMIT_TIMEOUT_MS: "soon" }).errors, [
    "Cannot start queue: RATE_LIMIT_TIMEOUT_MS must be a non-negative integer, got 'soon'",
    "Cannot start health: RATE_LIMIT_TIMEOUT_MS must be a non-negative integer, got 'soon'",
    "Cannot start console-api: RATE_LIMIT_TIMEOUT_MS must be a non-negative integer, got 'soon'",
  ]);
  assert.deepEqual(checkSettings({ ...complete(), METRICS_TOKEN: "short" }).errors, [
    "Cannot start console-api: METRICS_TOKEN must be at least 16 characters",
  ]);
  assert.deepEqual(
    checkSettings({ ...complete(), SUPABASE_WEBHOOK: "x", SQS_ENDPOINT: "http://x", SLAK: "y" })
      .errors,
    [
      "SUPABASE_WEBHOOK: Supabase sets SUPABASE_* itself; custom secrets cannot start with it",
      "SQS_ENDPOINT is for the local emulator only: remove it to use AWS SQS",
      "SLAK is not a setting of this system (see docs/configuration.md)",
    ],
  );
  const { secrets } = checkSettings(complete());
  assert.ok(!("SUPABASE_ACCESS_TOKEN" in secrets), "deploy settings are not function secrets");
  assert.equal(secrets.SQS_DLQ_URL, complete().SQS_DLQ_URL);
});

Deno.test("redact() hides every secret value and the database password in CLI output", () => {
  const env = complete();
  const text =
    `failed: ${env.DEPLOY_DB_URL} token ${env.SUPABASE_ACCESS_TOKEN} PASSWORD ${env.SLACK_WEBHOOK_URL}`;
  const out = redact(text, env);
  assert.equal(out, "failed: *** token *** *** ***");
});
