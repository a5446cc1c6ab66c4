/**
 * The soak's view of V8 in each Deno process it starts. Every one runs with a preloaded hook
 * (heap_hook.ts) that says when it is armed and answers SIGUSR2 with a full collection and a
 * report line in its log. Before each sample the soak signals the armed processes and reads their
 * reports back from the logs. Why memory is judged on those reports: checks.ts, judgedKib().
 */
import { join } from "node:path";
import { procStat } from "../proc.ts";

/** Starts every line the hook prints. */
export const HEAP_REPORT = "[soak-heap]";

/**
 * When a process started, in clock ticks since boot (/proc/<pid>/stat, field 22): with the pid it
 * names one process, though pids are reused (pid_max is 32,768 here).
 */
export function procStart(pid: number): number | undefined {
  const start = procStat(pid)?.[19];
  return start === undefined ? undefined : Number(start);
}

/** Flags for every Deno process the soak starts: gc() exposed, and the hook preloaded. */
export function heapHookFlags(root: string): string[] {
  return ["--v8-flags=--expose-gc", "--preload", join(root, "scripts", "soak", "heap_hook.ts")];
}

/** What V8 held in a process right after a full collection, in KiB. */
export interface V8Memory {
  /** Still reachable: heap objects and the buffers they hold (heapUsed + external). */
  liveKib: number;
  /** Held for the heap, used or not (heapTotal). */
  heapKib: number;
}

export interface HeapReport {
  pid: number;
  /** When it was made, in ms since the epoch. */
  at: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

/** The hook's line, anywhere in a log line (the gateway prefixes its instances' lines). */
export function parseHeapReport(
  line: string,
): HeapReport | { pid: number; armed: true } | undefined {
  const start = line.indexOf(HEAP_REPORT);
  if (start < 0) return undefined;
  try {
    const value = JSON.parse(line.slice(start + HEAP_REPORT.length));
    if (!Number.isInteger(value?.pid)) return undefined;
    if (value.armed === true) return { pid: value.pid, armed: true };
    const numbers = ["at", "heapTotal", "heapUsed", "external"].every((k) =>
      Number.isFinite(value[k])
    );
    return numbers ? value as HeapReport : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows every `.log` in a folder for the hook's lines: which processes are armed, and each one's
 * latest report. A line may be read twice (the gateway repeats its instances' lines in its own
 * log); the latest report wins.
 */
export class HeapReports {
  #offsets = new Map<string, number>();
  #partial = new Map<string, string>();
  #decoders = new Map<string, TextDecoder>();
  /** Armed pids, with when the armed process started. */
  #armed = new Map<number, number>();
  #latest = new Map<number, HeapReport>();

  constructor(readonly dir: string) {}

  /** Reads what the logs gained since the last call. */
  read(): void {
    for (const entry of Deno.readDirSync(this.dir)) {
      if (!entry.isFile || !entry.name.endsWith(".log")) continue;
      const path = join(this.dir, entry.name);
      const text = this.#newText(path);
      if (!text) continue;
      const lines = ((this.#partial.get(path) ?? "") + text).split("\n");
      this.#partial.set(path, lines.pop()!);
      for (const line of lines) this.add(line);
    }
  }

  add(line: string): void {
    const parsed = parseHeapReport(line);
    if (!parsed) return;
    if ("armed" in parsed) {
      // Which process said it: the one holding the pid as the line is read, at most a sample
      // after it was written. (The hook cannot read its own /proc entry without --allow-all.)
      const started = procStart(parsed.pid);
      if (started !== undefined) this.#armed.set(parsed.pid, started);
      return;
    }
    const seen = this.#latest.get(parsed.pid);
    if (!seen || parsed.at >= seen.at) this.#latest.set(parsed.pid, parsed);
  }

  /** Whether the process now holding `pid` said it is armed (not an earlier one with that pid). */
  armed(pid: number): boolean {
    const started = this.#armed.get(pid);
    return started !== undefined && started === procStart(pid);
  }

  /** What the process reported at `since` (ms since the epoch) or later, or undefined. */
  v8(pid: number, since: number): V8Memory | undefined {
    const report = this.#latest.get(pid);
    if (!report || report.at < since) return undefined;
    return {
      liveKib: Math.round((report.heapUsed + report.external) / 1024),
      heapKib: Math.round(report.heapTotal / 1024),
    };
  }

  /**
   * Signals every process that said it is armed (one still booting is left alone) and waits until
   * each has reported, at most `timeoutMs`. Returns the pids asked and what each reported.
   */
  async collect(timeoutMs = 5_000): Promise<{ asked: number[]; reports: Map<number, V8Memory> }> {
    this.read();
    const since = Date.now();
    const asked = [...this.#armed.keys()].filter((pid) => {
      if (!this.armed(pid)) {
        this.#armed.delete(pid); // ended: its pid may come back as another process's
        return false;
      }
      try {
        Deno.kill(pid, "SIGUSR2");
        return true;
      } catch {
        return false; // ended meanwhile: it is not sampled either
      }
    });
    const reports = new Map<number, V8Memory>();
    while (true) {
      this.read();
      for (const pid of asked) {
        const v8 = this.v8(pid, since);
        if (v8) reports.set(pid, v8);
      }
      if (reports.size === asked.length || Date.now() - since >= timeoutMs) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { asked, reports };
  }

  #newText(path: string): string {
    const offset = this.#offsets.get(path) ?? 0;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path);
    } catch {
      return "";
    }
    try {
      const size = file.statSync().size;
      if (size <= offset) return "";
      file.seekSync(offset, Deno.SeekMode.Start);
      const bytes = new Uint8Array(size - offset);
      let read = 0;
      while (read < bytes.length) {
        const n = file.readSync(bytes.subarray(read));
        if (n === null) break;
        read += n;
      }
      this.#offsets.set(path, offset + read);
      if (!this.#decoders.has(path)) this.#decoders.set(path, new TextDecoder());
      return this.#decoders.get(path)!.decode(bytes.subarray(0, read), { stream: true });
    } finally {
      file.close();
    }
  }
}
