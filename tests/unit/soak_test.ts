/** The soak's parts: its settings, handler, trend, checks, heap hook and sampler. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { soakSettings } from "../../scripts/soak.ts";
import {
  alertCheck,
  answerCheck,
  connectionCheck,
  jobCheck,
  leaseCheck,
  memoryCheck,
} from "../../scripts/soak/checks.ts";
import { modeOf, soakHandler } from "../../scripts/soak/handler.ts";
import {
  HEAP_REPORT,
  heapHookFlags,
  HeapReports,
  parseHeapReport,
} from "../../scripts/soak/heap.ts";
import { projectRoot } from "../../scripts/stack/profile.ts";
import { spawnService } from "../../scripts/stack/process.ts";
import { drawMode, type LoadRecord } from "../../scripts/soak/load.ts";
import { soakMarkdown } from "../../scripts/soak/report.ts";
import { labelOf, type Sample, sampleProcesses } from "../../scripts/soak/sample.ts";
import { growth, warmUpSeconds } from "../../scripts/soak/trend.ts";
import type { ClaimedJob } from "../../worker/contract.ts";
import { PermanentJobError } from "../../worker/mod.ts";

Deno.test("soakSettings() defaults to 20 minutes with a report, and refuses bad arguments", () => {
  assert.deepEqual(soakSettings([]), { minutes: 20, writeReport: true });
  assert.deepEqual(soakSettings(["--minutes", "3", "--no-report"]), {
    minutes: 3,
    writeReport: false,
  });
  assert.throws(() => soakSettings(["--minutes", "2"]), /--minutes must be a number from 3/);
  assert.throws(() => soakSettings(["--minutes"]), /--minutes must be a number/);
  assert.throws(() => soakSettings(["--minuts", "3"]), /Unknown argument '--minuts'/);
});

Deno.test("growth() is the fitted rise over the window: flat 0, a leak its share, a sawtooth small", () => {
  const at = Array.from({ length: 30 }, (_, i) => i * 30);
  assert.equal(growth(at.map((t) => ({ at: t, value: 100 }))), 0);
  const leak = growth(at.map((t) => ({ at: t, value: 100 + t / 29 })));
  assert.ok(Math.abs(leak - 0.3) < 0.01, `a steady 30% rise reads ${leak}`);
  const saw = growth(at.map((t, i) => ({ at: t, value: i % 5 === 4 ? 80 : 100 + 4 * (i % 5) })));
  assert.ok(Math.abs(saw) < 0.05, `a garbage collector's sawtooth reads ${saw}`);
  assert.equal(growth([{ at: 0, value: 5 }]), 0);
});

Deno.test("warmUpSeconds() is a quarter of the run, at least a minute", () => {
  assert.equal(warmUpSeconds(1200), 300);
  assert.equal(warmUpSeconds(120), 60);
});

function job(mode: string, attempt = 1): ClaimedJob {
  return {
    job_id: crypto.randomUUID(),
    attempt,
    lease: crypto.randomUUID(),
    customer_id: "c",
    package_size: 3,
    priority_level: 0,
    payload: { soak: mode },
  };
}

Deno.test("soakHandler(): each mode does what the soak expects of it", async () => {
  const handler = soakHandler({ jobMs: 0, hangMs: 30, random: () => 0 });
  const reports: number[] = [];
  const context = {
    signal: new AbortController().signal,
    progress: (done: number) => void reports.push(done),
  };
  assert.deepEqual(await handler(job("ok"), context), { directories_submitted: 3 });
  assert.deepEqual(reports, [1, 2, 3], "progress after each step");
  await assert.rejects(handler(job("flaky"), context), /timed out/);
  assert.deepEqual(await handler(job("flaky", 2), context), { directories_submitted: 3 });
  await assert.rejects(handler(job("reject"), context), PermanentJobError);
  await assert.rejects(handler(job("poison", 5), context), /poison/);
  // A hanging first attempt ignores its abort; the second works.
  const aborted = new AbortController();
  aborted.abort(new Error("timed out"));
  assert.deepEqual(await handler(job("hang"), { ...context, signal: aborted.signal }), {
    late: true,
  });
  assert.deepEqual(await handler(job("hang", 2), context), { directories_submitted: 3 });
  assert.equal(modeOf({ soak: "nonsense" }), "ok");
});

Deno.test("drawMode() draws mostly ok jobs and every other ordinary mode", () => {
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const counts = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const mode = drawMode(random);
    counts.set(mode, (counts.get(mode) ?? 0) + 1);
  }
  assert.ok(counts.get("ok")! > 7_500 && counts.get("ok")! < 8_500);
  for (const mode of ["flaky", "hang", "reject"]) assert.ok(counts.get(mode)! > 200, mode);
  assert.equal(counts.get("poison"), undefined, "poison jobs come on their own schedule");
});

function samples(values: (t: number) => { kib: number; connections: number }): Sample[] {
  return Array.from({ length: 20 }, (_, i) => {
    const at = i * 30;
    const v = values(at);
    return {
      at,
      processes: [
        {
          pid: 7,
          service: "functions",
          label: "x",
          root: true,
          started: 1,
          kib: v.kib,
          rssKib: v.kib,
          deno: false,
        },
        // A Deno process whose live heap stays flat while its RssAnon does what it likes.
        {
          pid: 8,
          service: "functions",
          label: "y",
          root: false,
          started: 1,
          kib: 1000,
          rssKib: 1000,
          deno: true,
          v8: { liveKib: 500, heapKib: 600 },
        },
      ],
      database: {
        connections: { a: v.connections },
        tableBytes: {},
        leases: 0,
        pending: 0,
        workersHoldingJobs: 0,
      },
    };
  });
}

Deno.test("memoryCheck() and connectionCheck() fail a steady rise after warm-up, not one before it", () => {
  const warm = samples((t) => ({ kib: t < 150 ? 1000 + 10 * t : 2500, connections: 10 }));
  assert.equal(memoryCheck(warm, 150).passed, true, memoryCheck(warm, 150).detail);
  assert.equal(connectionCheck(warm, 150).passed, true);
  const leaking = samples((t) => ({ kib: 1000 + t, connections: 10 + Math.floor(t / 60) }));
  const memory = memoryCheck(leaking, 150);
  assert.equal(memory.passed, false);
  assert.match(memory.detail, /over: functions: x \(pid 7\)/);
  assert.equal(connectionCheck(leaking, 150).passed, false);
});

Deno.test("memoryCheck() judges a service's whole tree, a lost service, and too few samples", () => {
  // Children that come and go (new pids), each a little bigger: only the service total shows it.
  const churn = samples(() => ({ kib: 1000, connections: 10 })).map((s, i) => ({
    ...s,
    processes: [
      s.processes[0]!,
      { ...s.processes[1]!, pid: 100 + i, kib: 1000 + 200 * i, deno: false, v8: undefined },
    ],
  }));
  const total = memoryCheck(churn, 150);
  assert.equal(total.passed, false);
  assert.match(total.detail, /over: functions \(all its processes\)/);
  // The service's own process replaced by another.
  const restarted = samples(() => ({ kib: 1000, connections: 10 })).map((s) =>
    s.at < 400 ? s : { ...s, processes: s.processes.map((p) => p.root ? { ...p, pid: 99 } : p) }
  );
  const lost = memoryCheck(restarted, 150);
  assert.equal(lost.passed, false);
  assert.match(lost.detail, /functions's process ended or changed/);
  // Too short a window proves nothing.
  const short = memoryCheck(samples(() => ({ kib: 1000, connections: 10 })), 500);
  assert.equal(short.passed, false);
  assert.match(short.detail, /fewer than 4/);
  assert.equal(connectionCheck(samples(() => ({ kib: 1, connections: 1 })), 500).passed, false);
});

Deno.test("memoryCheck() judges a Deno process on its live memory: V8 holding more is no rise, a leak is", () => {
  // V8 grows its heap and keeps the freed pages, native memory grows with the work: RssAnon
  // doubles while what is live after a full collection stays put.
  const v8 = (at: number, live: number) => ({ liveKib: live, heapKib: at < 300 ? 20_000 : 60_000 });
  const sized = samples(() => ({ kib: 1000, connections: 10 })).map((s) => ({
    ...s,
    processes: s.processes.map((p) =>
      p.pid === 7
        ? {
          ...p,
          deno: true,
          kib: 10_000 + 2 * s.at + v8(s.at, 0).heapKib,
          v8: v8(s.at, 12_000 + (s.at % 60)),
        }
        : p
    ),
  }));
  const check = memoryCheck(sized, 150);
  assert.equal(check.passed, true, check.detail);
  assert.match(check.detail, /functions: x \(pid 7\) live heap/);
  // Objects or buffers that stay reachable: the live memory after full collections rises.
  const leaking = sized.map((s) => ({
    ...s,
    processes: s.processes.map((p) => p.pid === 7 ? { ...p, v8: v8(s.at, 12_000 + 10 * s.at) } : p),
  }));
  const leak = memoryCheck(leaking, 150);
  assert.equal(leak.passed, false);
  assert.match(leak.detail, /over: functions: x \(pid 7\) live heap/);
  // A Deno process asked for its heap that did not answer fails the check, not judged otherwise.
  const silent = sized.map((s) => ({
    ...s,
    processes: s.processes.map((p) => p.pid === 7 && s.at === 300 ? { ...p, v8: undefined } : p),
  }));
  const missed = memoryCheck(silent, 150);
  assert.equal(missed.passed, false);
  assert.match(missed.detail, /functions: x \(pid 7\) did not report its heap at 1 samples/);
});

Deno.test("memoryCheck() fails a Deno process restarted after warm-up, and a run with no Deno figures", () => {
  const restarted = samples(() => ({ kib: 1000, connections: 10 })).map((s) => ({
    ...s,
    processes: s.processes.map((p) => p.pid === 8 && s.at >= 300 ? { ...p, started: 2 } : p),
  }));
  const check = memoryCheck(restarted, 150);
  assert.equal(check.passed, false);
  assert.match(check.detail, /functions: y \(pid 8\) ran 5 of 15 samples/);
  assert.match(check.detail, /functions: y \(pid 8\) ran 10 of 15 samples/);
  const unmeasured = samples(() => ({ kib: 1000, connections: 10 })).map((s) => ({
    ...s,
    processes: s.processes.map((p) => p.pid === 8 ? { ...p, v8: undefined } : p),
  }));
  const none = memoryCheck(unmeasured, 150);
  assert.equal(none.passed, false);
  assert.match(none.detail, /no Deno process reported its heap throughout/);
});

Deno.test("parseHeapReport() reads the hook's lines wherever they stand, and nothing else", () => {
  const report = {
    pid: 42,
    at: 1_000,
    heapTotal: 30 * 2 ** 20,
    heapUsed: 12 * 2 ** 20,
    external: 1,
  };
  assert.deepEqual(parseHeapReport(`${HEAP_REPORT} ${JSON.stringify(report)}`), report);
  assert.deepEqual(parseHeapReport(`[queue] ${HEAP_REPORT} ${JSON.stringify(report)}`), report);
  assert.deepEqual(parseHeapReport(`${HEAP_REPORT} {"pid":42,"armed":true}`), {
    pid: 42,
    armed: true,
  });
  assert.equal(parseHeapReport(`${HEAP_REPORT} {"pid":42,"at":1}`), undefined);
  assert.equal(parseHeapReport(`${HEAP_REPORT} {not json`), undefined);
  assert.equal(parseHeapReport("queue: listening on 127.0.0.1:8000"), undefined);
});

Deno.test("HeapReports follows the logs as they grow: who is armed, each one's report since a time", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const line = (pid: number, at: number, total: number, used: number) =>
      `${HEAP_REPORT} ${
        JSON.stringify({ pid, at, heapTotal: total * 1024, heapUsed: used * 1024, external: 1024 })
      }\n`;
    const armed = (pid: number) => `${HEAP_REPORT} ${JSON.stringify({ pid, armed: true })}\n`;
    Deno.writeTextFileSync(
      `${dir}/worker.log`,
      armed(Deno.pid) + line(7, 100, 30, 10) + "ready\n" + line(7, 200, 40, 12),
    );
    // The gateway repeats an instance's lines in its own log, after a prefix.
    Deno.writeTextFileSync(`${dir}/functions.log`, `[queue] ${line(8, 200, 20, 9)}`);
    Deno.writeTextFileSync(`${dir}/notes.txt`, armed(9) + line(9, 200, 1, 1));
    const reports = new HeapReports(dir);
    reports.read();
    assert.equal(reports.armed(Deno.pid), true);
    assert.equal(reports.armed(7), false, "never said it was armed");
    assert.deepEqual(reports.v8(7, 150), { liveKib: 13, heapKib: 40 }, "live: used + external");
    assert.deepEqual(reports.v8(8, 150), { liveKib: 10, heapKib: 20 });
    assert.equal(reports.v8(7, 250), undefined, "no report since it was asked");
    assert.equal(reports.v8(9, 0), undefined, "only .log files are read");
    assert.equal(reports.armed(9), false);
    const next = line(7, 300, 50, 11);
    Deno.writeTextFileSync(`${dir}/worker.log`, next.slice(0, 20), { append: true });
    reports.read();
    assert.equal(reports.v8(7, 250), undefined);
    Deno.writeTextFileSync(`${dir}/worker.log`, next.slice(20) + line(7, 250, 99, 99), {
      append: true,
    });
    reports.read();
    assert.deepEqual(
      reports.v8(7, 250),
      { liveKib: 12, heapKib: 50 },
      "the latest, read in any order",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("HeapReports.collect() signals armed Deno processes and returns what they hold after a full collection", async () => {
  const dir = Deno.makeTempDirSync();
  const program = join(dir, "program.ts");
  // 50 MiB of garbage that no collection has freed yet: a report without gc() would count it.
  Deno.writeTextFileSync(
    program,
    "let junk: unknown[] | undefined = Array.from({ length: 400_000 }, (_, i) => ({ i, s: 'x'.repeat(100) + i }));\n" +
      "junk = undefined; setInterval(() => {}, 1_000);",
  );
  const service = spawnService("program", Deno.execPath(), {
    // The hook reads /proc/self/stat: every process the soak starts may read.
    args: ["run", "--allow-read", ...heapHookFlags(projectRoot), program],
    logDir: dir,
  });
  try {
    const reports = new HeapReports(dir);
    // Only a process whose armed line was read is signalled (a SIGUSR2 before it would kill it).
    const unread = await new HeapReports(Deno.makeTempDirSync({ dir })).collect(0);
    assert.deepEqual(unread.asked, []);
    for (let i = 0; i < 100 && !reports.armed(service.pid); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      reports.read();
    }
    const { asked, reports: got } = await reports.collect();
    assert.deepEqual(asked, [service.pid]);
    const v8 = got.get(service.pid);
    assert.ok(v8 && v8.liveKib > 0 && v8.liveKib < 20 * 1024, `live ${v8?.liveKib} KiB`);
    const [sampled] = sampleProcesses([{ service: "program", pid: service.pid }]);
    assert.equal(sampled?.deno, true);
    await service.stop();
    // Its pid may come back as another process's, which must not be signalled before its hook.
    assert.equal(reports.armed(service.pid), false, "armed no more once it ended");
    assert.deepEqual((await reports.collect(0)).asked, []);
  } finally {
    await service.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("jobCheck() passes only when every accepted job ended once, with its mode's ending", () => {
  const accepted = [{ id: "1", mode: "ok" as const }, { id: "2", mode: "poison" as const }];
  const good = [
    { id: "1", status: "completed", endings: ["completed"] },
    { id: "2", status: "failed", endings: ["dead_lettered"] },
  ];
  assert.equal(jobCheck(accepted, good).passed, true);
  const missing = jobCheck(accepted, [good[0]!]);
  assert.match(missing.detail, /2 \(poison\) is missing/);
  const pending = jobCheck(accepted, [good[0]!, { ...good[1]!, status: "pending" }]);
  assert.match(pending.detail, /is pending, not failed/);
  const twice = jobCheck(accepted, [
    { ...good[0]!, endings: ["completed", "completed"] },
    good[1]!,
  ]);
  assert.equal(twice.passed, false);
  assert.match(twice.detail, /ended completed, completed, not completed once/);
  const wrongWay = jobCheck(accepted, [good[0]!, { ...good[1]!, endings: ["failed"] }]);
  assert.match(
    wrongWay.detail,
    /ended failed, not dead_lettered once/,
    "a poison job must reach the DLQ",
  );
  assert.equal(jobCheck([], []).passed, false, "a soak that accepted nothing proves nothing");
});

Deno.test("leaseCheck() fails on a stale recovery or a lease held after the drain", () => {
  assert.equal(leaseCheck({ inProgress: 0, workersHoldingJobs: 0, recovered: 0 }).passed, true);
  assert.equal(leaseCheck({ inProgress: 1, workersHoldingJobs: 0, recovered: 0 }).passed, false);
  assert.equal(leaseCheck({ inProgress: 0, workersHoldingJobs: 1, recovered: 0 }).passed, false);
  assert.equal(leaseCheck({ inProgress: 0, workersHoldingJobs: 0, recovered: 1 }).passed, false);
});

Deno.test("alertCheck() wants each alert delivered and taken by Slack once, each scripted failure met", () => {
  const alerts = [{ id: 1, kind: "dlq_triggered", delivered: true, tries: 3, text: "A" }];
  const posts = [{ status: 429, text: "A" }, { status: 500, text: "A" }, {
    status: 200,
    text: "A",
  }];
  const ok = alertCheck(alerts, posts, 1, [429, 500]);
  assert.equal(ok.passed, true, ok.detail);
  assert.match(ok.detail, /2 answered 429\/500 and tried again/);
  const twice = alertCheck(alerts, [...posts, { status: 200, text: "A" }], 1, [429, 500]);
  assert.match(twice.detail, /reached Slack 2 times/);
  const undelivered = alertCheck([{ ...alerts[0]!, delivered: false }], posts, 1, [429, 500]);
  assert.equal(undelivered.passed, false);
  assert.match(undelivered.detail, /alert 1 \(dlq_triggered\) not delivered/);
  const unmet = alertCheck(alerts, [posts[0]!, posts[2]!], 1, [429, 500]);
  assert.match(unmet.detail, /Slack never answered 500/);
  assert.match(alertCheck([], [], 1, []).detail, /no alert for the dead letters/);
});

Deno.test("answerCheck() wants enqueues 202 or 429 and reads 200, every request answered", () => {
  const record = (statuses: [string, number][], unanswered = 0): LoadRecord => ({
    statuses: new Map(statuses.map(([k, s]) => [k, new Map([[s, 3]])])),
    latencies: new Map(),
    accepted: [],
    unanswered: new Map(unanswered ? [["GET /health", unanswered]] : []),
    slackFaults: [],
  });
  assert.equal(answerCheck(record([["POST /queue", 202], ["POST /queue bulk", 429]])).passed, true);
  assert.match(answerCheck(record([["GET /health", 503]])).detail, /GET \/health: 3 × 503/);
  assert.equal(answerCheck(record([["GET console-api/jobs", 401]])).passed, false);
  assert.equal(answerCheck(record([["GET /health", 429]])).passed, false);
  assert.match(answerCheck(record([["GET /health", 200]], 1)).detail, /1 unanswered/);
});

Deno.test("labelOf() names a process by the last script it runs, or by Postgres' own title", () => {
  assert.equal(
    labelOf(
      "/usr/bin/deno\0run\0-A\0/w/scripts/stack/function_worker.ts\0/w/supabase/functions/queue/index.ts\0",
      "/w",
    ),
    "supabase/functions/queue/index.ts",
  );
  assert.equal(
    labelOf("/usr/bin/deno\0run\0/w/scripts/soak/worker.ts\0", "/w"),
    "scripts/soak/worker.ts",
  );
  assert.equal(
    labelOf("postgres: postgres postgres 127.0.0.1(5432) idle\0"),
    "postgres: postgres postgres 127.0.0.1(5432) idle",
  );
  assert.equal(labelOf("/usr/lib/postgresql/15/bin/postgres\0-D\0/x\0"), "postgres");
});

Deno.test("sampleProcesses() takes a service's whole process tree, each process with its memory and start", async () => {
  const shell = new Deno.Command("sh", { args: ["-c", "sleep 2 & sleep 2; wait"] }).spawn();
  try {
    let tree: ReturnType<typeof sampleProcesses> = [];
    for (let i = 0; i < 50 && tree.length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      tree = sampleProcesses([{ service: "shell", pid: shell.pid }]);
    }
    assert.deepEqual(tree.map((p) => [p.label, p.root]), [["sh", true], ["sleep", false], [
      "sleep",
      false,
    ]]);
    for (const p of tree) {
      assert.ok(p.started > 0 && p.kib > 0 && !p.deno && p.service === "shell", p.label);
    }
  } finally {
    shell.kill();
    await shell.status;
  }
});

Deno.test("soakMarkdown() shows every check, the charts, the answers and the tables that changed", () => {
  const process = (service: string, pid: number, kib: number, v8?: number) => ({
    pid,
    service,
    label: "x",
    root: true,
    started: 1,
    kib,
    rssKib: kib,
    deno: v8 !== undefined,
    ...v8 ? { v8: { liveKib: v8, heapKib: 2 * v8 } } : {},
  });
  const at = (t: number, jobs: number): Sample => ({
    at: t,
    processes: [
      process("postgres", 1, 4096),
      process("worker", 2, 40_960 + t * 10_240 / 180, 10_240),
      // A process that missed its report at the end: its service's figures are unknown there.
      { ...process("functions", 3, 30_720, 5_120), ...t === 180 ? { v8: undefined } : {} },
    ],
    database: {
      connections: { a: 3 },
      tableBytes: { "public.jobs": jobs, "private.settings": 32768 },
      leases: 1,
      pending: 2,
      workersHoldingJobs: 0,
    },
  });
  const markdown = soakMarkdown({
    minutes: 3,
    loadSeconds: 180,
    warmUpSeconds: 60,
    drainSeconds: 70,
    workers: { processes: 2, concurrency: 10 },
    customers: 6,
    samples: [at(0, 8192), at(60, 8192), at(180, 65536)],
    record: {
      statuses: new Map([["GET /health", new Map([[200, 2]])]]),
      latencies: new Map([["GET /health", [5, 7]]]),
      accepted: [{ id: "1", mode: "ok" }],
      unanswered: new Map(),
      slackFaults: [429, 500],
    },
    checks: [
      { name: "a", passed: true, detail: "x | y" },
      { name: "b", passed: false, detail: "z" },
    ],
    date: "2026-11-30",
  }, [{ file: "soak-memory.svg", title: "Memory" }]);
  assert.match(markdown, /\*\*1 passed, 1 failed\*\*/);
  assert.ok(markdown.includes("| a | passed | x \\| y |"), "a pipe in a detail is escaped");
  assert.ok(markdown.includes("| b | **FAILED** | z |"));
  assert.ok(markdown.includes("![Memory](reliability/soak-memory.svg)"));
  assert.ok(markdown.includes("| GET /health | 2 × 200 | 5.0 / 7.0 ms |"));
  assert.ok(markdown.includes("| public.jobs | 8 KiB | 64 KiB |"));
  assert.ok(!markdown.includes("private.settings"), "a table the run did not write is left out");
  assert.ok(markdown.includes("Slack scripted to answer 429, 500"));
  assert.ok(
    markdown.includes("| worker | 43.3 → 50.0 | 20.0 → 20.0 | 10.0 → 10.0 | 23.3 → 30.0 |"),
  );
  assert.ok(markdown.includes("| functions | - | - | - | - |"));
  assert.ok(!markdown.includes("| postgres |"), "only Deno services have V8 figures");
});
