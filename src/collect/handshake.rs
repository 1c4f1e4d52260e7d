//! Handshakes answered at the edge: the requests a provider sends to prove an endpoint is
//! its own (Slack's `url_verification`, Meta's `hub.challenge`, X's CRC, …), answered
//! exactly as that provider expects and never archived as records.
//!
//! A collector names its provider with `handshake = "<provider>"` (or a table with
//! `provider` and the `secrets` a handshake is keyed by); without it, a collector whose
//! `auth.scheme` is a provider's name with a handshake answers that provider's. A
//! handshake the provider signs is answered only once the request passes the collector's
//! `auth` ([`Handshake::signed`]); the others carry their own proof (Meta's verify token)
//! or prove nothing the answer could leak (an echo, a MAC under the collector's secret).

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::auth::api_key::ApiKeyStore;
use crate::auth::{self, AuthContext};
use crate::config::Collector;
use crate::crypto::Crypto;
use crate::error::{ApiError, ConfigError, ErrorCode};
use crate::inbound::InboundRequest;
use crate::secrets::Secrets;

/// A provider whose handshake edgehook answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// `POST {"type":"url_verification","challenge"}` → `{"challenge"}`; signed.
    Slack,
    /// `POST {"event":"endpoint.url_validation","payload":{"plainToken"}}` →
    /// `{"plainToken","encryptedToken"}` (hex HMAC-SHA256 under the secret token); signed.
    Zoom,
    /// `GET ?hub.mode=subscribe&hub.verify_token&hub.challenge` → the challenge, when the
    /// verify token is one of `secrets`.
    Meta,
    /// `GET ?crc_token` → `{"response_token":"sha256=<base64 HMAC-SHA256>"}` under the
    /// consumer secret.
    X,
    /// `GET ?challenge` → the challenge as text, `X-Content-Type-Options: nosniff`.
    Dropbox,
    /// `POST ?validationToken` → the token as text.
    MicrosoftGraph,
    /// `GET` with `X-Okta-Verification-Challenge` → `{"verification"}`; Okta sends the
    /// authorization it was given, so it must pass `auth`.
    Okta,
    /// `POST {"type":1}` (PING) → `{"type":1}`; signed.
    Discord,
    /// `POST` with `Twitch-Eventsub-Message-Type: webhook_callback_verification` → the
    /// challenge as text; signed.
    Twitch,
    /// `POST` with `X-Hook-Secret` → `200` echoing it; the secret is kept sealed and every
    /// later request must carry `X-Hook-Signature` (hex HMAC-SHA256 of the body) under it.
    Asana,
    /// `HEAD` → `200`.
    Trello,
    /// `POST {"verification_token"}` → `200`; the token is kept sealed (the operator reads
    /// it from `GET /admin/handshakes` to paste into Notion) and every later request must
    /// carry `X-Notion-Signature: sha256=<hex HMAC-SHA256 of the body>` under it.
    Notion,
    /// `POST {"challenge"}` → the same JSON.
    Monday,
}

impl Provider {
    /// The name in the config (the provider's `auth.scheme` name too).
    pub fn name(self) -> &'static str {
        match self {
            Provider::Slack => "slack",
            Provider::Zoom => "zoom",
            Provider::Meta => "meta",
            Provider::X => "x",
            Provider::Dropbox => "dropbox",
            Provider::MicrosoftGraph => "microsoft-graph",
            Provider::Okta => "okta",
            Provider::Discord => "discord",
            Provider::Twitch => "twitch",
            Provider::Asana => "asana",
            Provider::Trello => "trello",
            Provider::Notion => "notion",
            Provider::Monday => "monday",
        }
    }

    /// Every provider, for the scheme-name default and the docs.
    pub const ALL: [Provider; 13] = [
        Provider::Slack,
        Provider::Zoom,
        Provider::Meta,
        Provider::X,
        Provider::Dropbox,
        Provider::MicrosoftGraph,
        Provider::Okta,
        Provider::Discord,
        Provider::Twitch,
        Provider::Asana,
        Provider::Trello,
        Provider::Notion,
        Provider::Monday,
    ];

    /// The provider an `auth.scheme` name stands for, if it has a handshake.
    pub fn of_scheme(scheme: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == scheme)
    }

    /// Whether the handshake is keyed by a secret (`secrets` required).
    fn keyed(self) -> bool {
        matches!(self, Provider::Zoom | Provider::Meta | Provider::X)
    }

    /// Whether its key is a secret of its own, not the one the provider signs with
    /// (Meta's verify token is not the app secret; Zoom's secret token and X's consumer
    /// secret are what their signatures are keyed by, so the collector's `auth` secrets
    /// serve when the handshake names none).
    fn own_secret(self) -> bool {
        self == Provider::Meta
    }

    /// Whether the handshake gives a secret that later requests are verified with.
    pub fn stores_secret(self) -> bool {
        matches!(self, Provider::Asana | Provider::Notion)
    }

    /// The request headers its handshake (and [`verify_stored`]) reads, lower case.
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            Provider::Okta => &["x-okta-verification-challenge"],
            Provider::Twitch => &["twitch-eventsub-message-type"],
            Provider::Asana => &["x-hook-secret", "x-hook-signature"],
            Provider::Notion => &["x-notion-signature"],
            _ => &[],
        }
    }

    /// The methods its handshake comes with besides `POST`.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Provider::Meta | Provider::X | Provider::Dropbox | Provider::Okta => &["GET"],
            Provider::Trello => &["HEAD"],
            _ => &[],
        }
    }
}

/// A collector's `handshake`: a provider's name, or a table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum HandshakeConfig {
    /// `handshake = "slack"`.
    Name(Provider),
    /// `handshake = { provider = "zoom", secrets = ["ZOOM_SECRET_TOKEN"] }`.
    Table {
        /// The provider whose handshake this is.
        provider: Provider,
        /// The secrets the handshake is keyed by (Zoom's secret token, Meta's verify
        /// token, X's consumer secret); several for rotation, the first answers.
        #[serde(default)]
        secrets: Vec<String>,
    },
}

impl HandshakeConfig {
    /// The provider whose handshake this is.
    pub fn provider(&self) -> Provider {
        match self {
            HandshakeConfig::Name(p) | HandshakeConfig::Table { provider: p, .. } => *p,
        }
    }

    /// The secret names it is keyed by.
    pub fn secrets(&self) -> &[String] {
        match self {
            HandshakeConfig::Name(_) => &[],
            HandshakeConfig::Table { secrets, .. } => secrets,
        }
    }

    /// Checks the secrets a provider needs are named; `path` is `collectors[i].handshake`,
    /// `auth_secrets` how many secrets the collector's `auth` names (Zoom's and X's
    /// handshakes fall back on them).
    pub fn validate(&self, path: &str, auth_secrets: usize) -> Result<(), ConfigError> {
        let provider = self.provider();
        let name = provider.name();
        if provider.keyed() && self.secrets().is_empty() {
            if provider.own_secret() {
                return Err(ConfigError(format!(
                    "{path}: {name}'s handshake is keyed by its verify token: write {{ provider = \"{name}\", secrets = [\"NAME\"] }}"
                )));
            }
            if auth_secrets == 0 {
                return Err(ConfigError(format!(
                    "{path}: {name}'s handshake is keyed by the provider's secret: name it in auth.secrets or write {{ provider = \"{name}\", secrets = [\"NAME\"] }}"
                )));
            }
        }
        for (i, name) in self.secrets().iter().enumerate() {
            let ok =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(ConfigError(format!(
                    "{path}.secrets[{i}]: {name:?} is not a secret name (letters, digits, '_')"
                )));
            }
        }
        Ok(())
    }

    /// `(key, secret name)` for every secret it names.
    pub fn secret_refs(&self, path: &str) -> Vec<(String, String)> {
        self.secrets()
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{path}.secrets[{i}]"), s.clone()))
            .collect()
    }
}

/// The body of a handshake's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    /// `application/json`.
    Json(Value),
    /// `text/plain` (with `X-Content-Type-Options: nosniff`: an echo is never a page).
    Text(String),
    /// An empty body (status and headers carry the answer).
    Empty,
}

/// A handshake's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Always `200`.
    pub status: u16,
    /// What it says.
    pub body: ReplyBody,
    /// Headers besides the content type (Asana's `X-Hook-Secret`).
    pub headers: Vec<(&'static str, String)>,
}

fn reply(body: ReplyBody) -> Reply {
    Reply {
        status: 200,
        body,
        headers: Vec::new(),
    }
}

/// A handshake recognised in a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// The provider whose handshake was recognised.
    pub provider: Provider,
    /// The provider signs it: answer only once the request passes the collector's `auth`.
    pub signed: bool,
    /// A secret to keep sealed before answering (Asana's hook secret, Notion's token).
    pub secret: Option<String>,
    /// What to answer the provider (status, body, headers).
    pub reply: Reply,
}

/// Handshake bodies are small; a larger body is never parsed to look for one, so a
/// collector with a handshake pays nothing for its big webhooks.
const MAX_HANDSHAKE_BODY: usize = 16 * 1024;

/// The small JSON object of a possible handshake body that mentions `needle` (looked for
/// before anything is parsed, so an ordinary webhook costs one memchr-speed scan).
fn small_object(req: &InboundRequest, needle: &[u8]) -> Option<serde_json::Map<String, Value>> {
    if req.body.len() > MAX_HANDSHAKE_BODY
        || !req.body.starts_with(b"{")
        || memchr::memmem::find(&req.body, needle).is_none()
    {
        return None;
    }
    match crate::json::parse(&req.body).ok()? {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

fn query_param(req: &InboundRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    crate::crypto::hmac_sha256(key, data).to_vec()
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidHandshake, message)
}

/// Recognises `provider`'s handshake in `req`; `secrets` are the values of the
/// handshake's `secrets`. `Ok(None)`: not a handshake, handle it as a webhook.
pub fn detect(
    provider: Provider,
    req: &InboundRequest,
    secrets: &[&str],
) -> Result<Option<Handshake>, ApiError> {
    let found = |signed: bool, reply: Reply| {
        Ok(Some(Handshake {
            provider,
            signed,
            secret: None,
            reply,
        }))
    };
    let text = |s: String| reply(ReplyBody::Text(s));
    let first_secret = || {
        secrets
            .first()
            .copied()
            .ok_or_else(|| ApiError::internal("handshake secret missing"))
    };
    let method = req.method.as_str();
    match provider {
        Provider::Slack if method == "POST" => {
            let Some(o) = small_object(req, b"url_verification") else {
                return Ok(None);
            };
            if o.get("type").and_then(Value::as_str) != Some("url_verification") {
                return Ok(None);
            }
            match o.get("challenge") {
                Some(Value::String(c)) => {
                    found(true, reply(ReplyBody::Json(json!({"challenge": c}))))
                }
                _ => Err(bad("a url_verification needs a challenge string")),
            }
        }
        Provider::Zoom if method == "POST" => {
            let Some(o) = small_object(req, b"endpoint.url_validation") else {
                return Ok(None);
            };
            if o.get("event").and_then(Value::as_str) != Some("endpoint.url_validation") {
                return Ok(None);
            }
            let plain = o.get("payload").and_then(|p| p.get("plainToken"));
            let Some(plain) = plain.and_then(Value::as_str) else {
                return Err(bad("an endpoint.url_validation needs payload.plainToken"));
            };
            let encrypted = hex::encode(hmac_sha256(first_secret()?.as_bytes(), plain.as_bytes()));
            found(
                true,
                reply(ReplyBody::Json(
                    json!({"plainToken": plain, "encryptedToken": encrypted}),
                )),
            )
        }
        Provider::Meta if method == "GET" => {
            if query_param(req, "hub.mode").as_deref() != Some("subscribe") {
                return Ok(None);
            }
            let token = query_param(req, "hub.verify_token").unwrap_or_default();
            let challenge = query_param(req, "hub.challenge")
                .ok_or_else(|| bad("a subscription check needs hub.challenge"))?;
            let known = secrets
                .iter()
                .any(|s| bool::from(s.as_bytes().ct_eq(token.as_bytes())));
            if !known {
                return Err(ApiError::new(
                    ErrorCode::InvalidVerifyToken,
                    "hub.verify_token is not this collector's verify token",
                ));
            }
            found(false, text(challenge))
        }
        Provider::X if method == "GET" => {
            let Some(token) = query_param(req, "crc_token") else {
                return Ok(None);
            };
            let mac = hmac_sha256(first_secret()?.as_bytes(), token.as_bytes());
            let b64 = base64::engine::general_purpose::STANDARD.encode(mac);
            found(
                false,
                reply(ReplyBody::Json(
                    json!({"response_token": format!("sha256={b64}")}),
                )),
            )
        }
        Provider::Dropbox if method == "GET" => match query_param(req, "challenge") {
            Some(challenge) => found(false, text(challenge)),
            None => Ok(None),
        },
        Provider::MicrosoftGraph if method == "POST" => match query_param(req, "validationToken") {
            Some(token) => found(false, text(token)),
            None => Ok(None),
        },
        Provider::Okta if method == "GET" => {
            match req.headers.get("x-okta-verification-challenge") {
                Some(c) => found(true, reply(ReplyBody::Json(json!({"verification": c})))),
                None => Ok(None),
            }
        }
        Provider::Discord if method == "POST" => {
            let Some(o) = small_object(req, b"type") else {
                return Ok(None);
            };
            if o.get("type").and_then(Value::as_u64) != Some(1) {
                return Ok(None);
            }
            found(true, reply(ReplyBody::Json(json!({"type": 1}))))
        }
        Provider::Twitch if method == "POST" => {
            let kind = req.headers.get("twitch-eventsub-message-type");
            if kind != Some("webhook_callback_verification") {
                return Ok(None);
            }
            let o = small_object(req, b"challenge").unwrap_or_default();
            match o.get("challenge") {
                Some(Value::String(c)) => found(true, text(c.clone())),
                _ => Err(bad(
                    "a webhook_callback_verification needs a challenge string",
                )),
            }
        }
        Provider::Asana if method == "POST" => {
            let Some(secret) = req.headers.get("x-hook-secret") else {
                return Ok(None);
            };
            if secret.is_empty() || secret.len() > 1024 {
                return Err(bad("X-Hook-Secret must hold 1 to 1024 characters"));
            }
            let mut r = reply(ReplyBody::Empty);
            r.headers.push(("x-hook-secret", secret.to_string()));
            Ok(Some(Handshake {
                provider,
                signed: false,
                secret: Some(secret.to_string()),
                reply: r,
            }))
        }
        Provider::Trello if method == "HEAD" => found(false, reply(ReplyBody::Empty)),
        Provider::Notion if method == "POST" => {
            let Some(o) = small_object(req, b"verification_token") else {
                return Ok(None);
            };
            let Some(Value::String(token)) = o.get("verification_token") else {
                return Ok(None);
            };
            if token.is_empty() || token.len() > 1024 {
                return Err(bad("verification_token must hold 1 to 1024 characters"));
            }
            Ok(Some(Handshake {
                provider,
                signed: false,
                secret: Some(token.clone()),
                reply: reply(ReplyBody::Empty),
            }))
        }
        Provider::Monday if method == "POST" => {
            let Some(o) = small_object(req, b"challenge") else {
                return Ok(None);
            };
            match (o.len(), o.get("challenge")) {
                (1, Some(Value::String(c))) => {
                    found(false, reply(ReplyBody::Json(json!({"challenge": c}))))
                }
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// After an Asana or Notion handshake, every other request must be signed with a secret
/// the handshake gave (`stored`, unsealed): `X-Hook-Signature: <hex>` (Asana) or
/// `X-Notion-Signature: sha256=<hex>` (Notion), HMAC-SHA256 of the raw body. With no
/// secret stored yet, nothing is accepted but the handshake.
pub fn verify_stored(
    provider: Provider,
    stored: &[String],
    req: &InboundRequest,
) -> Result<(), ApiError> {
    let (header, prefix) = match provider {
        Provider::Asana => ("x-hook-signature", ""),
        Provider::Notion => ("x-notion-signature", "sha256="),
        _ => return Ok(()),
    };
    if stored.is_empty() {
        return Err(ApiError::new(
            ErrorCode::HandshakeRequired,
            format!(
                "{} has not completed its handshake with this collector yet",
                provider.name()
            ),
        ));
    }
    let value = req.headers.get(header).ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingHeader,
            format!("the {header} header is required"),
        )
    })?;
    let given = value
        .strip_prefix(prefix)
        .and_then(crate::auth::hex_mac)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MalformedSignature,
                format!("{header} must be {prefix}<64 hex digits>"),
            )
        })?;
    let matches = stored
        .iter()
        .any(|s| bool::from(hmac_sha256(s.as_bytes(), &req.body).ct_eq(&given)));
    if matches {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidSignature,
            "the signature does not match the body for the secret the handshake gave",
        ))
    }
}

/// The handshake in `req`, if `collector` answers one and this is it: checked against the
/// collector's `auth` first when the provider signs it (an unsigned or forged one is
/// refused exactly as a webhook would be).
pub async fn recognise<C: Crypto, K: ApiKeyStore>(
    collector: &Collector,
    cx: &AuthContext<'_, C, K>,
    req: &InboundRequest,
) -> Result<Option<Handshake>, ApiError> {
    let config = collector.handshake.as_ref();
    let Some(provider) = of_collector(config, collector.auth.scheme()) else {
        return Ok(None);
    };
    let mut secrets = secret_values(config, cx.secrets);
    if secrets.is_empty() && provider.keyed() {
        // Zoom, X: keyed by the secret the collector verifies their signatures with.
        let names = collector.auth.secret_refs("auth");
        secrets = names
            .iter()
            .filter_map(|(_, n)| cx.secrets.get(n))
            .collect();
    }
    let Some(handshake) = detect(provider, req, &secrets)? else {
        return Ok(None);
    };
    if handshake.signed {
        auth::verify(&collector.auth, cx, req).await?;
    }
    Ok(Some(handshake))
}

/// Whether a handshake giving `given` may go on, `stored` being what the collector holds
/// after storing the first one: the same secret again (the provider retrying) is fine;
/// another is `409 handshake_done` (the first handshake wins, so a stranger cannot swap
/// the secret later requests are checked with; an operator resets it with
/// `DELETE /admin/handshakes/{collector}`).
pub fn check_kept(stored: &str, given: &str) -> Result<(), ApiError> {
    if bool::from(stored.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::HandshakeDone,
            "this collector already holds the secret of an earlier handshake; an operator can forget it with DELETE /admin/handshakes/{collector}",
        ))
    }
}

/// The handshake a collector answers: its `handshake`, else its scheme's provider.
pub fn of_collector(handshake: Option<&HandshakeConfig>, scheme: &str) -> Option<Provider> {
    handshake
        .map(HandshakeConfig::provider)
        .or_else(|| Provider::of_scheme(scheme).filter(|p| !p.own_secret()))
}

/// The values of a handshake's secrets.
pub fn secret_values<'a>(
    handshake: Option<&'a HandshakeConfig>,
    secrets: &'a Secrets,
) -> Vec<&'a str> {
    handshake
        .map(|h| h.secrets().iter().filter_map(|n| secrets.get(n)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::HeaderMap;

    fn req(method: &str, query: &str, headers: &[(&str, &str)], body: &str) -> InboundRequest {
        InboundRequest {
            method: method.into(),
            sub_path: "/".into(),
            uri: "/hooks/x".into(),
            query: query.into(),
            headers: HeaderMap::from_pairs(headers.iter().copied()),
            body: body.as_bytes().to_vec(),
        }
    }

    fn answer(p: Provider, r: &InboundRequest, secrets: &[&str]) -> Handshake {
        detect(p, r, secrets).unwrap().expect("a handshake")
    }

    #[test]
    fn slack_url_verification_echoes_the_challenge_after_auth() {
        // Slack's documented example.
        let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let h = answer(Provider::Slack, &req("POST", "", &[], body), &[]);
        assert!(h.signed);
        assert_eq!(
            h.reply.body,
            ReplyBody::Json(
                json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
            )
        );
        let event = r#"{"type":"event_callback","event":{}}"#;
        assert_eq!(
            detect(Provider::Slack, &req("POST", "", &[], event), &[]),
            Ok(None)
        );
    }

    #[test]
    fn zoom_answers_the_hmac_of_the_plain_token() {
        let body = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        let h = answer(
            Provider::Zoom,
            &req("POST", "", &[], body),
            &["secret-token"],
        );
        // openssl: printf qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac secret-token
        let expected = hex::encode(hmac_sha256(b"secret-token", b"qgg8vlvZRS6UYooatFL8Aw"));
        assert_eq!(
            h.reply.body,
            ReplyBody::Json(
                json!({"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected})
            )
        );
        assert!(h.signed);
    }

    #[test]
    fn meta_checks_the_verify_token() {
        let q = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
        let h = answer(
            Provider::Meta,
            &req("GET", q, &[], ""),
            &["other", "meatyhamhock"],
        );
        assert_eq!(h.reply.body, ReplyBody::Text("1158201444".into()));
        let e = detect(Provider::Meta, &req("GET", q, &[], ""), &["nope"]).unwrap_err();
        assert_eq!((e.status(), e.code), (403, ErrorCode::InvalidVerifyToken));
        assert_eq!(
            detect(Provider::Meta, &req("GET", "", &[], ""), &["x"]),
            Ok(None)
        );
    }

    #[test]
    fn x_crc_answers_a_response_token() {
        let h = answer(
            Provider::X,
            &req("GET", "crc_token=abc%2B1", &[], ""),
            &["consumer-secret"],
        );
        let mac = hmac_sha256(b"consumer-secret", b"abc+1");
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac);
        assert_eq!(
            h.reply.body,
            ReplyBody::Json(json!({"response_token": format!("sha256={b64}")}))
        );
    }

    #[test]
    fn echoes_of_dropbox_graph_okta_twitch_monday() {
        let t = |p, r: InboundRequest| answer(p, &r, &[]).reply.body;
        assert_eq!(
            t(Provider::Dropbox, req("GET", "challenge=xyz", &[], "")),
            ReplyBody::Text("xyz".into())
        );
        assert_eq!(
            t(
                Provider::MicrosoftGraph,
                req(
                    "POST",
                    "validationToken=Validation%3A+Testing+client",
                    &[],
                    ""
                )
            ),
            ReplyBody::Text("Validation: Testing client".into())
        );
        assert_eq!(
            t(
                Provider::Okta,
                req("GET", "", &[("X-Okta-Verification-Challenge", "abc")], "")
            ),
            ReplyBody::Json(json!({"verification": "abc"}))
        );
        let twitch = req(
            "POST",
            "",
            &[(
                "Twitch-Eventsub-Message-Type",
                "webhook_callback_verification",
            )],
            r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2"}}"#,
        );
        assert_eq!(
            t(Provider::Twitch, twitch),
            ReplyBody::Text("pogchamp-kappa-360noscope-vohiyo".into())
        );
        assert_eq!(
            t(
                Provider::Monday,
                req("POST", "", &[], r#"{"challenge":"3eZbrw1"}"#)
            ),
            ReplyBody::Json(json!({"challenge": "3eZbrw1"}))
        );
        assert_eq!(
            t(Provider::Trello, req("HEAD", "", &[], "")),
            ReplyBody::Empty
        );
        assert_eq!(
            t(
                Provider::Discord,
                req("POST", "", &[], r#"{"type":1,"id":"1"}"#)
            ),
            ReplyBody::Json(json!({"type": 1}))
        );
        // Ordinary webhooks are not handshakes.
        for (p, r) in [
            (Provider::Discord, req("POST", "", &[], r#"{"type":2}"#)),
            (
                Provider::Monday,
                req("POST", "", &[], r#"{"challenge":"x","event":{}}"#),
            ),
            (
                Provider::Twitch,
                req(
                    "POST",
                    "",
                    &[("Twitch-Eventsub-Message-Type", "notification")],
                    "{}",
                ),
            ),
            (Provider::Trello, req("POST", "", &[], "{}")),
            (Provider::Dropbox, req("POST", "challenge=x", &[], "{}")),
        ] {
            assert_eq!(detect(p, &r, &[]), Ok(None), "{p:?}");
        }
    }

    #[test]
    fn asana_and_notion_give_a_secret_later_requests_are_verified_with() {
        let h = answer(
            Provider::Asana,
            &req("POST", "", &[("X-Hook-Secret", "s3cr3t")], ""),
            &[],
        );
        assert_eq!(h.secret.as_deref(), Some("s3cr3t"));
        assert_eq!(
            h.reply.headers,
            vec![("x-hook-secret", "s3cr3t".to_string())]
        );
        assert!(!h.signed);
        let body = r#"{"events":[]}"#;
        let sig = hex::encode(hmac_sha256(b"s3cr3t", body.as_bytes()));
        let signed = req("POST", "", &[("X-Hook-Signature", &sig)], body);
        assert_eq!(
            verify_stored(Provider::Asana, &["s3cr3t".into()], &signed),
            Ok(())
        );
        let e = verify_stored(Provider::Asana, &["other".into()], &signed).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidSignature);
        let e = verify_stored(Provider::Asana, &[], &signed).unwrap_err();
        assert_eq!((e.status(), e.code), (401, ErrorCode::HandshakeRequired));

        let h = answer(
            Provider::Notion,
            &req("POST", "", &[], r#"{"verification_token":"secret_tok"}"#),
            &[],
        );
        assert_eq!(h.secret.as_deref(), Some("secret_tok"));
        let sig = format!(
            "sha256={}",
            hex::encode(hmac_sha256(b"secret_tok", body.as_bytes()))
        );
        let signed = req("POST", "", &[("X-Notion-Signature", &sig)], body);
        assert_eq!(
            verify_stored(Provider::Notion, &["secret_tok".into()], &signed),
            Ok(())
        );
        let unsigned = req("POST", "", &[], body);
        assert_eq!(
            verify_stored(Provider::Notion, &["secret_tok".into()], &unsigned)
                .unwrap_err()
                .code,
            ErrorCode::MissingHeader
        );
    }

    #[test]
    fn config_names_a_provider_or_a_table_with_secrets() {
        let c: HandshakeConfig = serde_json::from_value(json!("microsoft-graph")).unwrap();
        assert_eq!(c.provider(), Provider::MicrosoftGraph);
        let c: HandshakeConfig =
            serde_json::from_value(json!({"provider": "zoom", "secrets": ["Z"]})).unwrap();
        assert_eq!(
            c.secret_refs("h"),
            vec![("h.secrets[0]".to_string(), "Z".to_string())]
        );
        let c: HandshakeConfig = serde_json::from_value(json!("zoom")).unwrap();
        assert!(
            c.validate("collectors[0].handshake", 0)
                .unwrap_err()
                .0
                .starts_with("collectors[0].handshake: zoom")
        );
        assert_eq!(c.validate("collectors[0].handshake", 1), Ok(()));
        let meta: HandshakeConfig = serde_json::from_value(json!("meta")).unwrap();
        assert!(
            meta.validate("h", 1)
                .unwrap_err()
                .0
                .contains("verify token")
        );
        assert_eq!(of_collector(None, "slack"), Some(Provider::Slack));
        assert_eq!(of_collector(None, "zoom"), Some(Provider::Zoom));
        assert_eq!(of_collector(None, "meta"), None);
        assert_eq!(of_collector(None, "hmac"), None);
    }
}
