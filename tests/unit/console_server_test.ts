/**
 * The console's static server and `deno task console`'s settings: the strict CSP on every
 * answer, config.json from the settings (and nothing else), no file outside console/, and the
 * env file read for the project's URL and public key only.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { consoleHandler, contentSecurityPolicy } from "../../scripts/stack/console_server.ts";
import { consoleSettings } from "../../scripts/console.ts";

const config = {
  apiUrl: "http://127.0.0.1:54321",
  anonKey: "anon-key",
  signIn: "token" as const,
};

/** A console folder (`<tmp>/console`) beside a file it must never serve (`<tmp>/outside.txt`). */
function folder(): string {
  const parent = Deno.makeTempDirSync();
  Deno.writeTextFileSync(join(parent, "outside.txt"), "not the console's");
  const dir = join(parent, "console");
  Deno.mkdirSync(dir);
  Deno.writeTextFileSync(join(dir, "index.html"), "<!doctype html><p>console</p>");
  Deno.writeTextFileSync(join(dir, "app.js"), "export {};");
  Deno.writeTextFileSync(join(dir, "secret.env"), "KEY=1");
  return dir;
}

Deno.test("console server: files with their types and a strict CSP naming only the API", async () => {
  const dir = folder();
  const serve = consoleHandler(config, dir);
  const index = await serve(new Request("http://127.0.0.1:54323/"));
  assert.equal(index.status, 200);
  assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(await index.text(), "<!doctype html><p>console</p>");
  const csp = index.headers.get("content-security-policy")!;
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /connect-src 'self' http:\/\/127\.0\.0\.1:54321(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(index.headers.get("x-content-type-options"), "nosniff");
  const js = await serve(new Request("http://127.0.0.1:54323/app.js"));
  assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  await js.body?.cancel();
  Deno.removeSync(join(dir, ".."), { recursive: true });
});

Deno.test("console server: config.json says where the API is, and nothing more", async () => {
  const serve = consoleHandler(config, folder());
  const res = await serve(new Request("http://127.0.0.1:54323/config.json"));
  assert.deepEqual(await res.json(), config);
  assert.ok(res.headers.get("content-security-policy"));
});

Deno.test("console server: nothing outside the folder, no unknown kinds of file, GET only", async () => {
  const dir = folder();
  const serve = consoleHandler(config, dir);
  // %2f survives URL parsing and decodes to "/": "/../outside.txt" once decoded.
  for (const path of ["/..%2foutside.txt", "/%2e%2e%2foutside.txt", "/secret.env", "/nope.js"]) {
    const res = await serve(new Request(`http://127.0.0.1:54323${path}`));
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
  const bad = await serve(new Request("http://127.0.0.1:54323/%"));
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  const post = await serve(new Request("http://127.0.0.1:54323/", { method: "POST" }));
  assert.equal(post.status, 405);
  await post.body?.cancel();
  Deno.removeSync(join(dir, ".."), { recursive: true });
});

Deno.test("console server: the CSP's connect-src is the API's origin, not its path", () => {
  assert.match(
    contentSecurityPolicy("https://abc.supabase.co/"),
    /connect-src 'self' https:\/\/abc\.supabase\.co;/,
  );
});

Deno.test("deno task console: the project's URL and anon key from the env file, nothing else", () => {
  const files: Record<string, string> = {
    ref:
      "SUPABASE_PROJECT_REF=abcdefghijklmnopqrst\nSUPABASE_ANON_KEY=anon\nAWS_SECRET_ACCESS_KEY=x\n",
    url: "SUPABASE_URL=https://ops.example.com/\nSUPABASE_ANON_KEY=anon\n",
    nokey: "SUPABASE_PROJECT_REF=abcdefghijklmnopqrst\n",
    noproject: "SUPABASE_ANON_KEY=anon\n",
  };
  const read = (f: string) => files[f]!;
  assert.deepEqual(consoleSettings(["--env-file", "ref"], read), {
    port: 54323,
    config: {
      apiUrl: "https://abcdefghijklmnopqrst.supabase.co",
      anonKey: "anon",
      signIn: "email",
    },
  });
  assert.deepEqual(consoleSettings(["--env-file", "url", "--port", "8080"], read), {
    port: 8080,
    config: { apiUrl: "https://ops.example.com", anonKey: "anon", signIn: "email" },
  });
  assert.throws(() => consoleSettings(["--env-file", "nokey"], read), /SUPABASE_ANON_KEY/);
  assert.throws(() => consoleSettings(["--env-file", "noproject"], read), /SUPABASE_URL/);
  assert.throws(() => consoleSettings([], read), /Usage/);
  assert.throws(() => consoleSettings(["--env-file", "ref", "--port", "80"], read), /--port/);
  assert.throws(() => consoleSettings(["--bogus"], read), /Unknown argument/);
});
