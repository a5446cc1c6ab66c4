/**
 * The local functions gateway, on real HTTP with real worker processes, over a folder of fixture
 * functions: routing, verify_jwt, injected env, permissions, and new functions without restart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from "jose";
import { createGateway, JWKS_PATH } from "../../scripts/stack/functions_server.ts";
import { publicJwk } from "../../scripts/stack/keys.ts";

const SECRET = "gateway-test-secret-with-at-least-32-characters";
const SIGNING = await generateKeyPair("ES256", { extractable: true });
const SIGNING_JWK: JWK = {
  ...(await exportJWK(SIGNING.privateKey)),
  kid: "gateway-test",
  alg: "ES256",
  use: "sig",
};

const ECHO = `
Deno.serve(async (req) => {
  const url = new URL(req.url);
  return Response.json({
    method: req.method,
    path: url.pathname,
    search: url.search,
    body: await req.text(),
    forwardedFor: req.headers.get("x-forwarded-for"),
    env: {
      SUPABASE_URL: Deno.env.get("SUPABASE_URL"),
      CUSTOM: Deno.env.get("CUSTOM"),
      GATEWAY: Deno.env.get("FUNCTIONS_GATEWAY_CONFIG") ?? null,
    },
  });
});
`;

const WRITER = `
Deno.serve(async () => {
  try {
    await Deno.writeTextFile("/tmp/edge-function-write-test", "x");
    return new Response("wrote");
  } catch (error) {
    return new Response(error.name);
  }
});
`;

// Answers at once, then calls ?notify= 300 ms later through EdgeRuntime.waitUntil.
const AFTER = `
Deno.serve((req) => {
  const notify = new URL(req.url).searchParams.get("notify");
  EdgeRuntime.waitUntil(
    new Promise((resolve) => setTimeout(resolve, 300)).then(() => fetch(notify, { method: "POST" })),
  );
  return new Response("answered");
});
`;

async function sign(claims: Record<string, unknown>, secret = SECRET, expiresIn = "1h") {
  return await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt()
    .setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret));
}

async function withGateway(
  fn: (base: string, functionsDir: string) => Promise<void>,
): Promise<void> {
  const root = Deno.makeTempDirSync();
  const functionsDir = join(root, "functions");
  const write = (slug: string, code: string) => {
    Deno.mkdirSync(join(functionsDir, slug), { recursive: true });
    Deno.writeTextFileSync(join(functionsDir, slug, "index.ts"), code);
  };
  write("echo", ECHO);
  write("open-echo", ECHO);
  write("writer", WRITER);
  write("broken", "throw new Error('boom at import');\n");
  write("after", AFTER);
  Deno.writeTextFileSync(
    join(root, "config.toml"),
    "[functions.open-echo]\nverify_jwt = false\n[functions.writer]\nverify_jwt = false\n" +
      "[functions.broken]\nverify_jwt = false\n[functions.late]\nverify_jwt = false\n" +
      "[functions.after]\nverify_jwt = false\n",
  );
  Deno.writeTextFileSync(
    join(functionsDir, ".env"),
    "CUSTOM=from-dotenv\nSUPABASE_URL=http://dotenv-must-not-win\n",
  );
  const gateway = createGateway({
    port: 0,
    functionsDir,
    configToml: join(root, "config.toml"),
    jwtSecret: SECRET,
    jwks: [publicJwk(SIGNING_JWK)],
    env: { SUPABASE_URL: "http://127.0.0.1:1", CUSTOM: "from-stack" },
    logDir: root,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req, info) => gateway.handle(req, info.remoteAddr.hostname),
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, functionsDir);
  } finally {
    await gateway.close();
    await server.shutdown();
    Deno.removeSync(root, { recursive: true });
  }
}

Deno.test("gateway: routes /functions/v1/<slug>/... to the function with hosted's path and env", async () => {
  await withGateway(async (base) => {
    const res = await fetch(`${base}/functions/v1/open-echo/some/path?x=1`, {
      method: "POST",
      body: "hello",
      headers: { "x-forwarded-for": "203.0.113.9" },
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.method, "POST");
    assert.equal(body.path, "/open-echo/some/path");
    assert.equal(body.search, "?x=1");
    assert.equal(body.body, "hello");
    assert.equal(body.forwardedFor, "203.0.113.9, 127.0.0.1");
    assert.equal(body.env.CUSTOM, "from-dotenv", ".env overrides the stack's defaults");
    assert.equal(body.env.SUPABASE_URL, "http://127.0.0.1:1", "SUPABASE_* cannot be overridden");
    assert.equal(body.env.GATEWAY, null, "the gateway's own config (JWT secret) stays private");
  });
});

Deno.test("gateway: verify_jwt (the default) refuses missing, forged, expired and alg:none tokens", async () => {
  await withGateway(async (base) => {
    const url = `${base}/functions/v1/echo`;
    const call = async (token?: string) => {
      const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      return { status: res.status, body: await res.json() };
    };
    const missing = await call();
    assert.equal(missing.status, 401);
    assert.deepEqual(Object.keys(missing.body).sort(), ["code", "error", "message"]);
    assert.equal(missing.body.code, "invalid_jwt");
    assert.equal(
      (await call(await sign({ role: "anon" }, "another-secret-of-32-characters!!"))).status,
      401,
    );
    const expired = await new SignJWT({ role: "anon" }).setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(SECRET));
    assert.equal((await call(expired)).status, 401);
    assert.equal((await call(new UnsecuredJWT({ role: "service_role" }).encode())).status, 401);
    const ok = await call(await sign({ role: "anon" }));
    assert.equal(ok.status, 200);
    assert.equal(ok.body.path, "/echo");
  });
});

Deno.test("gateway: publishes the signing key as JWKS (public half only) and accepts ES256 tokens it signed", async () => {
  await withGateway(async (base) => {
    const res = await fetch(`${base}${JWKS_PATH}`);
    assert.equal(res.status, 200);
    const { keys } = await res.json();
    assert.equal(keys.length, 1);
    assert.equal(keys[0].kid, "gateway-test");
    assert.equal(keys[0].d, undefined, "the private part is never published");
    const es256 = (key: Parameters<SignJWT["sign"]>[0]) =>
      new SignJWT({ role: "authenticated" }).setProtectedHeader({
        alg: "ES256",
        kid: "gateway-test",
      })
        .setExpirationTime("5m").sign(key);
    const call = async (token: string) =>
      (await fetch(`${base}/functions/v1/echo`, { headers: { authorization: `Bearer ${token}` } }))
        .status;
    assert.equal(await call(await es256(SIGNING.privateKey)), 200);
    assert.equal(await call(await es256((await generateKeyPair("ES256")).privateKey)), 401);
  });
});

Deno.test("gateway: unknown paths and functions get the error envelope", async () => {
  await withGateway(async (base) => {
    for (const path of ["/", "/functions/v1/", "/functions/v1/nope", "/functions/v1/_shared"]) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404, path);
      const body = await res.json();
      assert.equal(typeof body.code, "string");
      assert.equal(body.error, "Not found");
    }
  });
});

Deno.test("gateway: a function that fails to start answers 503 without its error text", async () => {
  await withGateway(async (base) => {
    const res = await fetch(`${base}/functions/v1/broken`);
    assert.equal(res.status, 503);
    const text = await res.text();
    assert.equal(JSON.parse(text).code, "function_boot_error");
    assert.ok(!text.includes("boom"));
  });
});

Deno.test("gateway: functions may not write files, as on the Edge Runtime", async () => {
  await withGateway(async (base) => {
    const res = await fetch(`${base}/functions/v1/writer`);
    assert.equal(await res.text(), "NotCapable");
  });
});

Deno.test("gateway: a new function folder is served without a restart", async () => {
  await withGateway(async (base, functionsDir) => {
    const before = await fetch(`${base}/functions/v1/late`);
    assert.equal(before.status, 404);
    await before.body?.cancel();
    Deno.mkdirSync(join(functionsDir, "late"));
    Deno.writeTextFileSync(join(functionsDir, "late", "index.ts"), ECHO);
    const after = await fetch(`${base}/functions/v1/late`);
    assert.equal(after.status, 200);
    assert.equal((await after.json()).path, "/late");
  });
});

Deno.test("gateway: EdgeRuntime.waitUntil work outlives the answer and delays the instance's stop", async () => {
  let notifiedAt: number | undefined;
  const notify = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    notifiedAt = performance.now();
    return new Response("ok");
  });
  let answeredAt = 0;
  try {
    await withGateway(async (base) => {
      const res = await fetch(
        `${base}/functions/v1/after?notify=http://127.0.0.1:${notify.addr.port}/done`,
      );
      assert.equal(await res.text(), "answered");
      answeredAt = performance.now();
      assert.equal(notifiedAt, undefined, "the answer did not wait for the background work");
      // withGateway now stops the instance (SIGTERM), 300 ms before the work is due.
    });
    assert.ok(notifiedAt !== undefined, "the instance finished the work before it stopped");
    assert.ok(notifiedAt > answeredAt);
  } finally {
    await notify.shutdown();
  }
});
