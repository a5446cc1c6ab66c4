/**
 * `deno task console --env-file F [--port 54323]`: serves the operator console on 127.0.0.1
 * against a hosted project, so an operator needs no web host. From F it reads only the project's
 * URL (SUPABASE_URL, or https://<SUPABASE_PROJECT_REF>.supabase.co) and its public anon key
 * (SUPABASE_ANON_KEY); no other setting reaches the page. Sign-in is Supabase Auth's email code.
 * The project's console-api must allow this origin: CONSOLE_ALLOWED_ORIGINS=http://127.0.0.1:<port>.
 */
import { parse as parseDotenv } from "dotenv";
import { type ConsoleConfig, serveConsole } from "./stack/console_server.ts";

export const USAGE = "Usage: deno task console --env-file <file> [--port 54323]";

export function consoleSettings(
  args: string[],
  readFile: (path: string) => string = Deno.readTextFileSync,
): { port: number; config: ConsoleConfig } {
  let file: string | undefined;
  let port = 54323;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--env-file") file = args[++i];
    else if (args[i] === "--port") {
      port = Number(args[++i]);
      if (!Number.isInteger(port) || port < 1024 || port > 65535) {
        throw new Error(`--port must be 1024 to 65535, got '${args[i] ?? ""}'`);
      }
    } else throw new Error(`Unknown argument '${args[i]}'. ${USAGE}`);
  }
  if (!file) throw new Error(USAGE);
  const env = parseDotenv(readFile(file));
  const ref = env.SUPABASE_PROJECT_REF?.trim();
  const apiUrl = env.SUPABASE_URL?.trim() || (ref ? `https://${ref}.supabase.co` : "");
  if (!/^https?:\/\/[^/]+/.test(apiUrl)) {
    throw new Error(`${file} names no project: set SUPABASE_URL or SUPABASE_PROJECT_REF`);
  }
  const anonKey = env.SUPABASE_ANON_KEY?.trim();
  if (!anonKey) {
    throw new Error(
      `${file} has no SUPABASE_ANON_KEY (the project's public anon or publishable key, ` +
        "Project Settings > API Keys): sign-in needs it",
    );
  }
  return { port, config: { apiUrl: apiUrl.replace(/\/$/, ""), anonKey, signIn: "email" } };
}

if (import.meta.main) {
  let settings;
  try {
    settings = consoleSettings(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const { port, config } = settings;
  const server = await serveConsole(port, config, (url) => {
    console.log(`Operator console for ${config.apiUrl} on ${url}`);
    console.log(`The project's console-api must allow it: CONSOLE_ALLOWED_ORIGINS=${url}`);
    console.log("Press Ctrl-C to stop.");
  });
  const stop = () => server.shutdown().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
