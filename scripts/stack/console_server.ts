/**
 * Serves the operator console (console/) on 127.0.0.1, as `supabase start` serves Studio: its
 * static files with a strict Content-Security-Policy, and a config.json naming the API it talks
 * to. Used by the local stack (its own port, CONSOLE_URL) and by `deno task console` (a hosted
 * project, so an operator needs no web host).
 *
 * Usage: deno run -A scripts/stack/console_server.ts <port>   (config in CONSOLE_CONFIG, JSON)
 */
import { extname, join, normalize } from "node:path";
import { CONSOLE_DIR, vendorConsole } from "../console_vendor.ts";
import { onParentGone } from "./process.ts";

export interface ConsoleConfig {
  /** The project's URL: console-api is at <apiUrl>/functions/v1/console-api. */
  apiUrl: string;
  anonKey: string;
  /** "token": the stack's minted sign-in links; "email": Supabase Auth's one-time code. */
  signIn: "token" | "email";
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".md": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

/** The page may run only its own scripts and talk only to itself and the project. */
export function contentSecurityPolicy(apiUrl: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${new URL(apiUrl).origin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export function consoleHandler(
  config: ConsoleConfig,
  dir: string = CONSOLE_DIR,
): (req: Request) => Promise<Response> {
  const security = {
    "content-security-policy": contentSecurityPolicy(config.apiUrl),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
  };
  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed", { status: 405, headers: security });
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url).pathname);
    } catch {
      return new Response("Bad request", { status: 400, headers: security });
    }
    if (path === "/config.json") return Response.json(config, { headers: security });
    const file = normalize(join(dir, path.endsWith("/") ? `${path}index.html` : path));
    const type = TYPES[extname(file)];
    if (!file.startsWith(dir + "/") || !type) {
      return new Response("Not found", { status: 404, headers: security });
    }
    try {
      const body = await Deno.readFile(file);
      return new Response(req.method === "HEAD" ? null : body, {
        headers: { ...security, "content-type": type },
      });
    } catch {
      return new Response("Not found", { status: 404, headers: security });
    }
  };
}

/** Vendors the libraries if needed and serves until the returned server is shut down. */
export async function serveConsole(
  port: number,
  config: ConsoleConfig,
  onListen: (url: string) => void = () => {},
): Promise<Deno.HttpServer> {
  await vendorConsole();
  return Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => onListen(`http://127.0.0.1:${port}`) },
    consoleHandler(config),
  );
}

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  const config = JSON.parse(Deno.env.get("CONSOLE_CONFIG") ?? "null") as ConsoleConfig | null;
  if (!Number.isInteger(port) || !config?.apiUrl) {
    throw new Error("Cannot start the console: usage: console_server.ts <port> (CONSOLE_CONFIG)");
  }
  const server = await serveConsole(port, config, (url) => console.log(`console on ${url}`));
  onParentGone(() => server.shutdown());
}
