/**
 * Child processes of the local stack. Each service runs as its own process (so a fault test can
 * stop one), writes its output to a log file in the stack's folder, and is recorded by pid so
 * `deno task stop` can end it even if the supervisor is gone.
 */
import { join } from "node:path";

export interface Service {
  name: string;
  pid: number;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number>;
  stop(signal?: Deno.Signal): Promise<void>;
}

export interface SpawnOptions {
  args: string[];
  env?: Record<string, string>;
  /** Start from an empty environment instead of inheriting ours. */
  clearEnv?: boolean;
  logDir: string;
  /** Signal that ends the process cleanly (postgres: SIGINT for a fast shutdown). */
  stopSignal?: Deno.Signal;
  /** Called with each line the process writes, besides the log file. */
  onLine?: (line: string) => void;
}

/**
 * Starts `command` with stdin held open as a lifeline: our Deno services exit when it closes,
 * so a supervisor that dies without cleaning up still leaves nothing behind.
 */
export function spawnService(name: string, command: string, opts: SpawnOptions): Service {
  const child = new Deno.Command(command, {
    args: opts.args,
    env: opts.env,
    clearEnv: opts.clearEnv ?? false,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log = Deno.openSync(join(opts.logDir, `${name}.log`), {
    append: true,
    create: true,
  });
  const pumps = [child.stdout, child.stderr].map((stream) => pumpLines(stream, log, opts.onLine));
  const exited = (async () => {
    const status = await child.status;
    await Promise.allSettled(pumps);
    log.close();
    return status.code;
  })();
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid: child.pid,
    exited,
    stop(signal = opts.stopSignal ?? "SIGTERM") {
      stopping ??= (async () => {
        try {
          child.kill(signal);
        } catch {
          // Already gone.
        }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // Already gone.
          }
        }, 30_000);
        await exited;
        clearTimeout(timer);
        try {
          await child.stdin.close();
        } catch {
          // The pipe closes with the process.
        }
      })();
      return stopping;
    },
  };
}

async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  log: Deno.FsFile,
  onLine?: (line: string) => void,
): Promise<void> {
  const encoder = new TextEncoder();
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      log.writeSync(encoder.encode(line + "\n"));
      onLine?.(line);
    }
  }
  if (pending) {
    log.writeSync(encoder.encode(pending + "\n"));
    onLine?.(pending);
  }
}

/** Polls `probe` until it returns true, or fails with `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : "";
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function portOpen(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/**
 * For a Deno service started by spawnService: run `shutdown` when the parent closes our stdin
 * (it stopped or died) or sends SIGTERM/SIGINT.
 */
export function onParentGone(shutdown: () => Promise<void> | void): void {
  let done = false;
  const finish = async () => {
    if (done) return;
    done = true;
    try {
      await shutdown();
    } finally {
      Deno.exit(0);
    }
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, finish);
  (async () => {
    const buffer = new Uint8Array(64);
    while ((await Deno.stdin.read(buffer)) !== null) {
      // The parent never writes; we only wait for end of file.
    }
    await finish();
  })();
}
