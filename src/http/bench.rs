//! Bench-only routes, compiled in only with the `bench` cargo feature; release builds
//! have none (bench/run.sh checks). `POST /__bench/crypto` runs one verification `n`
//! times inside the worker, so bench/bench.mjs can time the wasm build's crypto in
//! workerd (the request with `n` against the same request with `n = 0`).
//! `POST /__bench/noop`, `/__bench/send` and `/__bench/hmac-send` are the Rust floors of
//! the end-to-end table: read the body and answer 202, send it as a string to `INGEST`
//! first, or check its `Authorization: HMAC-SHA256 <hex>` under `AMO_KEY` through
//! WebCrypto and then send it.
//!
//! The crypto body: `{"op", "n", "bytes"?, "alg"?}`. Ops: `hmac` (the collector's HMAC check, as
//! production runs it), `hmac-rust` and `hmac-webcrypto` (one backend, forced),
//! `standard-webhooks` (v1 over a 1 KiB body), `jwt` with `alg` RS256 / ES256 / EdDSA /
//! HS256 (parse + signature of the RFC vector token), `accept` (the hmac collector's
//! whole `accept()`: checks, verify, JSON parse, record line).

use serde::Deserialize;
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Env, QueueContentType, RawMessageBuilder, Request, Response};

use super::call::{json_response, read_json};
use crate::auth::api_key::NoKeys;
use crate::auth::keys::{Keyring, parse_keys};
use crate::auth::{AuthContext, hmac, jwt, standard_webhooks};
use crate::collect::accept::accept;
use crate::config::Config;
use crate::crypto::hmac_sha256;
use crate::crypto::webcrypto::{WebCrypto, subtle_hmac_sha256};
use crate::error::{ApiError, ErrorCode};
use crate::inbound::{HeaderMap, InboundRequest};
use crate::secrets::Secrets;
use crate::steps::NoPlugins;

/// Paths under this prefix go to [`handle`].
pub const PREFIX: &str = "/__bench/";

#[derive(Deserialize)]
struct Job {
    op: String,
    n: u32,
    #[serde(default = "default_bytes")]
    bytes: usize,
    #[serde(default)]
    alg: String,
}

fn default_bytes() -> usize {
    1024
}

/// A JSON object of about `n` bytes, as benches/core.rs builds it.
fn json_body(n: usize) -> Vec<u8> {
    let filler = "x".repeat(n.saturating_sub(40));
    format!(r#"{{"event":"bench","id":12345,"data":"{filler}"}}"#).into_bytes()
}

fn failed(what: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::BenchFailed, what.to_string())
}

/// Serves a bench request; `serve` answers its errors like every other route's.
pub async fn handle(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    match req.path().as_str() {
        "/__bench/crypto" => {
            let job: Job = read_json(&mut req).await?;
            run(&job).await?;
            Ok(json_response(200, &json!({"op": job.op, "n": job.n})))
        }
        // The Rust floors: what any workers-rs worker pays for a request, doing
        // nothing but reading the body (and sending it to the queue).
        "/__bench/noop" => {
            req.bytes().await.map_err(failed)?;
            Ok(json_response(202, &json!({"status": "accepted"})))
        }
        "/__bench/send" => {
            let text = req.text().await.map_err(failed)?;
            let queue = env.queue("INGEST").map_err(failed)?;
            let message = RawMessageBuilder::new(JsValue::from_str(&text))
                .build_with_content_type(QueueContentType::Json);
            queue.send_raw(message).await.map_err(failed)?;
            Ok(json_response(202, &json!({"status": "accepted"})))
        }
        "/__bench/hmac-send" => {
            let signature = req.headers().get("authorization").map_err(failed)?;
            let text = req.text().await.map_err(failed)?;
            let key = env.secret("AMO_KEY").map_err(failed)?.to_string();
            let mac = subtle_hmac_sha256(key.as_bytes(), text.as_bytes())
                .await
                .map_err(failed)?;
            let expected = format!("HMAC-SHA256 {}", hex::encode(mac));
            if signature.as_deref() != Some(expected.as_str()) {
                return Err(failed("the HMAC does not match"));
            }
            let queue = env.queue("INGEST").map_err(failed)?;
            let message = RawMessageBuilder::new(JsValue::from_str(&text))
                .build_with_content_type(QueueContentType::Json);
            queue.send_raw(message).await.map_err(failed)?;
            Ok(json_response(202, &json!({"status": "accepted"})))
        }
        other => Err(ApiError::not_found(other)),
    }
}

async fn run(job: &Job) -> Result<(), ApiError> {
    let key: &[u8] = b"amo-bench-key";
    let body = json_body(job.bytes);
    match job.op.as_str() {
        "hmac" => {
            let auth = hmac::authorization(key, &body);
            for _ in 0..job.n {
                hmac::verify(&WebCrypto, &[key], Some(&auth), &body)
                    .await
                    .map_err(|e| failed(format!("{e:?}")))?;
            }
        }
        "hmac-rust" => {
            for _ in 0..job.n {
                std::hint::black_box(hmac_sha256(key, &body));
            }
        }
        "hmac-webcrypto" => {
            for _ in 0..job.n {
                subtle_hmac_sha256(key, &body).await.map_err(failed)?;
            }
        }
        "standard-webhooks" => {
            let keys = [
                standard_webhooks::decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                    .map_err(failed)?,
            ];
            let now_secs = 1_800_000_000;
            let headers = HeaderMap::from_pairs([
                ("webhook-id", "msg_bench".to_string()),
                ("webhook-timestamp", now_secs.to_string()),
                (
                    "webhook-signature",
                    standard_webhooks::sign(&keys[0], "msg_bench", now_secs, &body),
                ),
            ]);
            for _ in 0..job.n {
                standard_webhooks::verify(&WebCrypto, &keys, &[], &headers, &body, now_secs)
                    .await
                    .map_err(|e| failed(format!("{e:?}")))?;
            }
        }
        "jwt" => {
            let vectors: Value = serde_json::from_str(include_str!("../../tests/vectors/jwt.json"))
                .map_err(failed)?;
            let case = vectors["cases"]
                .as_array()
                .and_then(|cases| cases.iter().find(|c| c["alg"] == job.alg.as_str()))
                .ok_or_else(|| failed(format!("no JWT vector for {:?}", job.alg)))?;
            let keys = parse_keys(&case["key"].to_string()).map_err(failed)?;
            let token = case["token"].as_str().unwrap_or_default();
            for _ in 0..job.n {
                jwt::verify_signature(&WebCrypto, &keys, token)
                    .await
                    .map_err(|e| failed(format!("{e:?}")))?;
            }
        }
        "accept" => {
            let config = Config::parse(
                r#"{"public_url": "https://hooks.example.com", "collectors": [
                    {"name": "amo", "max_body_bytes": 1048576, "auth": {"scheme": "hmac", "secrets": ["K"]}}]}"#,
            )
            .map_err(failed)?;
            let collector = config
                .collector("amo")
                .ok_or_else(|| failed("no collector"))?;
            let secrets = Secrets::from_pairs([("K", "amo-bench-key")]);
            let keyring = Keyring::default();
            let req = InboundRequest {
                method: "POST".into(),
                sub_path: "/".into(),
                headers: HeaderMap::from_pairs([
                    ("content-type", "application/json".to_string()),
                    ("authorization", hmac::authorization(key, &body)),
                ]),
                body,
                ..Default::default()
            };
            let cx = AuthContext {
                secrets: &secrets,
                keyring: &keyring,
                crypto: &WebCrypto,
                api_keys: &NoKeys,
                now_secs: 1_800_000_000,
            };
            for _ in 0..job.n {
                std::hint::black_box(
                    accept(
                        collector,
                        &cx,
                        &NoPlugins,
                        &req,
                        "01JBENCH",
                        1_800_000_000_000,
                    )
                    .await?,
                );
            }
        }
        other => return Err(failed(format!("unknown op {other:?}"))),
    }
    Ok(())
}
