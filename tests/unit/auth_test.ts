import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import {
  type AuthDeps,
  cacheApiKeys,
  createJwtVerifier,
  identify,
  identifyServiceOnly,
  jwtConfigFromEnv,
  serviceKeysFromEnv,
  sha256Hex,
} from "../../supabase/functions/_shared/auth.ts";

const SECRET = "unit-test-secret-with-at-least-32-characters";
const SERVICE_KEY = "service-key-value";
const verifyJwt = createJwtVerifier(jwtConfigFromEnv({ JWT_SECRET: SECRET }, "test"));

async function jwt(claims: Record<string, unknown>, secret = SECRET) {
  return await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret));
}

function deps(keys: Record<string, string> = {}): AuthDeps {
  return {
    serviceKeys: [SERVICE_KEY],
    verifyJwt,
    customerForApiKey: (hash) => Promise.resolve(keys[hash]),
  };
}

const req = (headers: Record<string, string>) => new Request("http://x/queue/c", { headers });

Deno.test("identify() knows the service key", async () => {
  assert.deepEqual(await identify(req({ authorization: `Bearer ${SERVICE_KEY}` }), deps()), {
    kind: "service",
  });
});

Deno.test("identify() reads the customer from a user JWT's app_metadata", async () => {
  const token = await jwt({
    role: "authenticated",
    sub: "u-1",
    app_metadata: { customer_id: "acme" },
  });
  assert.deepEqual(await identify(req({ authorization: `Bearer ${token}` }), deps()), {
    kind: "customer",
    customerId: "acme",
    via: "jwt",
    subject: "user:u-1",
  });
  const anon = await jwt({ role: "anon" });
  assert.deepEqual(await identify(req({ authorization: `Bearer ${anon}` }), deps()), {
    kind: "user",
    subject: "user:role:anon",
  });
});

Deno.test("identify() ignores customer_id outside app_metadata (users can edit user_metadata)", async () => {
  const token = await jwt({
    role: "authenticated",
    sub: "u-2",
    user_metadata: { customer_id: "acme" },
  });
  assert.deepEqual(await identify(req({ authorization: `Bearer ${token}` }), deps()), {
    kind: "user",
    subject: "user:u-2",
  });
});

Deno.test("identify() rejects forged, unsigned and garbage tokens", async () => {
  for (
    const token of [
      await jwt({ role: "service_role" }, "another-secret-with-at-least-32-chars!"),
      new UnsecuredJWT({ role: "service_role" }).encode(),
      "not-a-jwt",
    ]
  ) {
    const caller = await identify(req({ authorization: `Bearer ${token}` }), deps());
    assert.equal(caller.kind, "invalid", token);
  }
});

Deno.test("identify() maps an API key through its hash, never the key itself", async () => {
  const key = "jq_example_key";
  const seen: string[] = [];
  const d: AuthDeps = {
    ...deps(),
    customerForApiKey: (hash) => {
      seen.push(hash);
      return Promise.resolve(hash === seen[0] ? "acme" : undefined);
    },
  };
  assert.deepEqual(await identify(req({ "x-api-key": key }), d), {
    kind: "customer",
    customerId: "acme",
    via: "api_key",
    subject: `key:${sha256Hex(key)}`,
    apiKeyHash: sha256Hex(key),
  });
  assert.equal(seen[0], sha256Hex(key));
  assert.equal(seen[0]?.length, 64);
  const unknown = await identify(req({ "x-api-key": "jq_other" }), deps());
  assert.equal(unknown.kind, "invalid");
});

Deno.test("identify() without credentials is nobody", async () => {
  assert.deepEqual(await identify(req({}), deps()), { kind: "none" });
  assert.deepEqual(await identify(req({ authorization: "Basic abc" }), deps()), { kind: "none" });
});

Deno.test("serviceKeysFromEnv() takes new secret keys and the legacy key, and needs one", () => {
  assert.deepEqual(
    serviceKeysFromEnv({
      SUPABASE_SECRET_KEYS: '{"default":"sb_secret_a"}',
      SUPABASE_SERVICE_ROLE_KEY: "legacy",
    }, "fn"),
    ["sb_secret_a", "legacy"],
  );
  assert.throws(() => serviceKeysFromEnv({}, "fn"), /Cannot start fn: SUPABASE_SERVICE_ROLE_KEY/);
  assert.throws(
    () => serviceKeysFromEnv({ SUPABASE_SECRET_KEYS: "nope" }, "fn"),
    /SUPABASE_SECRET_KEYS is not a JSON object/,
  );
});

Deno.test("jwtConfigFromEnv() takes JWT_SECRET and the JWKS under SUPABASE_URL, and needs one", () => {
  assert.deepEqual(
    jwtConfigFromEnv({ JWT_SECRET: ` ${SECRET} `, SUPABASE_URL: "https://ref.supabase.co" }, "fn"),
    { secret: SECRET, jwksUrl: "https://ref.supabase.co/auth/v1/.well-known/jwks.json" },
  );
  assert.deepEqual(jwtConfigFromEnv({ SUPABASE_URL: "https://ref.supabase.co/" }, "fn"), {
    jwksUrl: "https://ref.supabase.co/auth/v1/.well-known/jwks.json",
  });
  assert.deepEqual(jwtConfigFromEnv({ JWT_SECRET: SECRET }, "fn"), { secret: SECRET });
  assert.throws(
    () => jwtConfigFromEnv({}, "fn"),
    /^Error: Cannot start fn: set JWT_SECRET or SUPABASE_URL$/,
  );
});

Deno.test("createJwtVerifier() accepts only tokens signed with the configured secret", async () => {
  const verify = createJwtVerifier({ secret: SECRET });
  assert.equal((await verify(await jwt({ sub: "u-1" }))).sub, "u-1");
  await assert.rejects(verify(await jwt({ sub: "u-1" }, "another-secret-with-at-least-32-chars!")));
});

Deno.test("createJwtVerifier() checks an ES256 token against the published JWKS, and HS256 against the secret", async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ keys: [jwk] }),
  );
  try {
    const jwksUrl = `http://127.0.0.1:${server.addr.port}/auth/v1/.well-known/jwks.json`;
    const es256 = await new SignJWT({ sub: "op-1" })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setExpirationTime("5m")
      .sign(privateKey);
    const both = createJwtVerifier({ secret: SECRET, jwksUrl });
    assert.equal((await both(es256)).sub, "op-1");
    assert.equal((await both(await jwt({ sub: "u-1" }))).sub, "u-1", "legacy HS256 still works");
    await assert.rejects(createJwtVerifier({ jwksUrl })(await jwt({ sub: "u-1" })), /HS256/);
    await assert.rejects(createJwtVerifier({ secret: SECRET })(es256), /asymmetric/);
    const other = await generateKeyPair("ES256");
    const forged = await new SignJWT({ sub: "op-1" })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setExpirationTime("5m")
      .sign(other.privateKey);
    await assert.rejects(both(forged), "a token signed by another key is refused");
  } finally {
    await server.shutdown();
  }
});

Deno.test("identifyServiceOnly() knows the service key by comparison, and nobody else", async () => {
  const who = identifyServiceOnly([SERVICE_KEY]);
  const asking = (authorization?: string) =>
    new Request("http://x/health", { headers: authorization ? { authorization } : {} });
  assert.deepEqual(await who(asking(`Bearer ${SERVICE_KEY}`)), { kind: "service" });
  // A valid user JWT is not even verified: health needs no Auth to answer.
  const token = await jwt({ role: "authenticated", sub: "u1" });
  assert.deepEqual(await who(asking(`Bearer ${token}`)), { kind: "none" });
  assert.deepEqual(await who(asking()), { kind: "none" });
});

Deno.test("cacheApiKeys(): one lookup per key per TTL, shared by concurrent calls", async () => {
  let t = 0;
  const asked: string[] = [];
  const lookup = (hash: string) => {
    asked.push(hash);
    return Promise.resolve(hash === "good" ? "acme" : undefined);
  };
  const cached = cacheApiKeys(lookup, 5_000, 10_000, () => t);
  assert.deepEqual(await Promise.all([cached("good"), cached("good")]), ["acme", "acme"]);
  assert.equal(await cached("bad"), undefined);
  t = 4_999;
  assert.equal(await cached("good"), "acme");
  assert.deepEqual(asked, ["good", "bad"], "within the TTL: no lookup");
  t = 5_000;
  assert.equal(await cached("good"), "acme");
  assert.deepEqual(asked, ["good", "bad", "good"], "a revocation is seen after the TTL");
});

Deno.test("cacheApiKeys(): a failed lookup is not remembered; TTL 0 is no cache", async () => {
  let fail = true;
  let calls = 0;
  const lookup = () => {
    calls++;
    return fail ? Promise.reject(new Error("db down")) : Promise.resolve("acme");
  };
  const cached = cacheApiKeys(lookup, 5_000);
  await assert.rejects(cached("k"), /db down/);
  fail = false;
  assert.equal(await cached("k"), "acme");
  assert.equal(calls, 2);
  const uncached = cacheApiKeys(lookup, 0);
  await uncached("k");
  await uncached("k");
  assert.equal(calls, 4);
});
