// An invalid config never half-works: every route answers 500 invalid_config naming the key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { start, testConfig, TEST_SECRETS } from "./harness.mjs";

async function errorOf(eh, path, init) {
  const r = await eh.fetch(path, init);
  return { status: r.status, body: await r.json() };
}

test("invalid_config_answers_500_on_every_route_naming_the_key", async () => {
  const config = testConfig();
  config.collectors[0].max_body_bytes = 0;
  const eh = await start({ config });
  try {
    for (const [path, init] of [["/healthz"], ["/hooks/open", { method: "POST", body: "{}" }], ["/nowhere"]]) {
      const r = await errorOf(eh, path, init);
      assert.equal(r.status, 500, path);
      assert.equal(r.body.error.code, "invalid_config", path);
      assert.match(r.body.error.message, /^collectors\[0\]\.max_body_bytes: /, path);
    }
  } finally {
    await eh.dispose();
  }
});

test("a_missing_secret_is_a_config_error_naming_the_key", async () => {
  const eh = await start({ secrets: { AMO_KEY: TEST_SECRETS.AMO_KEY } });
  try {
    const r = await errorOf(eh, "/healthz");
    assert.equal(r.status, 500);
    assert.equal(r.body.error.message, "collectors[0].auth.secrets[1]: secret AMO_KEY_OLD is not set");
  } finally {
    await eh.dispose();
  }
});

test("config_given_as_a_json_string_works", async () => {
  const eh = await start({ config: JSON.stringify(testConfig()) });
  try {
    const r = await eh.fetch("/healthz");
    assert.equal(r.status, 200);
  } finally {
    await eh.dispose();
  }
});

test("a_config_that_is_not_json_names_the_variable", async () => {
  const eh = await start({ config: "{not json" });
  try {
    const r = await errorOf(eh, "/healthz");
    assert.equal(r.status, 500);
    assert.match(r.body.error.message, /^EDGEHOOK_CONFIG: /);
  } finally {
    await eh.dispose();
  }
});
