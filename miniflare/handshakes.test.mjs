// Providers' handshakes answered at the edge, one by one: each exactly as the provider
// expects, the signed ones only once they pass the collector's auth, none archived, all
// counted as `handshake` in /admin/stats.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { start, TEST_SECRETS, hmacHex } from "./harness.mjs";

const SECRETS = {
  ...TEST_SECRETS,
  ZOOM_SECRET_TOKEN: "zoom-secret-token",
  META_VERIFY_TOKEN: "meatyhamhock",
  X_CONSUMER_SECRET: "x-consumer-secret",
};
const KEY = TEST_SECRETS.AMO_KEY;
const hmacAuth = { scheme: "hmac", secrets: ["AMO_KEY"] };
const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };

let eh;
before(async () => {
  eh = await start({
    secrets: SECRETS,
    config: {
      public_url: "http://edgehook.test",
      collectors: [
        { name: "slack", auth: hmacAuth, handshake: "slack" },
        { name: "zoom", auth: hmacAuth, handshake: { provider: "zoom", secrets: ["ZOOM_SECRET_TOKEN"] } },
        // No secrets of its own: keyed by the one the collector verifies Zoom with.
        { name: "zoom-keyed-by-auth", auth: { scheme: "hmac", secrets: ["ZOOM_SECRET_TOKEN"] }, handshake: "zoom" },
        { name: "meta", auth: hmacAuth, handshake: { provider: "meta", secrets: ["META_VERIFY_TOKEN"] } },
        { name: "x", auth: hmacAuth, handshake: { provider: "x", secrets: ["X_CONSUMER_SECRET"] } },
        { name: "dropbox", auth: hmacAuth, handshake: "dropbox" },
        { name: "graph", auth: { scheme: "none" }, handshake: "microsoft-graph" },
        { name: "okta", auth: { scheme: "api-key" }, handshake: "okta" },
        { name: "discord", auth: hmacAuth, handshake: "discord" },
        { name: "twitch", auth: hmacAuth, handshake: "twitch" },
        { name: "asana", auth: { scheme: "none" }, handshake: "asana" },
        { name: "asana-2", auth: { scheme: "none" }, handshake: "asana" },
        { name: "trello", auth: hmacAuth, handshake: "trello" },
        { name: "notion", auth: { scheme: "none" }, handshake: "notion" },
        { name: "monday", auth: hmacAuth, handshake: "monday" },
        { name: "plain", auth: hmacAuth },
      ],
    },
  });
});
after(() => eh?.dispose());

/** POSTs JSON `body` to `collector`, HMAC-signed (AMO's scheme) unless `key` is null. */
function post(collector, body, { key = KEY, headers = {}, query = "" } = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const h = { "content-type": "application/json", ...headers };
  if (key !== null) h.authorization = `HMAC-SHA256 ${hmacHex(key, text)}`;
  return eh.fetch(`/hooks/${collector}${query}`, { method: "POST", headers: h, body: text });
}

async function stats(name) {
  const r = await eh.fetch("/admin/stats", { headers: admin });
  return (await r.json()).collectors.find((c) => c.name === name);
}

test("slack_url_verification_answers_the_challenge_only_when_signed", async () => {
  // Slack's documented example of a url_verification event.
  const body = { token: "Jhj5dZrVaK7ZwHHjRyZWjbDl", challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", type: "url_verification" };
  const r = await post("slack", body);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /application\/json/);
  assert.deepEqual(await r.json(), { challenge: body.challenge });
  // Forged: refused as a webhook would be.
  const forged = await post("slack", body, { key: "not-the-secret" });
  assert.equal(forged.status, 401);
  assert.equal((await forged.json()).error.code, "invalid_signature");
  // A collector without a handshake records it as any webhook.
  const plain = await post("plain", body);
  assert.equal(plain.status, 202);
  await plain.arrayBuffer();
});

test("zoom_endpoint_url_validation_answers_the_hmac_of_the_plain_token", async () => {
  const body = { payload: { plainToken: "qgg8vlvZRS6UYooatFL8Aw" }, event_ts: 1654503849680, event: "endpoint.url_validation" };
  const r = await post("zoom", body);
  assert.equal(r.status, 200);
  // Zoom's documented check: encryptedToken = hex HMAC-SHA256(secret token, plainToken).
  const encryptedToken = createHmac("sha256", SECRETS.ZOOM_SECRET_TOKEN).update(body.payload.plainToken).digest("hex");
  assert.deepEqual(await r.json(), { plainToken: "qgg8vlvZRS6UYooatFL8Aw", encryptedToken });
  const byAuth = await post("zoom-keyed-by-auth", body, { key: SECRETS.ZOOM_SECRET_TOKEN });
  assert.equal(byAuth.status, 200);
  assert.deepEqual(await byAuth.json(), { plainToken: "qgg8vlvZRS6UYooatFL8Aw", encryptedToken });
  const forged = await post("zoom", body, { key: null });
  assert.equal(forged.status, 400);
  assert.equal((await forged.json()).error.code, "missing_header");
});

test("meta_hub_challenge_needs_the_verify_token", async () => {
  const q = (token) => `/hooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${token}`;
  const r = await eh.fetch(q("meatyhamhock"));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(r.headers.get("x-content-type-options"), "nosniff");
  assert.equal(await r.text(), "1158201444");
  const wrong = await eh.fetch(q("guess"));
  assert.equal(wrong.status, 403);
  assert.equal((await wrong.json()).error.code, "invalid_verify_token");
  // A GET that is no handshake is still a wrong method.
  const other = await eh.fetch("/hooks/meta");
  assert.equal(other.status, 405);
  await other.arrayBuffer();
});

test("x_crc_answers_the_response_token", async () => {
  const r = await eh.fetch("/hooks/x?crc_token=9b4507b3-9040-4669-9ed1-8d6a3c2ae0c4");
  assert.equal(r.status, 200);
  // X's documented computation: base64 HMAC-SHA256(consumer secret, crc_token), "sha256=" prefixed.
  const expected = createHmac("sha256", SECRETS.X_CONSUMER_SECRET).update("9b4507b3-9040-4669-9ed1-8d6a3c2ae0c4").digest("base64");
  assert.deepEqual(await r.json(), { response_token: `sha256=${expected}` });
});

test("dropbox_challenge_is_echoed_as_text", async () => {
  const r = await eh.fetch("/hooks/dropbox?challenge=e8c0a2d4");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-content-type-options"), "nosniff");
  assert.equal(await r.text(), "e8c0a2d4");
});

test("microsoft_graph_validation_token_is_echoed_decoded", async () => {
  const token = "Validation: Testing client application reachability for subscription Request-Id: 8f7a";
  const r = await eh.fetch(`/hooks/graph?validationToken=${encodeURIComponent(token)}`, { method: "POST", headers: { "content-type": "text/plain" } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^text\/plain/);
  assert.equal(await r.text(), token);
});

test("okta_verification_answers_only_with_the_configured_authorization", async () => {
  const created = await eh.fetch("/admin/keys", { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ name: "okta" }) });
  const { key } = await created.json();
  const challenge = { "x-okta-verification-challenge": "A1b2C3d4E5f6" };
  const r = await eh.fetch("/hooks/okta", { headers: { ...challenge, authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { verification: "A1b2C3d4E5f6" });
  const without = await eh.fetch("/hooks/okta", { headers: challenge });
  assert.equal(without.status, 400);
  assert.equal((await without.json()).error.code, "missing_header");
});

test("discord_ping_answers_pong_and_interactions_are_archived", async () => {
  const r = await post("discord", { type: 1, id: "1", application_id: "2", token: "t", version: 1 });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { type: 1 });
  const unsigned = await post("discord", { type: 1 }, { key: "wrong" });
  assert.equal(unsigned.status, 401);
  await unsigned.arrayBuffer();
  const command = await post("discord", { type: 2, data: { name: "deploy" }, marker: "discord-cmd" });
  assert.equal(command.status, 202);
  await command.arrayBuffer();
});

test("twitch_callback_verification_answers_the_challenge_as_text", async () => {
  const headers = { "twitch-eventsub-message-type": "webhook_callback_verification" };
  const body = { challenge: "pogchamp-kappa-360noscope-vohiyo", subscription: { id: "f1c2a387", type: "channel.follow", version: "2" } };
  const r = await post("twitch", body, { headers });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "pogchamp-kappa-360noscope-vohiyo");
  const forged = await post("twitch", body, { headers, key: "wrong" });
  assert.equal(forged.status, 401);
  await forged.arrayBuffer();
});

test("asana_secret_is_echoed_kept_sealed_and_verifies_what_follows", async () => {
  const event = JSON.stringify({ events: [{ action: "changed", resource: { gid: "1" } }], marker: "asana-1" });
  // Before the handshake nothing is accepted.
  const early = await eh.fetch("/hooks/asana", { method: "POST", headers: { "content-type": "application/json" }, body: event });
  assert.equal(early.status, 401);
  assert.equal((await early.json()).error.code, "handshake_required");

  const secret = "b537207f20cbfa02357cf448134da559";
  const r = await eh.fetch("/hooks/asana", { method: "POST", headers: { "x-hook-secret": secret } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-hook-secret"), secret);
  assert.equal(await r.text(), "");
  // Sealed in D1: the secret is not there in clear.
  const row = await (await eh.db()).prepare("SELECT * FROM handshake_secrets WHERE collector = 'asana'").first();
  assert.equal(row.provider, "asana");
  assert.ok(row.secret_sealed.startsWith("v1:") && !row.secret_sealed.includes(secret));
  // Asana retrying the same handshake is fine; another secret is refused.
  const again = await eh.fetch("/hooks/asana", { method: "POST", headers: { "x-hook-secret": secret } });
  assert.equal(again.status, 200);
  const swap = await eh.fetch("/hooks/asana", { method: "POST", headers: { "x-hook-secret": "attacker" } });
  assert.equal(swap.status, 409);
  assert.equal((await swap.json()).error.code, "handshake_done");

  const sign = (s, b) => createHmac("sha256", s).update(b).digest("hex");
  const ok = await eh.fetch("/hooks/asana", { method: "POST", headers: { "content-type": "application/json", "x-hook-signature": sign(secret, event) }, body: event });
  assert.equal(ok.status, 202, await ok.clone().text());
  const bad = await eh.fetch("/hooks/asana", { method: "POST", headers: { "content-type": "application/json", "x-hook-signature": sign("attacker", event) }, body: event });
  assert.equal(bad.status, 401);
  assert.equal((await bad.json()).error.code, "invalid_signature");
  // Each collector has its own secret.
  const other = await eh.fetch("/hooks/asana-2", { method: "POST", headers: { "content-type": "application/json", "x-hook-signature": sign(secret, event) }, body: event });
  assert.equal((await other.json()).error.code, "handshake_required");
  await eh.until(async () => (await eh.lines("collectors/asana/")).find((l) => l.marker === "asana-1"), 15000, "the asana event");

  // The operator forgets it; then a new handshake sets another.
  const del = await eh.fetch("/admin/handshakes/asana", { method: "DELETE", headers: admin });
  assert.equal(del.status, 200);
  assert.deepEqual(await del.json(), { collector: "asana", deleted: true });
  const none = await eh.fetch("/admin/handshakes/asana", { method: "DELETE", headers: admin });
  assert.equal(none.status, 404);
  await none.arrayBuffer();
  const fresh = await eh.fetch("/hooks/asana", { method: "POST", headers: { "x-hook-secret": "second-secret" } });
  assert.equal(fresh.status, 200);
  await fresh.arrayBuffer();
});

test("trello_head_is_answered_200", async () => {
  const r = await eh.fetch("/hooks/trello", { method: "HEAD" });
  assert.equal(r.status, 200);
  const get = await eh.fetch("/hooks/trello");
  assert.equal(get.status, 405);
  await get.arrayBuffer();
});

test("notion_verification_token_is_kept_for_the_operator_and_verifies_what_follows", async () => {
  const token = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";
  const r = await eh.fetch("/hooks/notion", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ verification_token: token }) });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  const list = await (await eh.fetch("/admin/handshakes", { headers: admin })).json();
  const notion = list.handshakes.find((h) => h.collector === "notion");
  assert.equal(notion.provider, "notion");
  assert.equal(notion.secret, token);
  const event = JSON.stringify({ type: "page.created", entity: { id: "p1" }, marker: "notion-1" });
  const sig = `sha256=${createHmac("sha256", token).update(event).digest("hex")}`;
  const ok = await eh.fetch("/hooks/notion", { method: "POST", headers: { "content-type": "application/json", "x-notion-signature": sig }, body: event });
  assert.equal(ok.status, 202, await ok.clone().text());
  await ok.arrayBuffer();
  const unsigned = await eh.fetch("/hooks/notion", { method: "POST", headers: { "content-type": "application/json" }, body: event });
  assert.equal(unsigned.status, 400);
  await unsigned.arrayBuffer();
});

test("monday_challenge_is_echoed", async () => {
  const r = await post("monday", { challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" }, { key: null });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" });
});

test("handshakes_are_counted_never_archived", async () => {
  const r = await post("slack", { type: "url_verification", challenge: "count-me" });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  // Real webhooks of the same collectors are archived; give the consumer time.
  await eh.until(async () => (await eh.lines("collectors/discord/")).find((l) => l.marker === "discord-cmd"), 15000, "the discord command");
  for (const name of ["slack", "zoom", "meta", "x", "dropbox", "graph", "okta", "trello", "twitch", "monday"]) {
    assert.deepEqual(await eh.objects(`collectors/${name}/`), [], name);
  }
  const discord = await eh.lines("collectors/discord/");
  assert.deepEqual(discord.map((l) => l.type), [2]);
  const slack = await stats("slack");
  assert.ok(slack.handshake >= 2, JSON.stringify(slack));
  assert.equal(slack.accepted, 0);
  assert.equal((await stats("trello")).handshake, 1);
});
