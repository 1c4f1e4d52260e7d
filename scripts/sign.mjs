#!/usr/bin/env node
// Signs a webhook for any edgehook auth scheme; prints the headers, prints a curl
// command, or sends it.
//
//   node scripts/sign.mjs <scheme> --url <collector URL> [--body JSON | --body @file | --body -]
//        [--secret VALUE | @file]  [--access-key K]  [--key JWK|PEM|@file] [--alg ALG]
//        [--sub S] [--claims JSON] [--ttl SECS] [--iss I] [--aud A] [--api-key K]
//        [--headers | --curl | --send]
//
// Schemes: hmac, github, standard-webhooks, stripe, ashirt, jwt, api-key, none.
// The secret may also come from $EDGEHOOK_SECRET (keeps it out of shell history).
// Examples:
//   node scripts/sign.mjs hmac --url http://127.0.0.1:8787/hooks/amo --secret dev-amo-key --body '{"a":1}' --send
//   node scripts/sign.mjs jwt --url http://127.0.0.1:8787/hooks/portal --key @private.jwk --sub alice --curl
import { parseArgs, valueOrFile, fail } from "./lib/args.mjs";
import { sign, curlCommand, SCHEMES } from "./lib/sign.mjs";

let args;
try {
  args = parseArgs(process.argv.slice(2), { flags: ["headers", "curl", "send", "help"] });
} catch (e) {
  fail(e.message);
}
const scheme = args._[0];
if (args.help || !scheme) {
  process.stdout.write(`usage: node scripts/sign.mjs <${SCHEMES.join("|")}> --url URL --body JSON [--secret S] [--headers|--curl|--send]\n`);
  process.exit(args.help ? 0 : 2);
}
if (!args.url) fail("--url is required (the collector URL the request goes to)");
const body = (await valueOrFile(args.body)) ?? "{}";
const method = args.method ?? "POST";
let headers;
try {
  headers = await sign(scheme, {
    body,
    url: args.url,
    method,
    secret: (await valueOrFile(args.secret)) ?? process.env.EDGEHOOK_SECRET,
    accessKey: args.accessKey,
    key: await valueOrFile(args.key),
    alg: args.alg,
    apiKey: args.apiKey,
    iss: args.iss,
    aud: args.aud,
    sub: args.sub,
    ttl: args.ttl ? Number(args.ttl) : undefined,
    claims: args.claims ? JSON.parse(args.claims) : undefined,
  });
} catch (e) {
  fail(e.message);
}

if (args.send) {
  const r = await fetch(args.url, { method, headers: { "content-type": "application/json", ...headers }, body });
  const text = await r.text();
  process.stdout.write(`${r.status} ${text}\n`);
  process.exit(r.ok ? 0 : 1);
} else if (args.curl) {
  process.stdout.write(curlCommand(args.url, headers, body, method) + "\n");
} else {
  for (const [k, v] of Object.entries(headers)) process.stdout.write(`${k}: ${v}\n`);
}
