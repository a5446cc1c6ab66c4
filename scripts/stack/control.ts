/**
 * The test runner's control endpoint, so a fault test can stop one service of the running test
 * stack and start it again: POST /services/<name>/stop, POST /services/<name>/start,
 * GET /services. Loopback only; it exists only while `deno task test` runs.
 */
import type { Stack } from "./stack.ts";

export function controlHandler(stack: Stack): (req: Request) => Promise<Response> {
  return async (req) => {
    const { pathname } = new URL(req.url);
    if (req.method === "GET" && pathname === "/services") {
      return Response.json(stack.services.map((s) => ({ name: s.name, pid: s.pid })));
    }
    const match = /^\/services\/([a-z0-9-]+)\/(stop|start)$/.exec(pathname);
    if (req.method !== "POST" || !match) return new Response("not found", { status: 404 });
    const [, name, action] = match;
    try {
      if (action === "stop") await stack.stopService(name!);
      else await stack.startService(name!);
      return Response.json({ name, action, done: true });
    } catch (error) {
      return Response.json({ error: error instanceof Error ? error.message : String(error) }, {
        status: 500,
      });
    }
  };
}
