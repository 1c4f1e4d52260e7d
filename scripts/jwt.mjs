#!/usr/bin/env node
// JWTs by hand: mint a token for a `jwt` collector, mint a service-account token to PATCH
// a result, or generate a key pair.
//
//   node scripts/jwt.mjs mint --key JWK|PEM|@file [--alg ALG] --url <collector URL> | --iss I --aud A
//        [--sub S] [--claims JSON] [--ttl SECS]
//   node scripts/jwt.mjs service-account --jwt-key KEY --jwt-secret SECRET     (exp = iat + 300, fresh jti)
//   node scripts/jwt.mjs generate RS256|ES256|EdDSA|HS256   → private JWK (sign with it) and public key (the secret)
import { parseArgs, valueOrFile, fail } from "./lib/args.mjs";
import { mintJwt, serviceAccountJwt, generateJwtKey, collectorUrl } from "./lib/sign.mjs";

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  fail(e.message);
}
const [command, arg] = args._;
try {
  if (command === "mint") {
    const base = args.url ? collectorUrl(args.url) : undefined;
    const iss = args.iss ?? base;
    const aud = args.aud ?? base;
    if (!iss || !aud) fail("give --url <collector URL>, or --iss and --aud");
    const key = await valueOrFile(args.key ?? process.env.EDGEHOOK_JWT_KEY);
    if (!key) fail("--key is required (a private JWK, a PKCS#8 PEM, or @file)");
    const claims = args.claims ? JSON.parse(args.claims) : {};
    process.stdout.write(
      (await mintJwt({ key, alg: args.alg, iss, aud, sub: args.sub, ttl: args.ttl ? Number(args.ttl) : 3600, claims })) + "\n",
    );
  } else if (command === "service-account") {
    const jwtKey = args.jwtKey;
    const jwtSecret = (await valueOrFile(args.jwtSecret)) ?? process.env.EDGEHOOK_JWT_SECRET;
    if (!jwtKey || !jwtSecret) fail("--jwt-key and --jwt-secret are required (from POST /admin/subscriptions)");
    process.stdout.write((await serviceAccountJwt({ jwtKey, jwtSecret })) + "\n");
  } else if (command === "generate") {
    const alg = arg ?? "ES256";
    if (!["RS256", "ES256", "EdDSA", "HS256"].includes(alg)) fail(`unsupported algorithm ${alg}`);
    const k = await generateJwtKey(alg);
    process.stdout.write(JSON.stringify({ private_jwk: k.private, public_jwk: k.public, public_pem: k.publicPem }, null, 2) + "\n");
  } else {
    fail("usage: node scripts/jwt.mjs mint|service-account|generate ... (see the header of this file)");
  }
} catch (e) {
  fail(e.message);
}
