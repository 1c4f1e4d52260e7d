// Provider presets (auth.scheme = "<provider>", docs/PROVIDERS.md): for each provider a
// request is signed the provider's way — by its official npm SDK's signing helper where it
// has one, else built as the provider's docs describe (node:crypto) and, where the SDK has
// a verifier, checked by it first — then sent to edgehook, which must accept it (202) and
// refuse the same request over another body, or with another secret, with 401.
// Never signatures computed by edgehook's own code.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, generateKeyPairSync, randomUUID, sign as cryptoSign } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Webhook as SvixWebhook } from "svix";
import twilio from "twilio";
import { verifySlackRequest } from "@slack/bolt";
import { verifyKey as discordVerifyKey } from "discord-interactions";
import { EventWebhook } from "@sendgrid/eventwebhook";
import { Signature as HubspotSignature } from "@hubspot/api-client";
import { LinearWebhooks } from "@linear/sdk";
import { Paddle, WebhooksValidator as PaddleValidator } from "@paddle/paddle-node-sdk";
import { WebhooksHelper as SquareWebhooks } from "square";
import "@shopify/shopify-api/adapters/node";
import { shopifyApi, ApiVersion, LogSeverity } from "@shopify/shopify-api";
import { SignJWT } from "jose";
import { start, testConfig, TEST_SECRETS, root } from "./harness.mjs";

const PUBLIC_URL = testConfig().public_url;
const urlOf = (collector) => `${PUBLIC_URL}/hooks/${collector}`;
const hmac = (alg, key, data, encoding) => createHmac(alg, key).update(data).digest(encoding);
const sha256hex = (data) => createHash("sha256").update(data).digest("hex");
const nowSecs = () => Math.floor(Date.now() / 1000);

// Asymmetric keys made fresh by node:crypto, in the forms the providers hand out.
const discordKeys = generateKeyPairSync("ed25519");
const DISCORD_PUBLIC_HEX = discordKeys.publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("hex");
const sendgridKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const SENDGRID_PUBLIC_B64 = sendgridKeys.publicKey.export({ format: "der", type: "spki" }).toString("base64");

// Constructing a client selects the SDK's Node runtime, which its validator computes with.
new Paddle("pdl_sdbx_apikey_edgehook_test_unused");

const shopify = shopifyApi({
  apiKey: "edgehook-test",
  apiSecretKey: "shpss_edgehook_test_secret",
  scopes: [],
  hostName: "edgehook.test",
  apiVersion: ApiVersion.January26,
  isEmbeddedApp: false,
  logger: { level: LogSeverity.Error },
});

/**
 * One entry per provider: `secret` (the value the collector's secret holds), `sdk` (the npm
 * package whose code signs or checks, or null: built from the provider's docs), and
 * `sign(body, secret)` → `{ headers, path?, body? }`: the request as the provider sends it.
 * `verify` (optional) is the SDK's own verifier, which must accept what `sign` made.
 */
const PROVIDERS = {
  airtable: {
    secret: Buffer.from("airtable-mac-secret-0123456789").toString("base64"),
    sdk: null,
    sign: (body, secret) => ({
      headers: { "x-airtable-content-mac": "hmac-sha256=" + hmac("sha256", Buffer.from(secret, "base64"), body, "hex") },
    }),
  },
  asana: { secret: "asana-hook-secret", sdk: null, sign: (body, s) => ({ headers: { "x-hook-signature": hmac("sha256", s, body, "hex") } }) },
  bitbucket: {
    secret: "bitbucket-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "x-hub-signature": "sha256=" + hmac("sha256", s, body, "hex") } }),
  },
  box: {
    secret: "box-primary-key",
    sdk: null,
    sign: (body, s) => {
      const ts = new Date().toISOString().replace(/\.\d+Z$/, "+00:00");
      // Primary and secondary keys: only the secondary is this collector's (a rotation).
      return {
        headers: {
          "box-delivery-timestamp": ts,
          "box-signature-primary": hmac("sha256", "box-other-key", body + ts, "base64"),
          "box-signature-secondary": hmac("sha256", s, body + ts, "base64"),
        },
      };
    },
  },
  buildkite: {
    secret: "buildkite-token",
    sdk: null,
    sign: (body, s) => {
      const ts = nowSecs();
      return { headers: { "x-buildkite-signature": `timestamp=${ts},signature=${hmac("sha256", s, `${ts}.${body}`, "hex")}` } };
    },
  },
  calendly: {
    secret: "calendly-signing-key",
    sdk: null,
    sign: (body, s) => {
      const t = nowSecs();
      return { headers: { "calendly-webhook-signature": `t=${t},v1=${hmac("sha256", s, `${t}.${body}`, "hex")}` } };
    },
  },
  circleci: {
    secret: "circleci-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "circleci-signature": `v1=${hmac("sha256", s, body, "hex")}` } }),
  },
  clerk: { secret: "whsec_" + Buffer.from("clerk-signing-secret").toString("base64"), sdk: "svix", sign: svixSign },
  coinbase: {
    secret: "coinbase-shared-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "x-cc-webhook-signature": hmac("sha256", s, body, "hex") } }),
  },
  customerio: {
    secret: "cio-signing-key",
    sdk: null,
    sign: (body, s) => {
      const ts = nowSecs();
      return { headers: { "x-cio-timestamp": String(ts), "x-cio-signature": hmac("sha256", s, `v0:${ts}:${body}`, "hex") } };
    },
  },
  discord: {
    secret: DISCORD_PUBLIC_HEX,
    sdk: "discord-interactions",
    sign: (body, s) => {
      const ts = String(nowSecs());
      // `s` is the collector's public key: a wrong secret means another signing key.
      const key = s === DISCORD_PUBLIC_HEX ? discordKeys.privateKey : generateKeyPairSync("ed25519").privateKey;
      const sig = cryptoSign(null, Buffer.from(ts + body), key).toString("hex");
      return { headers: { "x-signature-ed25519": sig, "x-signature-timestamp": ts } };
    },
    verify: (req, body) => discordVerifyKey(body, req.headers["x-signature-ed25519"], req.headers["x-signature-timestamp"], DISCORD_PUBLIC_HEX),
  },
  docusign: {
    secret: "docusign-hmac-key",
    sdk: null,
    sign: (body, s) => ({
      headers: { "x-docusign-signature-1": hmac("sha256", "docusign-other", body, "base64"), "x-docusign-signature-2": hmac("sha256", s, body, "base64") },
    }),
  },
  dropbox: { secret: "dropbox-app-secret", sdk: null, sign: (body, s) => ({ headers: { "x-dropbox-signature": hmac("sha256", s, body, "hex") } }) },
  facebook: { secret: "fb-app-secret", sdk: null, sign: metaSign },
  gitea: { secret: "gitea-secret", sdk: null, sign: (body, s) => ({ headers: { "x-gitea-signature": hmac("sha256", s, body, "hex") } }) },
  gitlab: { secret: "gitlab-token", sdk: null, sign: (_body, s) => ({ headers: { "x-gitlab-token": s } }), token: true },
  gocardless: { secret: "gc-webhook-secret", sdk: null, sign: (body, s) => ({ headers: { "webhook-signature": hmac("sha256", s, body, "hex") } }) },
  helpscout: {
    secret: "helpscout-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "x-helpscout-signature": hmac("sha1", s, body, "base64") } }),
  },
  hubspot: {
    secret: "hubspot-client-secret",
    sdk: "@hubspot/api-client",
    sign: (body, s) => {
      const timestamp = Date.now();
      const sig = HubspotSignature.getSignature("POST", "v3", { clientSecret: s, requestBody: body, url: urlOf("hubspot"), timestamp });
      return { headers: { "x-hubspot-signature-v3": sig, "x-hubspot-request-timestamp": String(timestamp) } };
    },
    verify: (req, body) =>
      HubspotSignature.isValid({
        signatureVersion: "v3",
        signature: req.headers["x-hubspot-signature-v3"],
        clientSecret: "hubspot-client-secret",
        requestBody: body,
        method: "POST",
        url: urlOf("hubspot"),
        timestamp: Number(req.headers["x-hubspot-request-timestamp"]),
      }),
  },
  instagram: { secret: "ig-app-secret", sdk: null, sign: metaSign },
  intercom: {
    secret: "intercom-client-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "x-hub-signature": "sha1=" + hmac("sha1", s, body, "hex") } }),
  },
  launchdarkly: { secret: "ld-secret", sdk: null, sign: (body, s) => ({ headers: { "x-ld-signature": hmac("sha256", s, body, "hex") } }) },
  lemonsqueezy: { secret: "ls-signing-secret", sdk: null, sign: (body, s) => ({ headers: { "x-signature": hmac("sha256", s, body, "hex") } }) },
  linear: {
    secret: "lin_wh_test_secret",
    sdk: "@linear/sdk",
    // Linear signs the raw body, which carries webhookTimestamp (ms); the SDK checks both.
    body: (body) => JSON.stringify({ ...JSON.parse(body), webhookTimestamp: Date.now() }),
    sign: (body, s) => ({ headers: { "linear-signature": hmac("sha256", s, body, "hex") } }),
    verify: (req, body) => new LinearWebhooks("lin_wh_test_secret").verify(Buffer.from(body), req.headers["linear-signature"]),
  },
  mailgun: {
    secret: "key-mailgun-signing",
    sdk: null,
    // The signature travels in the JSON body: {"signature": {timestamp, token, signature}}.
    body: (body) => JSON.stringify({ "event-data": JSON.parse(body), signature: { timestamp: String(nowSecs()), token: randomUUID().replaceAll("-", "") } }),
    sign: (body, s) => {
      const parsed = JSON.parse(body);
      const { timestamp, token } = parsed.signature;
      parsed.signature.signature = hmac("sha256", s, timestamp + token, "hex");
      return { headers: {}, body: JSON.stringify(parsed) };
    },
    // Mailgun signs the timestamp and token, not the event: tamper with those.
    tamper: (body) => body.replace(/"token":"/, '"token":"0'),
  },
  meta: { secret: "meta-app-secret", sdk: null, sign: metaSign },
  "microsoft-graph": {
    secret: "graph-client-state",
    sdk: null,
    body: (body) => JSON.stringify({ value: [{ subscriptionId: randomUUID(), clientState: "", resourceData: JSON.parse(body) }] }),
    sign: (body, s) => {
      const parsed = JSON.parse(body);
      parsed.value[0].clientState = s;
      return { headers: {}, body: JSON.stringify(parsed) };
    },
    token: true,
  },
  monday: {
    secret: "monday-signing-secret",
    sdk: "jose",
    // monday's Authorization token as its docs show it: HS256 under the app's signing
    // secret, five minutes long; it does not bind the body.
    sign: async (_body, s) => ({
      headers: {
        authorization: await new SignJWT({ accountId: 5, userId: 7, aud: urlOf("monday"), shortLivedToken: "eyJ.short.lived" })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" })
          .setIssuedAt()
          .setExpirationTime("5m")
          .sign(new TextEncoder().encode(s)),
      },
    }),
    token: true,
  },
  mux: {
    secret: "mux-webhook-secret",
    sdk: null,
    sign: (body, s) => {
      const t = nowSecs();
      return { headers: { "mux-signature": `t=${t},v1=${hmac("sha256", s, `${t}.${body}`, "hex")}` } };
    },
  },
  netlify: {
    secret: "netlify-jws-secret",
    sdk: "jose",
    // A JWS (HS256) whose claims bind the body: iss "netlify", sha256 = hex SHA-256 of it.
    sign: async (body, s) => ({
      headers: {
        "x-webhook-signature": await new SignJWT({ sha256: sha256hex(body) })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" })
          .setIssuer("netlify")
          .sign(new TextEncoder().encode(s)),
      },
    }),
  },
  notion: {
    secret: "secret_notion_verification_token",
    sdk: null,
    sign: (body, s) => ({ headers: { "x-notion-signature": "sha256=" + hmac("sha256", s, body, "hex") } }),
  },
  okta: { secret: "okta-event-hook-secret", sdk: null, sign: (_b, s) => ({ headers: { authorization: s } }), token: true },
  paddle: {
    secret: "pdl_ntfset_test_secret",
    sdk: "@paddle/paddle-node-sdk",
    sign: (body, s) => {
      const ts = nowSecs();
      return { headers: { "paddle-signature": `ts=${ts};h1=${hmac("sha256", s, `${ts}:${body}`, "hex")}` } };
    },
    verify: (req, body) => new PaddleValidator().isValidSignature(body, "pdl_ntfset_test_secret", req.headers["paddle-signature"]),
  },
  pagerduty: {
    secret: "pd-signing-secret",
    sdk: null,
    // One signature per active secret, comma-separated, during a rotation.
    sign: (body, s) => ({ headers: { "x-pagerduty-signature": `v1=${hmac("sha256", "pd-old", body, "hex")},v1=${hmac("sha256", s, body, "hex")}` } }),
  },
  postmark: {
    secret: "postmark:hook-password",
    sdk: null,
    sign: (_b, s) => ({ headers: { authorization: "Basic " + Buffer.from(s).toString("base64") } }),
    token: true,
  },
  quickbooks: {
    secret: "intuit-verifier-token",
    sdk: null,
    sign: (body, s) => ({ headers: { "intuit-signature": hmac("sha256", s, body, "base64") } }),
  },
  razorpay: { secret: "rzp-webhook-secret", sdk: null, sign: (body, s) => ({ headers: { "x-razorpay-signature": hmac("sha256", s, body, "hex") } }) },
  resend: { secret: "whsec_" + Buffer.from("resend-signing-secret").toString("base64"), sdk: "svix", sign: svixSign },
  segment: { secret: "segment-shared-secret", sdk: null, sign: (body, s) => ({ headers: { "x-signature": hmac("sha1", s, body, "hex") } }) },
  sendgrid: {
    secret: SENDGRID_PUBLIC_B64,
    sdk: "@sendgrid/eventwebhook",
    sign: (body, s) => {
      const ts = String(nowSecs());
      const key = s === SENDGRID_PUBLIC_B64 ? sendgridKeys.privateKey : generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
      // DER-encoded ECDSA P-256/SHA-256 over timestamp + body, base64, as SendGrid sends it.
      const sig = cryptoSign("sha256", Buffer.from(ts + body), key).toString("base64");
      return { headers: { "x-twilio-email-event-webhook-signature": sig, "x-twilio-email-event-webhook-timestamp": ts } };
    },
    verify: (req, body) => {
      const ew = new EventWebhook();
      const key = ew.convertPublicKeyToECDSA(SENDGRID_PUBLIC_B64);
      return ew.verifySignature(key, body, req.headers["x-twilio-email-event-webhook-signature"], req.headers["x-twilio-email-event-webhook-timestamp"]);
    },
  },
  sentry: { secret: "sentry-client-secret", sdk: null, sign: (body, s) => ({ headers: { "sentry-hook-signature": hmac("sha256", s, body, "hex") } }) },
  shopify: {
    secret: "shpss_edgehook_test_secret",
    sdk: "@shopify/shopify-api",
    sign: (body, s) => ({
      headers: {
        "x-shopify-hmac-sha256": hmac("sha256", s, body, "base64"),
        "x-shopify-topic": "orders/create",
        "x-shopify-shop-domain": "edgehook-test.myshopify.com",
        "x-shopify-api-version": "2026-01",
        "x-shopify-webhook-id": randomUUID(),
        "x-shopify-event-id": randomUUID(),
        "x-shopify-triggered-at": new Date().toISOString(),
      },
    }),
    verify: async (req, body) =>
      (await shopify.webhooks.validate({ rawBody: body, rawRequest: { headers: req.headers, method: "POST", url: "/hooks/shopify" }, rawResponse: {} })).valid,
  },
  slack: {
    secret: "8f742231b10e8888abcd99yyyzzz85a5",
    sdk: "@slack/bolt",
    sign: (body, s) => {
      const ts = nowSecs();
      return { headers: { "x-slack-request-timestamp": String(ts), "x-slack-signature": "v0=" + hmac("sha256", s, `v0:${ts}:${body}`, "hex") } };
    },
    verify: (req, body) => {
      verifySlackRequest({ signingSecret: "8f742231b10e8888abcd99yyyzzz85a5", body, headers: req.headers });
      return true;
    },
  },
  square: {
    secret: "square-signature-key",
    sdk: "square",
    sign: (body, s) => ({ headers: { "x-square-hmacsha256-signature": hmac("sha256", s, urlOf("square") + body, "base64") } }),
    verify: (req, body) =>
      SquareWebhooks.verifySignature({
        requestBody: body,
        signatureHeader: req.headers["x-square-hmacsha256-signature"],
        signatureKey: "square-signature-key",
        notificationUrl: urlOf("square"),
      }),
  },
  svix: { secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", sdk: "svix", sign: svixSign },
  telegram: { secret: "telegram-secret-token", sdk: null, sign: (_b, s) => ({ headers: { "x-telegram-bot-api-secret-token": s } }), token: true },
  trello: {
    secret: "trello-app-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "x-trello-webhook": hmac("sha1", s, body + urlOf("trello"), "base64") } }),
  },
  twilio: {
    secret: "twilio-auth-token-0123456789abcd",
    sdk: "twilio",
    // A JSON body: Twilio adds bodySHA256 to the URL and signs the URL alone.
    sign: (body, s) => {
      const query = `?bodySHA256=${sha256hex(body)}`;
      const signature = twilio.getExpectedTwilioSignature(s, urlOf("twilio") + query, {});
      return { headers: { "x-twilio-signature": signature }, path: `/hooks/twilio${query}` };
    },
    verify: (req, body) => twilio.validateRequestWithBody("twilio-auth-token-0123456789abcd", req.headers["x-twilio-signature"], PUBLIC_URL + req.path, body),
  },
  twitch: {
    secret: "twitch-eventsub-secret",
    sdk: null,
    sign: (body, s) => {
      const id = randomUUID();
      const ts = new Date().toISOString();
      return {
        headers: {
          "twitch-eventsub-message-id": id,
          "twitch-eventsub-message-timestamp": ts,
          "twitch-eventsub-message-signature": "sha256=" + hmac("sha256", s, id + ts + body, "hex"),
        },
      };
    },
  },
  typeform: {
    secret: "typeform-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "typeform-signature": "sha256=" + hmac("sha256", s, body, "base64") } }),
  },
  vercel: { secret: "vercel-secret", sdk: null, sign: (body, s) => ({ headers: { "x-vercel-signature": hmac("sha1", s, body, "hex") } }) },
  webflow: {
    secret: "webflow-secret",
    sdk: null,
    sign: (body, s) => {
      const ts = String(Date.now());
      return { headers: { "x-webflow-timestamp": ts, "x-webflow-signature": hmac("sha256", s, `${ts}:${body}`, "hex") } };
    },
  },
  whatsapp: { secret: "wa-app-secret", sdk: null, sign: metaSign },
  woocommerce: {
    secret: "wc-webhook-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "x-wc-webhook-signature": hmac("sha256", s, body, "base64") } }),
  },
  workos: {
    secret: "workos-webhook-secret",
    sdk: null,
    sign: (body, s) => {
      const t = Date.now();
      return { headers: { "workos-signature": `t=${t}, v1=${hmac("sha256", s, `${t}.${body}`, "hex")}` } };
    },
  },
  x: {
    secret: "x-consumer-secret",
    sdk: null,
    sign: (body, s) => ({ headers: { "x-twitter-webhooks-signature": "sha256=" + hmac("sha256", s, body, "base64") } }),
  },
  xero: { secret: "xero-webhook-key", sdk: null, sign: (body, s) => ({ headers: { "x-xero-signature": hmac("sha256", s, body, "base64") } }) },
  zendesk: {
    secret: "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==",
    sdk: null,
    sign: (body, s) => {
      const ts = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      return { headers: { "x-zendesk-webhook-signature-timestamp": ts, "x-zendesk-webhook-signature": hmac("sha256", s, ts + body, "base64") } };
    },
  },
  zoom: {
    secret: "zoom-secret-token",
    sdk: null,
    sign: (body, s) => {
      const ts = nowSecs();
      return { headers: { "x-zm-request-timestamp": String(ts), "x-zm-signature": "v0=" + hmac("sha256", s, `v0:${ts}:${body}`, "hex") } };
    },
  },
};

function svixSign(body, secret) {
  const id = `msg_${randomUUID()}`;
  const at = new Date();
  const signature = new SvixWebhook(secret).sign(id, at, body);
  return { headers: { "svix-id": id, "svix-timestamp": String(Math.floor(at / 1000)), "svix-signature": signature } };
}

function metaSign(body, secret) {
  return { headers: { "x-hub-signature-256": "sha256=" + hmac("sha256", secret, body, "hex") } };
}

const secretName = (provider) => `PROVIDER_${provider.toUpperCase().replaceAll("-", "_")}`;

let eh;
before(async () => {
  const base = testConfig();
  const collectors = Object.keys(PROVIDERS).map((p) => ({ name: p, auth: { scheme: p, secrets: [secretName(p)] } }));
  // A recipe of no provider: HMAC-SHA512 over method, URL and body, base64url.
  collectors.push({
    name: "recipe512",
    auth: { scheme: "recipe", secrets: ["RECIPE_512"], header: "X-Sig", algorithm: "hmac-sha512", encoding: "base64url", template: "{method} {url}\n{body}" },
  });
  // Senders that post forms: Twilio's form posts, Slack's docs example (an old
  // timestamp, so its tolerance is off), Mandrill.
  collectors.push(
    { name: "twilio-form", accept: ["json", "form"], auth: { scheme: "twilio", secrets: [secretName("twilio")] } },
    { name: "slack-docs", accept: ["form"], auth: { scheme: "slack", secrets: [secretName("slack")], tolerance_secs: 0 } },
    { name: "mandrill", accept: ["form"], auth: { scheme: "mandrill", secrets: ["PROVIDER_MANDRILL"] } },
  );
  const secrets = { ...TEST_SECRETS, RECIPE_512: "recipe-512-key", PROVIDER_MANDRILL: "mandrill-webhook-key" };
  for (const [p, { secret }] of Object.entries(PROVIDERS)) secrets[secretName(p)] = secret;
  eh = await start({ config: { ...base, collectors: [...base.collectors, ...collectors] }, secrets });
  // Asana and Notion hand their signing secret over in a handshake (docs/PROVIDERS.md,
  // Handshakes); until then their collectors refuse everything else.
  const asana = await eh.fetch("/hooks/asana", { method: "POST", headers: { "x-hook-secret": PROVIDERS.asana.secret }, body: "" });
  assert.equal(asana.status, 200, "asana handshake");
  const notion = await eh.fetch("/hooks/notion", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ verification_token: PROVIDERS.notion.secret }),
  });
  assert.equal(notion.status, 200, "notion handshake");
});
after(() => eh?.dispose());

/** The request provider `p` sends for `payload` signed with `secret`. */
async function request(p, payload, secret) {
  const spec = PROVIDERS[p];
  const body = spec.body ? spec.body(payload) : payload;
  const made = await spec.sign(body, secret);
  const headers = Object.fromEntries(Object.entries(made.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { path: made.path ?? `/hooks/${p}`, headers: { "content-type": "application/json", ...headers }, body: made.body ?? body };
}

/** Whether the provider's SDK accepts `req` (a verifier that throws refuses). */
async function sdkAccepts(spec, req) {
  try {
    return Boolean(await spec.verify(req, req.body));
  } catch {
    return false;
  }
}

async function send(req) {
  const r = await eh.fetch(req.path, { method: "POST", headers: req.headers, body: req.body });
  return { status: r.status, body: await r.json() };
}

test("every_preset_has_an_interop_case_here", () => {
  const presets = Object.keys(JSON.parse(readFileSync(path.join(root, "src/auth/providers.json"), "utf8")));
  const untested = presets.filter((p) => !(p in PROVIDERS) && !FORM_ONLY.includes(p));
  assert.ok(presets.length >= 50, `${presets.length} presets`);
  assert.deepEqual(untested, [], "presets without an interop case");
});

// Providers that only ever post forms: tested below, by collectors that accept forms.
const FORM_ONLY = ["mandrill"];

test("requests_signed_the_providers_way_are_accepted_and_land_in_r2", async () => {
  for (const [p, spec] of Object.entries(PROVIDERS)) {
    const req = await request(p, JSON.stringify({ via: p }), spec.secret);
    if (spec.verify) assert.ok(await sdkAccepts(spec, req), `${spec.sdk} refuses its own request (${p})`);
    const r = await send(req);
    assert.equal(r.status, 202, `${p}: ${JSON.stringify(r.body)}`);
  }
  for (const p of Object.keys(PROVIDERS)) {
    await eh.until(async () => (await eh.lines(`collectors/${p}/`)).some((l) => JSON.stringify(l).includes(`"via":"${p}"`)), 15000, p);
  }
});

test("tampered_bodies_and_other_secrets_are_refused_401", async () => {
  for (const [p, spec] of Object.entries(PROVIDERS)) {
    // Another secret (for token schemes, another token).
    const other = spec.secret.startsWith("whsec_") ? "whsec_" + Buffer.from("another-key").toString("base64") : "not-" + spec.secret;
    const forged = await request(p, JSON.stringify({ via: p, forged: true }), other);
    if (spec.verify) assert.ok(!(await sdkAccepts(spec, forged)), `${spec.sdk} accepts another secret (${p})`);
    const r = await send(forged);
    assert.equal(r.status, 401, `${p} (other secret): ${JSON.stringify(r.body)}`);
    assert.ok(["invalid_signature", "malformed_signature"].includes(r.body.error.code), `${p}: ${r.body.error.code}`);
    if (spec.token) continue; // a token covers nothing of the body
    // A good signature over one body does not carry over to another.
    const good = await request(p, JSON.stringify({ via: p }), spec.secret);
    const otherBody = JSON.stringify({ via: p, forged: true });
    const body = spec.tamper ? spec.tamper(good.body) : spec.body ? spec.body(otherBody) : otherBody;
    const tampered = { ...good, body };
    if (spec.verify) assert.ok(!(await sdkAccepts(spec, tampered)), `${spec.sdk} accepts a tampered body (${p})`);
    const t = await send(tampered);
    assert.deepEqual([t.status, t.body.error?.code], [401, "invalid_signature"], `${p} (tampered body): ${JSON.stringify(t.body)}`);
  }
  for (const p of Object.keys(PROVIDERS)) {
    assert.ok(!(await eh.lines(`collectors/${p}/`)).some((l) => JSON.stringify(l).includes('"forged":true')), p);
  }
});

test("a_request_without_the_providers_headers_answers_400_missing_header", async () => {
  for (const p of ["slack", "shopify", "discord", "sendgrid", "svix", "twitch", "gitlab"]) {
    const r = await send({ path: `/hooks/${p}`, headers: { "content-type": "application/json" }, body: "{}" });
    assert.deepEqual([r.status, r.body.error.code], [400, "missing_header"], p);
  }
});

test("stale_timestamps_are_refused_where_the_provider_signs_one", async () => {
  const stale = nowSecs() - 3600;
  const slack = { path: "/hooks/slack", body: '{"stale":1}' };
  slack.headers = {
    "content-type": "application/json",
    "x-slack-request-timestamp": String(stale),
    "x-slack-signature": "v0=" + hmac("sha256", PROVIDERS.slack.secret, `v0:${stale}:${slack.body}`, "hex"),
  };
  assert.throws(() => verifySlackRequest({ signingSecret: PROVIDERS.slack.secret, body: slack.body, headers: slack.headers }));
  const r = await send(slack);
  assert.deepEqual([r.status, r.body.error.code], [401, "timestamp_out_of_tolerance"]);
  const id = `msg_${randomUUID()}`;
  const sig = new SvixWebhook(PROVIDERS.svix.secret).sign(id, new Date(stale * 1000), '{"stale":1}');
  const s = await send({ path: "/hooks/svix", headers: { "content-type": "application/json", "svix-id": id, "svix-timestamp": String(stale), "svix-signature": sig }, body: '{"stale":1}' });
  assert.deepEqual([s.status, s.body.error.code], [401, "timestamp_out_of_tolerance"]);
});

test("a_custom_recipe_with_hmac_sha512_verifies_through_webcrypto", async () => {
  // Small and large bodies: SHA-512 goes to WebCrypto whatever the size.
  for (const size of [10, 64 * 1024]) {
    const body = JSON.stringify({ pad: "x".repeat(size) });
    const signed = `POST ${urlOf("recipe512")}/orders?x=1\n${body}`;
    const sig = hmac("sha512", "recipe-512-key", signed, "base64url");
    const ok = await send({ path: "/hooks/recipe512/orders?x=1", headers: { "content-type": "application/json", "x-sig": sig }, body });
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    const moved = await send({ path: "/hooks/recipe512/orders?x=2", headers: { "content-type": "application/json", "x-sig": sig }, body });
    assert.deepEqual([moved.status, moved.body.error.code], [401, "invalid_signature"]);
  }
});

// Providers that post forms (collectors with accept = ["json", "form"]).
const FORM = { "content-type": "application/x-www-form-urlencoded" };

test("twilio_form_posts_signed_by_the_sdk_are_accepted", async () => {
  const params = { CallSid: "CA1234567890ABCDE", Caller: "+12349013030", Digits: "1234", From: "+12349013030", To: "+18005551212", Body: "a b&c=d" };
  const url = urlOf("twilio-form");
  const sig = twilio.getExpectedTwilioSignature(PROVIDERS.twilio.secret, url, params);
  assert.ok(twilio.validateRequest(PROVIDERS.twilio.secret, sig, url, params), "twilio refuses its own request");
  const body = new URLSearchParams(params).toString();
  const ok = await send({ path: "/hooks/twilio-form", headers: { ...FORM, "x-twilio-signature": sig }, body });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  const tampered = new URLSearchParams({ ...params, Digits: "9999" }).toString();
  const bad = await send({ path: "/hooks/twilio-form", headers: { ...FORM, "x-twilio-signature": sig }, body: tampered });
  assert.deepEqual([bad.status, bad.body.error.code], [401, "invalid_signature"]);
});

test("slacks_docs_example_is_accepted_verbatim", async () => {
  // "Verifying requests from Slack": the slash command, its timestamp and signature.
  const body =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
  const headers = { ...FORM, "x-slack-request-timestamp": "1531420618", "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503" };
  const ok = await send({ path: "/hooks/slack-docs", headers, body });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  const bad = await send({ path: "/hooks/slack-docs", headers, body: body.replace("roadrunner", "coyote") });
  assert.deepEqual([bad.status, bad.body.error.code], [401, "invalid_signature"]);
});

test("mandrill_form_posts_are_accepted", async () => {
  // Mandrill's docs: base64 HMAC-SHA1 of the URL followed by each POST field's name and value, sorted by name.
  const events = JSON.stringify([{ event: "send", ts: nowSecs() }]);
  const sig = hmac("sha1", "mandrill-webhook-key", urlOf("mandrill") + "mandrill_events" + events, "base64");
  const body = new URLSearchParams({ mandrill_events: events }).toString();
  const ok = await send({ path: "/hooks/mandrill", headers: { ...FORM, "x-mandrill-signature": sig }, body });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  const bad = await send({ path: "/hooks/mandrill", headers: { ...FORM, "x-mandrill-signature": sig }, body: body.replace("send", "open") });
  assert.deepEqual([bad.status, bad.body.error.code], [401, "invalid_signature"]);
});
