/**
 * The local stand-in for Supabase's functions gateway (its own `functions serve` needs Docker).
 * Serves http://127.0.0.1:<port>/functions/v1/<slug>/... like hosted Supabase does:
 * - finds supabase/functions/<slug>/index.ts on each request, so a new function needs no restart;
 * - honours `[functions.<slug>] verify_jwt` from supabase/config.toml (default true): HS256
 *   tokens are checked against the stack's JWT secret, ES256 ones against its signing key;
 * - publishes that signing key's public half at /auth/v1/.well-known/jwks.json, the one Auth
 *   endpoint functions use (to verify asymmetric tokens), as hosted Supabase Auth does;
 * - runs each function in its own Deno process (function_worker.ts) with the env vars hosted
 *   Supabase injects plus supabase/functions/.env, and only net/env/read/sys permissions (no writes, no subprocesses);
 * - runs `instances` processes of each function (default 1) and spreads requests over them in
 *   turn, as hosted Supabase scales a busy function out (each instance has its own memory:
 *   pools, caches, the rate limiter's fallback);
 * - passes the request through with the path the function sees when hosted (/<slug>/...), and
 *   the caller's address appended to X-Forwarded-For, as a proxy does.
 *
 * Usage: FUNCTIONS_GATEWAY_CONFIG='<json GatewayConfig>' deno run -A functions_server.ts
 */
import { createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify } from "jose";
import { parse as parseToml } from "smol-toml";
import { parse as parseDotenv } from "dotenv";
import { join } from "node:path";
import { errorResponse } from "../../supabase/functions/_shared/errors.ts";
import { onParentGone, type Service, spawnService } from "./process.ts";
import { READY_PREFIX } from "./function_worker.ts";

export interface GatewayConfig {
  port: number;
  functionsDir: string;
  configToml: string;
  jwtSecret: string;
  /** Public signing keys (ES256) the gateway publishes and accepts. */
  jwks: JWK[];
  /** Env vars every function gets (hosted's SUPABASE_* and the stack's defaults). */
  env: Record<string, string>;
  logDir: string;
  /** Processes per function; requests go to each in turn. */
  instances?: number;
  /** More `deno run` flags for the instances (the soak's heap hook). */
  denoFlags?: string[];
}

interface Worker {
  service: Service;
  port: number;
}

const SLUG = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "upgrade", "host"];
const WORKER_BOOT_MS = 30_000;
export const JWKS_PATH = "/auth/v1/.well-known/jwks.json";

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const parsed = new Map<
  string,
  { mtime: number; functions: Record<string, { verify_jwt?: boolean }> }
>();

/**
 * verify_jwt for a slug, from config.toml; Supabase's default is true. The file is parsed again
 * only when it changes, not on every request.
 */
export function verifyJwtSetting(configToml: string, slug: string): boolean {
  let mtime = -1;
  try {
    mtime = Deno.statSync(configToml).mtime?.getTime() ?? 0;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  let cached = parsed.get(configToml);
  if (!cached || cached.mtime !== mtime) {
    const config = mtime < 0 ? {} : parseToml(Deno.readTextFileSync(configToml));
    cached = {
      mtime,
      functions: (config.functions ?? {}) as Record<string, { verify_jwt?: boolean }>,
    };
    parsed.set(configToml, cached);
  }
  return cached.functions[slug]?.verify_jwt ?? true;
}

/** Hosted injects SUPABASE_* last, so .env can't override them. */
function functionEnv(config: GatewayConfig): Record<string, string> {
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseDotenv(Deno.readTextFileSync(join(config.functionsDir, ".env")));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const reserved = Object.fromEntries(
    Object.entries(config.env).filter(([key]) => key.startsWith("SUPABASE_")),
  );
  const runtime: Record<string, string> = {};
  for (const key of ["HOME", "PATH", "DENO_DIR"]) {
    const value = Deno.env.get(key);
    if (value) runtime[key] = value;
  }
  return { ...runtime, ...config.env, ...fromFile, ...reserved };
}

export interface Gateway {
  handle(req: Request, remoteAddr: string): Promise<Response>;
  /** Boots every instance of a function now rather than on its first request. */
  prestart(slug: string): Promise<void>;
  /** The process ids of a function's running instances (a fault test kills one). */
  pids(slug: string): number[];
  close(): Promise<void>;
}

export function createGateway(config: GatewayConfig): Gateway {
  const instances = Math.max(1, config.instances ?? 1);
  // Per function: one slot per instance (a booting or running process), and whose turn it is.
  const pools = new Map<string, { slots: (Promise<Worker> | undefined)[]; next: number }>();
  /** Running instances' pids, by function. */
  const running = new Map<string, Set<number>>();
  const secret = new TextEncoder().encode(config.jwtSecret);
  const signingKeys = createLocalJWKSet({ keys: config.jwks ?? [] });
  let closing = false;

  function startWorker(slug: string, entry: string, index: number): Promise<Worker> {
    const slots = pools.get(slug)!.slots;
    const name = `function-${slug}${index === 0 ? "" : `-${index + 1}`}`;
    return new Promise<Worker>((resolve, reject) => {
      let ready = false;
      const service = spawnService(name, Deno.execPath(), {
        args: [
          "run",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          "--allow-sys",
          "--no-prompt",
          ...config.denoFlags ?? [],
          join(import.meta.dirname!, "function_worker.ts"),
          entry,
        ],
        env: functionEnv(config),
        clearEnv: true,
        logDir: config.logDir,
        onLine: (line) => {
          if (!ready && line.startsWith(READY_PREFIX)) {
            ready = true;
            if (!running.has(slug)) running.set(slug, new Set());
            running.get(slug)!.add(service.pid);
            resolve({ service, port: Number(line.slice(READY_PREFIX.length + 1)) });
          } else {
            console.log(`[${slug}] ${line}`);
          }
        },
      });
      const timer = setTimeout(() => {
        if (!ready) {
          reject(new Error(`did not call Deno.serve() within ${WORKER_BOOT_MS} ms`));
          void service.stop("SIGKILL");
        }
      }, WORKER_BOOT_MS);
      service.exited.then((code) => {
        clearTimeout(timer);
        running.get(slug)?.delete(service.pid);
        slots[index] = undefined;
        if (!ready) reject(new Error(`exited with code ${code} before serving`));
        else if (!closing) console.log(`[${slug}] worker exited with code ${code}`);
      });
      void timer;
    });
  }

  function slot(slug: string, entry: string, index: number): Promise<Worker> {
    const slots = pools.get(slug)!.slots;
    let pending = slots[index];
    if (!pending) {
      pending = startWorker(slug, entry, index);
      pending.catch(() => (slots[index] = undefined));
      slots[index] = pending;
    }
    return pending;
  }

  /** The next instance of the function, in turn. */
  function worker(slug: string, entry: string): Promise<Worker> {
    let pool = pools.get(slug);
    if (!pool) {
      pool = { slots: Array(instances).fill(undefined), next: 0 };
      pools.set(slug, pool);
    }
    const index = pool.next;
    pool.next = (pool.next + 1) % instances;
    return slot(slug, entry, index);
  }

  async function prestart(slug: string): Promise<void> {
    const entry = join(config.functionsDir, slug, "index.ts");
    await Promise.all(Array.from({ length: instances }, () => worker(slug, entry)));
  }

  async function authorized(req: Request): Promise<boolean> {
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
    if (!match?.[1]) return false;
    try {
      if (decodeProtectedHeader(match[1]).alg === "HS256") {
        await jwtVerify(match[1], secret, { algorithms: ["HS256"] });
      } else {
        await jwtVerify(match[1], signingKeys, { algorithms: ["ES256"] });
      }
      return true;
    } catch {
      return false;
    }
  }

  async function handle(req: Request, remoteAddr: string): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === JWKS_PATH && (req.method === "GET" || req.method === "HEAD")) {
      return Response.json({ keys: config.jwks ?? [] }, {
        headers: { "cache-control": "public, max-age=600" },
      });
    }
    const match = /^\/functions\/v1\/([^/]+)(\/.*)?$/.exec(url.pathname);
    const slug = match?.[1];
    if (!slug || !SLUG.test(slug)) {
      return errorResponse(404, "not_found", "Use /functions/v1/<function-name>.");
    }
    const entry = join(config.functionsDir, slug, "index.ts");
    if (!fileExists(entry)) {
      return errorResponse(404, "function_not_found", `Function '${slug}' does not exist.`);
    }
    if (verifyJwtSetting(config.configToml, slug) && !(await authorized(req))) {
      return errorResponse(
        401,
        "invalid_jwt",
        "Missing or invalid JWT in the Authorization header.",
      );
    }
    let target: Worker;
    try {
      target = await worker(slug, entry);
    } catch (error) {
      console.error(`[${slug}] boot failed: ${error instanceof Error ? error.message : error}`);
      return errorResponse(503, "function_boot_error", `Function '${slug}' failed to start.`);
    }
    const headers = new Headers(req.headers);
    for (const name of HOP_BY_HOP) headers.delete(name);
    const forwarded = req.headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", forwarded ? `${forwarded}, ${remoteAddr}` : remoteAddr);
    try {
      return await fetch(`http://127.0.0.1:${target.port}/${slug}${match[2] ?? ""}${url.search}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
      });
    } catch (error) {
      console.error(`[${slug}] request failed: ${error instanceof Error ? error.message : error}`);
      return errorResponse(502, "function_unavailable", `Function '${slug}' did not answer.`);
    }
  }

  async function close(): Promise<void> {
    closing = true;
    const booting = [...pools.values()].flatMap((p) => p.slots.filter((s) => s !== undefined));
    const running = await Promise.allSettled(booting);
    await Promise.all(
      running.flatMap((r) => r.status === "fulfilled" ? [r.value.service.stop()] : []),
    );
  }

  return { handle, prestart, pids: (slug) => [...running.get(slug) ?? []], close };
}

/** The gateway on 127.0.0.1 (port 0: any free port), logging one line per request by default. */
export function serveGateway(
  config: GatewayConfig,
  options: { logRequests?: boolean } = {},
): { gateway: Gateway; server: Deno.HttpServer<Deno.NetAddr>; close(): Promise<void> } {
  const gateway = createGateway(config);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: config.port,
    onListen: () => {},
  }, async (req, info) => {
    const started = performance.now();
    const res = await gateway.handle(req, info.remoteAddr.hostname);
    if (options.logRequests ?? true) {
      const ms = (performance.now() - started).toFixed(1);
      console.log(`${req.method} ${new URL(req.url).pathname} ${res.status} ${ms}ms`);
    }
    return res;
  });
  return {
    gateway,
    server,
    async close() {
      await gateway.close();
      await server.shutdown();
    },
  };
}

if (import.meta.main) {
  const raw = Deno.env.get("FUNCTIONS_GATEWAY_CONFIG");
  if (!raw) throw new Error("Cannot start functions gateway: FUNCTIONS_GATEWAY_CONFIG is not set");
  const config = JSON.parse(raw) as GatewayConfig;
  const served = serveGateway(config);
  console.log(`functions gateway on ${config.port}, ${config.instances ?? 1} instance(s) each`);
  onParentGone(served.close);
}
