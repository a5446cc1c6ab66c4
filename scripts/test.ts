/**
 * `deno task test`: every test, against a stack of its own. Starts the `test` profile from a
 * clean folder (own ports, so a dev stack may keep running), runs the pgTAP files with pg_prove
 * and the Deno tests (unit, integration, end-to-end), stops everything it started, and ends
 * with one line `N passed, N failed` counting both kinds. Any failure exits non-zero.
 *
 * Extra arguments go to `deno test` (e.g. `deno task test --filter gateway`).
 *
 * `deno task test --reliability` runs tests/reliability/ instead (load, faults, bad input) on the
 * same kind of stack and prints their report (CI does); `deno task test:reliability` adds
 * --write-report, which also rewrites the committed docs/RELIABILITY.md.
 */
import { stackSigningKey } from "./console_token.ts";
import { join } from "node:path";
import { CHROMIUM, ensurePackages } from "./stack/packages.ts";
import { profile } from "./stack/profile.ts";
import { controlHandler } from "./stack/control.ts";
import { reliabilityReport, writeReliabilityReport } from "./reliability_report.ts";
import { findLeaks, logFiles } from "./stack/secret_scan.ts";
import { type Stack, startStack } from "./stack/stack.ts";
import { stopProfile } from "./stop.ts";

interface Tally {
  passed: number;
  failed: number;
}

/** The fuzzer's stack: the shipped policies, with limits no fuzz run reaches. */
const FUZZ_RATE_LIMITS = {
  RATE_LIMIT_PRESET_STANDARD: "100000000/60",
  RATE_LIMIT_SERVICE: "100000000/60",
};

/** `--fuzz [--runs N] [--seed S]`: the fuzzer's env (FUZZ_RUNS, FUZZ_SEED), or undefined. */
export function fuzzSettings(args: string[]): Record<string, string> | undefined {
  if (!args.includes("--fuzz")) return undefined;
  const value = (flag: string, fallback: number) => {
    const i = args.indexOf(flag);
    if (i < 0) return String(fallback);
    const n = Number(args[i + 1]);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new Error(`${flag} must be a positive integer, got '${args[i + 1] ?? ""}'`);
    }
    return String(n);
  };
  return { FUZZ_RUNS: value("--runs", 10_000), FUZZ_SEED: value("--seed", 20261130) };
}

/** Everything the test commands printed, scanned for secrets at the end. */
const captured: { where: string; text: string }[] = [];

/** Runs a command, echoing its output as it comes, and returns all of it. */
async function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" })
    .spawn();
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      output += new TextDecoder().decode(chunk);
      await sink.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  captured.push({ where: `${command.split("/").pop()} output`, text: output });
  return { code: status.code, output };
}

/** pg_prove --verbose echoes every TAP line; a file that dies mid-plan counts as one failure. */
export function tallyTap(output: string, exitCode: number): Tally {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const passed = (plain.match(/^\s*ok \d+/gm) ?? []).length;
  const failed = (plain.match(/^\s*not ok \d+/gm) ?? []).length;
  return { passed, failed: failed === 0 && exitCode !== 0 ? 1 : failed };
}

/** Deno's summary: `ok | 12 passed (3 steps) | 0 failed (1s)`. */
export function tallyDeno(output: string, exitCode: number): Tally {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const match = /(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(plain);
  if (!match) return { passed: 0, failed: 1 };
  const failed = Number(match[2]);
  return { passed: Number(match[1]), failed: failed === 0 && exitCode !== 0 ? 1 : failed };
}

async function pgTap(stack: Stack): Promise<Tally> {
  const dir = join(stack.profile.root, "supabase", "tests", "database");
  const files = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".sql"))
    .map((e) => join(dir, e.name)).sort();
  console.log(`\n== pgTAP: ${files.length} files ==`);
  const { code, output } = await run("pg_prove", [
    "--verbose",
    "--ext",
    ".sql",
    "-h",
    "127.0.0.1",
    "-p",
    String(stack.profile.ports.db),
    "-U",
    "postgres",
    "-d",
    "postgres",
    ...files,
  ], { PGPASSWORD: "postgres" });
  return tallyTap(output, code);
}

async function denoTests(
  stack: Stack,
  extra: string[],
  dirs: string[],
  env: Record<string, string> = {},
): Promise<Tally> {
  console.log("\n== Deno tests ==");
  const { code, output } = await run(Deno.execPath(), [
    "test",
    "-A",
    "--no-prompt",
    ...extra,
    ...dirs,
  ], {
    ...stack.env,
    ...env,
    STACK_STATE_DIR: stack.profile.stateDir,
    STACK_CONTROL_URL: `http://127.0.0.1:${stack.profile.ports.control}`,
  });
  return tallyDeno(output, code);
}

if (import.meta.main) {
  const reliability = Deno.args.includes("--reliability");
  const writeReport = Deno.args.includes("--write-report");
  let fuzz: Record<string, string> | undefined;
  try {
    fuzz = fuzzSettings(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const testArgs = Deno.args.filter((a, i, all) =>
    !["--reliability", "--write-report", "--fuzz", "--runs", "--seed"].includes(a) &&
    !["--runs", "--seed"].includes(all[i - 1] ?? "")
  );
  const p = profile("test");
  const reportFile = join(p.stateDir, "reliability.jsonl");
  // A previous run that was killed may have left its stack: end it and start clean.
  await stopProfile(p);
  await Deno.remove(p.stateDir, { recursive: true }).catch(() => {});
  const started = performance.now();
  let stack: Stack | undefined;
  const tally: Tally = { passed: 0, failed: 0 };
  const add = (t: Tally) => {
    tally.passed += t.passed;
    tally.failed += t.failed;
  };
  const interrupted = async () => {
    await stack?.stop();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  Deno.addSignalListener("SIGTERM", interrupted);
  try {
    console.log(`Starting the test stack in ${p.stateDir}...`);
    const log = (line: string) => console.log(`• ${line}`);
    // The console's browser test drives Debian's Chromium.
    if (!reliability && !fuzz) await ensurePackages(log, [CHROMIUM]);
    // The fuzzer tests input handling, not the limiter: its stack lets every request through
    // (the limiter still decides each one, and its state is the one write allowed).
    stack = await startStack(p, { log, ...(fuzz ? { functionEnv: FUZZ_RATE_LIMITS } : {}) });
    if (!reliability && !fuzz) add(await pgTap(stack));
    const control = Deno.serve(
      { hostname: "127.0.0.1", port: p.ports.control, onListen: () => {} },
      controlHandler(stack),
    );
    try {
      add(
        fuzz
          ? await denoTests(stack, testArgs, ["tests/fuzz/"], fuzz)
          : reliability
          ? await denoTests(stack, testArgs, ["tests/reliability/"], {
            RELIABILITY_REPORT: reportFile,
          })
          : await denoTests(stack, testArgs, [
            "tests/unit/",
            "tests/integration/",
            "tests/browser/",
            "tests/e2e/",
          ]),
      );
    } finally {
      await control.shutdown();
    }
  } catch (error) {
    console.error(`Test run aborted: ${error instanceof Error ? error.message : error}`);
    tally.failed += 1;
  } finally {
    await stack?.stop();
  }
  if (stack) {
    // No secret in any log of the run, nor in what the tests printed.
    const {
      SERVICE_ROLE_KEY,
      JWT_SECRET,
      AWS_SECRET_ACCESS_KEY,
      SLACK_WEBHOOK_URL,
      METRICS_TOKEN,
    } = stack.env;
    const leaks = findLeaks([...logFiles(p.stateDir), ...captured], {
      SERVICE_ROLE_KEY,
      JWT_SECRET,
      AWS_SECRET_ACCESS_KEY,
      "the Slack webhook token": SLACK_WEBHOOK_URL.split("/").pop()!,
      METRICS_TOKEN,
      "the signing key's private part": stackSigningKey(p.stateDir).d!,
    });
    for (const leak of leaks) console.error(`SECRET LEAK: ${leak.secret} appears in ${leak.where}`);
    console.log(`
secret scan of ${p.stateDir}/*.log and the test output: ${
      leaks.length ? `${leaks.length} leak(s)` : "no secret found"
    }`);
    add({ passed: leaks.length ? 0 : 1, failed: leaks.length ? 1 : 0 });
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  if (reliability) {
    // The figures always go to the log; the committed report changes only when asked.
    const report = reliabilityReport(reportFile, tally, Number(seconds));
    console.log(`\n${report}`);
    if (writeReport) console.log(`\nwrote ${writeReliabilityReport("suite", report)}`);
  }
  console.log(`\n(${seconds}s, logs in ${p.stateDir})`);
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  Deno.exit(tally.failed === 0 ? 0 : 1);
}
