// Every shell block of docs/SENDERS.md, run as written against the built worker with the
// dev config of wrangler.toml and the dev secrets of dev.vars.example: each must end in an
// accepted webhook. Keeps the sender guide copy-paste true.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { experimental_readRawConfig } from "wrangler";
import { start, root } from "./harness.mjs";

const run = promisify(execFile);

/** KEY="value" / KEY='value' lines of dev.vars.example. */
function devSecrets() {
  const out = {};
  for (const line of readFileSync(path.join(root, "dev.vars.example"), "utf8").split("\n")) {
    const m = /^([A-Z0-9_]+)=(?:"(.*)"|'(.*)'|(.*))$/.exec(line.trim());
    if (m) out[m[1]] = m[2] ?? m[3] ?? m[4];
  }
  return out;
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** The ```sh blocks of a markdown file. */
function shellBlocks(file) {
  const text = readFileSync(path.join(root, file), "utf8");
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

let eh, base;
before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const { rawConfig } = experimental_readRawConfig({ config: path.join(root, "wrangler.toml") });
  const config = { ...rawConfig.vars.EDGEHOOK_CONFIG, public_url: base };
  eh = await start({ config, secrets: devSecrets(), port });
});
after(() => eh?.dispose());

const blocks = shellBlocks("docs/SENDERS.md");

test("the_sender_guide_has_a_block_per_scheme", () => {
  for (const collector of ["amo", "github", "standard", "stripe", "ashirt", "portal", "scraper", "open"]) {
    assert.ok(blocks.some((b) => b.includes(`/hooks/${collector}`)), collector);
  }
});

for (const [i, block] of blocks.entries()) {
  const first = block.split("\n").find((l) => l.trim() && !l.startsWith("#"));
  test(`senders_md_block_${i + 1}_works: ${first.slice(0, 60)}`, async () => {
    const { stdout, stderr } = await run("bash", ["-euo", "pipefail", "-c", block], {
      cwd: root,
      env: { ...process.env, EDGEHOOK_URL: base },
    });
    if (block.includes("/hooks/")) {
      assert.match(stdout, /"status":"accepted"/, `${stdout}\n${stderr}`);
      assert.doesNotMatch(stdout, /"error"/, stdout);
    } else {
      assert.doesNotMatch(stdout + stderr, /error/i, stdout + stderr);
    }
  });
}
