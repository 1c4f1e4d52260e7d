// Remote key sets: `jwt` collectors with `jwks_url`, against JWK sets served by local
// servers and rotated mid-test; tokens minted by jose. The set is cached per isolate
// (Cache-Control within bounds), fetched again for an unknown kid at most once a minute,
// and a failed fetch never refuses a token whose key is cached (503 while no key is known).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { start } from "./harness.mjs";

/** A JWKS server: `state.keys` are served with `state.cacheControl`; `state.fail` answers 500. */
async function jwksServer(state) {
  state.hits = 0;
  const server = http.createServer((req, res) => {
    state.hits++;
    if (state.fail) {
      res.writeHead(500).end("down");
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": state.cacheControl ?? "max-age=300" });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${server.address().port}/.well-known/jwks.json`;
  state.close = () => server.close();
  return state;
}

async function keyPair(alg, kid) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

let eh, idp, flaky, down, A, B, F, R;
before(async () => {
  [A, B, F, R] = await Promise.all([keyPair("ES256", "key-a"), keyPair("ES256", "key-b"), keyPair("EdDSA", "key-f"), keyPair("RS256", "key-r")]);
  idp = await jwksServer({ keys: [A.jwk, R.jwk] });
  flaky = await jwksServer({ keys: [F.jwk], cacheControl: "max-age=1" }); // kept the minimum, 60 s
  down = await jwksServer({ keys: [], fail: true });
  const jwt = (url) => ({ scheme: "jwt", jwks_url: url, max_lifetime_secs: 3600 });
  eh = await start({
    environment: "dev", // the local servers speak http
    config: {
      public_url: "http://edgehook.test",
      dispatch: { allow_private_hosts: ["127.0.0.1"] },
      collectors: [
        { name: "idp", auth: jwt(idp.url) },
        { name: "flaky", auth: jwt(flaky.url) },
        { name: "down", auth: jwt(down.url) },
        { name: "guarded", auth: jwt("http://10.1.2.3/jwks.json") },
      ],
    },
  });
});
after(async () => {
  for (const s of [idp, flaky, down]) s?.close();
  await eh?.dispose();
});

function token(key, collector, claims = {}) {
  const aud = `http://edgehook.test/hooks/${collector}`;
  return new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid }).setIssuer(aud).setAudience(aud).setIssuedAt().setExpirationTime("10m").sign(key.privateKey);
}

async function send(collector, key, marker) {
  const r = await eh.fetch(`/hooks/${collector}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(key, collector)}` },
    body: JSON.stringify({ marker }),
  });
  return { status: r.status, body: await r.json(), retryAfter: r.headers.get("retry-after") };
}

test("keys_are_fetched_once_cached_and_rotation_is_picked_up_at_most_once_a_minute", async () => {
  assert.equal((await send("idp", A, "a-1")).status, 202);
  assert.equal((await send("idp", A, "a-2")).status, 202);
  assert.equal((await send("idp", R, "r-1")).status, 202);
  assert.equal(idp.hits, 1, "later tokens used the cached set");
  // The flaky server's set is fetched, then the server goes down.
  assert.equal((await send("flaky", F, "f-1")).status, 202);
  assert.equal(flaky.hits, 1);
  flaky.fail = true;

  // Rotation: the provider now signs with key B only.
  idp.keys = [B.jwk];
  const early = await send("idp", B, "b-early");
  assert.equal(early.status, 401);
  assert.equal(early.body.error.code, "unknown_key");
  // Made-up kids do not make edgehook hammer the key server.
  for (let i = 0; i < 5; i++) {
    const r = await send("idp", { ...B, kid: `forged-${i}` }, "forged");
    assert.equal(r.status, 401);
  }
  assert.equal(idp.hits, 1, "no refetch within a minute of the last");

  await new Promise((r) => setTimeout(r, 61_000));

  const later = await send("idp", B, "b-later");
  assert.equal(later.status, 202, JSON.stringify(later.body));
  assert.equal(idp.hits, 2);
  // A was rotated out of the set.
  assert.equal((await send("idp", A, "a-late")).body.error.code, "unknown_key");

  // The flaky set is stale now: its refetch fails, and the cached key still verifies.
  const cached = await send("flaky", F, "f-2");
  assert.equal(cached.status, 202, JSON.stringify(cached.body));
  assert.equal(flaky.hits, 2, "the stale set was fetched again, and that failed");
  assert.ok(eh.logs.some((l) => l.includes('"event":"jwks"') && l.includes('"fetch_failed"')));

  const lines = await eh.until(async () => {
    const l = await eh.lines("collectors/");
    return ["a-1", "a-2", "r-1", "b-later", "f-1", "f-2"].every((m) => l.some((x) => x.marker === m)) ? l : null;
  }, 15000, "the accepted webhooks");
  assert.equal(lines.filter((l) => ["b-early", "forged", "a-late"].includes(l.marker)).length, 0);
});

test("no_key_known_is_503_never_401", async () => {
  const r = await send("down", A, "down-1");
  assert.equal(r.status, 503);
  assert.equal(r.body.error.code, "unavailable");
  assert.equal(r.retryAfter, "5");
  const again = await send("down", A, "down-2");
  assert.equal(again.status, 503);
  assert.equal(down.hits, 1, "a failed first fetch is retried at most once a minute");
  // The URL guard refuses a private address no config allowed: nothing fetched, 503.
  const guarded = await send("guarded", A, "guarded");
  assert.equal(guarded.status, 503);
  assert.ok(eh.logs.some((l) => l.includes("refused by the URL guard")));
});
