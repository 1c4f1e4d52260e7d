//! `scheme = "recipe"`: a signature scheme described by data. A recipe names where the
//! signature is (`header`, `separator`, `prefix`), what is signed (`template`), how
//! (`algorithm`, `encoding`) and under which keys (`secrets`, `key_encoding`), with an
//! optional signed timestamp (`timestamp_header`, `tolerance_secs`). Every provider
//! preset of [`super::providers`] is a recipe, so a new HMAC-style provider needs no code.
//!
//! A recipe is checked and compiled when the config loads ([`Config::compile`]): a bad
//! one is a config error naming its key.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::keys::{self, KeyMaterial};
use super::{ApiKeyStore, AuthContext, AuthError, InboundRequest, Scheme, Verified};
use super::{InvalidSecret, check_secret, named, parse_timestamp, secret_values};
use crate::crypto::{Crypto, HmacHash, PublicKey, SigAlg, hmac_matches_any_with};
use crate::error::ConfigError;
use crate::secrets::Secrets;

/// Most signatures one request may carry (entries of one header, or several headers):
/// senders list one per active secret, two during a rotation; the cap bounds the work a
/// packed header could cost, each asymmetric signature being a full verify.
pub const MAX_SIGNATURES: usize = 16;

/// Default largest distance between a signed timestamp and now.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// How signatures are computed and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// HMAC-SHA1 under a shared secret.
    HmacSha1,
    /// HMAC-SHA256 under a shared secret.
    HmacSha256,
    /// HMAC-SHA512 under a shared secret.
    HmacSha512,
    /// Ed25519 under a public key.
    Ed25519,
    /// ECDSA P-256 with SHA-256 under a public key; signatures DER or `r || s`.
    EcdsaP256,
    /// No signature: the decoded header value is the secret itself (GitLab's token,
    /// Telegram's secret token, HTTP Basic credentials).
    Token,
}

impl Algorithm {
    fn hmac(self) -> Option<HmacHash> {
        match self {
            Algorithm::HmacSha1 => Some(HmacHash::Sha1),
            Algorithm::HmacSha256 => Some(HmacHash::Sha256),
            Algorithm::HmacSha512 => Some(HmacHash::Sha512),
            _ => None,
        }
    }

    fn public_key(self) -> Option<SigAlg> {
        match self {
            Algorithm::Ed25519 => Some(SigAlg::EdDsa),
            Algorithm::EcdsaP256 => Some(SigAlg::Es256),
            _ => None,
        }
    }
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// Hex digits, either case.
    #[default]
    Hex,
    /// Standard base64, padding optional.
    Base64,
    /// URL-safe base64, padding optional.
    Base64url,
    /// The header's bytes as they are (tokens only).
    Text,
}

/// How a secret's text becomes a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KeyEncoding {
    /// The secret's UTF-8 bytes as they are (most HMAC providers).
    #[default]
    Utf8,
    /// Base64 (after `key_prefix`): Svix's `whsec_…`, SendGrid's public key (SPKI DER).
    Base64,
    /// Hex: Discord's Ed25519 public key.
    Hex,
    /// PEM, or a JWK (public keys only).
    Pem,
}

/// How a timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TimestampFormat {
    /// A decimal count of Unix seconds (most providers).
    #[default]
    Unix,
    /// A decimal count of Unix milliseconds.
    UnixMs,
    /// RFC 3339 (`2026-12-03T01:02:03Z`, fractions allowed).
    Rfc3339,
}

/// One header name, or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `"X-Signature"`.
    One(String),
    /// `["Box-Signature-Primary", "Box-Signature-Secondary"]`.
    Many(Vec<String>),
}

impl OneOrMany {
    fn names(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

/// A recipe's `auth` table (`scheme = "recipe"`, and every provider preset).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names of secrets: shared keys (HMAC, token) or public keys (Ed25519, ECDSA);
    /// any one verifies, so several make a rotation.
    pub secrets: Vec<String>,
    /// Where the signature is: a header name, `json:<pointer>` for a member of a JSON
    /// body, or a list of headers each holding signatures (Box's primary and secondary).
    pub header: OneOrMany,
    /// Splits the header into entries (`","` for `t=…,v1=…`, `" "` for Svix's list).
    #[serde(default)]
    pub separator: Option<String>,
    /// Text before each signature (`sha256=`, `v0=`, `v1,`); with a `separator`, entries
    /// without it are skipped (another version, the timestamp).
    #[serde(default)]
    pub prefix: String,
    /// What is signed: literal text and `{body}`, `{timestamp}`, `{id}`, `{method}`,
    /// `{url}`, `{form}`, `{header:<name>}`, `{json:<pointer>}`. Default `{body}`.
    #[serde(default)]
    pub template: Option<String>,
    /// How the signature is computed.
    pub algorithm: Algorithm,
    /// How the signature is written. Default `hex`.
    #[serde(default)]
    pub encoding: Encoding,
    /// How a secret's text becomes a key. Default `utf8`.
    #[serde(default)]
    pub key_encoding: KeyEncoding,
    /// Removed from a secret before it is decoded (`whsec_`).
    #[serde(default)]
    pub key_prefix: String,
    /// The header (or `json:<pointer>`) holding the message id for `{id}`.
    #[serde(default)]
    pub id_header: Option<String>,
    /// The header (or `json:<pointer>`) holding the signed timestamp; it may be `header`
    /// itself, with `timestamp_prefix` naming its entry (`t=`).
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// Text before the timestamp (`t=`, `ts=`).
    #[serde(default)]
    pub timestamp_prefix: String,
    /// How the timestamp is written. Default `unix`.
    #[serde(default)]
    pub timestamp_format: TimestampFormat,
    /// Largest accepted distance between the timestamp and now; 0 does not check it.
    /// Default 300 when there is a timestamp.
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
    /// The URL the sender posts to, for `{url}`, when it is not the collector's own
    /// (`<public_url>/hooks/<name>`, e.g. behind another proxy). The request's sub-path
    /// and query are appended to it.
    #[serde(default)]
    pub url: Option<String>,
    /// A query parameter that must hold the hex SHA-256 of a body that is not a form
    /// (Twilio signs only the URL then, and adds `bodySHA256` to it).
    #[serde(default)]
    pub body_sha256_query: Option<String>,
    /// The provider preset this recipe came from (its name is the collector's scheme).
    #[serde(skip)]
    pub provider: Option<&'static str>,
    /// The compiled recipe ([`Config::compile`], when the config loads).
    #[serde(skip)]
    compiled: Compiled,
}

crate::refusal! {
    /// Why a recipe's `header`, `template` or a source in it is refused.
    InvalidRecipe
}

/// Where a value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// A request header, lower case.
    Header(String),
    /// A member of the JSON body, by JSON pointer (RFC 6901).
    Json(String),
}

impl Source {
    fn parse(text: &str) -> Result<Source, InvalidRecipe> {
        if let Some(pointer) = text.strip_prefix("json:") {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(format!("{text:?}: a JSON pointer is empty or starts with '/'").into());
            }
            return Ok(Source::Json(pointer.to_string()));
        }
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if text.is_empty() || !text.bytes().all(token) {
            return Err(format!("{text:?} is not a header name").into());
        }
        Ok(Source::Header(text.to_ascii_lowercase()))
    }

    fn describe(&self) -> String {
        match self {
            Source::Header(h) => h.clone(),
            Source::Json(p) => format!("json:{p}"),
        }
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Body,
    Timestamp,
    Id,
    Method,
    Url,
    Form,
    Value(Source),
}

/// What [`Config::compile`] makes of a recipe.
#[derive(Debug, Clone, Default)]
struct Compiled {
    signatures: Vec<Source>,
    template: Vec<Part>,
    id: Option<Source>,
    timestamp: Option<Source>,
    tolerance_secs: u64,
    /// The collector's URL (or `url`), and the length of the route's path in a request's
    /// URI (`/hooks/<name>`), for `{url}`.
    url: String,
    route_len: usize,
}

fn default_template() -> Vec<Part> {
    vec![Part::Body]
}

/// Parses a template into its parts.
fn parse_template(text: &str) -> Result<Vec<Part>, InvalidRecipe> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(open) = rest.find(['{', '}']) else {
            parts.push(Part::Text(rest.to_string()));
            break;
        };
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_string()));
        }
        if rest[open..].starts_with('}') {
            return Err("a '}' closes no placeholder".into());
        }
        let close = rest[open..].find('}').ok_or("a '{' is not closed")? + open;
        let name = &rest[open + 1..close];
        parts.push(match name {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            "method" => Part::Method,
            "url" => Part::Url,
            "form" => Part::Form,
            _ => {
                if let Some(h) = name.strip_prefix("header:") {
                    Part::Value(Source::parse(h)?)
                } else if name.starts_with("json:") {
                    Part::Value(Source::parse(name)?)
                } else {
                    return Err(format!(
                        "unknown placeholder {{{name}}} (body, timestamp, id, method, url, \
                         form, header:<name>, json:<pointer>)"
                    )
                    .into());
                }
            }
        });
        rest = &rest[close + 1..];
    }
    if parts.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(parts)
}

/// A recipe's key: decoded from a secret when the config loads and on each request.
enum Key {
    Shared(Vec<u8>),
    Public(PublicKey),
}

impl Config {
    /// Checks the recipe and compiles it; `path` is the key of this table.
    pub fn compile(&mut self, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str, e: String| ConfigError(format!("{path}.{key}: {e}"));
        super::validate_names(&format!("{path}.secrets"), &self.secrets)?;
        let names = self.header.names();
        if names.is_empty() || names.len() > MAX_SIGNATURES {
            return Err(at(
                "header",
                format!("name between 1 and {MAX_SIGNATURES} headers"),
            ));
        }
        let signatures = names
            .iter()
            .map(|h| Source::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| at("header", e.0))?;
        let template = match &self.template {
            None => default_template(),
            Some(_) if self.algorithm == Algorithm::Token => {
                return Err(at(
                    "template",
                    "a token is compared with the secret, nothing is signed: remove it".into(),
                ));
            }
            Some(t) => parse_template(t).map_err(|e| at("template", e.0))?,
        };
        if self.encoding == Encoding::Text && self.algorithm != Algorithm::Token {
            return Err(at(
                "encoding",
                "`text` is for tokens; a signature is hex, base64 or base64url".into(),
            ));
        }
        if self.algorithm.public_key().is_none() && self.key_encoding == KeyEncoding::Pem {
            return Err(at("key_encoding", "`pem` is for public keys".into()));
        }
        if let Some(sep) = &self.separator
            && sep.is_empty()
        {
            return Err(at("separator", "must not be empty".into()));
        }
        let source = |key: &str, v: &Option<String>| {
            v.as_deref()
                .map(Source::parse)
                .transpose()
                .map_err(|e| at(key, e.0))
        };
        let id = source("id_header", &self.id_header)?;
        let timestamp = source("timestamp_header", &self.timestamp_header)?;
        if id.is_none() && template.contains(&Part::Id) {
            return Err(at("template", "{id} needs an id_header".into()));
        }
        if timestamp.is_none() && template.contains(&Part::Timestamp) {
            return Err(at(
                "template",
                "{timestamp} needs a timestamp_header".into(),
            ));
        }
        if timestamp.is_none() && self.tolerance_secs.is_some() {
            return Err(at(
                "tolerance_secs",
                "there is no timestamp_header to check".into(),
            ));
        }
        if let Some(u) = &self.url {
            match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") => {}
                _ => return Err(at("url", format!("{u:?} is not an http or https URL"))),
            }
        }
        self.compiled = Compiled {
            signatures,
            template,
            id,
            timestamp,
            tolerance_secs: self.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS),
            url: self.compiled.url.clone(),
            route_len: self.compiled.route_len,
        };
        Ok(())
    }

    /// The key of one secret's text.
    fn key(&self, text: &str) -> Result<Key, InvalidSecret> {
        let text = text.strip_prefix(self.key_prefix.as_str()).unwrap_or(text);
        let bytes = || match self.key_encoding {
            KeyEncoding::Utf8 => Ok(text.as_bytes().to_vec()),
            KeyEncoding::Base64 => lenient(&base64::alphabet::STANDARD)
                .decode(text.trim())
                .map_err(|e| format!("not base64 ({e})")),
            KeyEncoding::Hex => hex::decode(text.trim()).map_err(|e| format!("not hex ({e})")),
            KeyEncoding::Pem => Err("a PEM or JWK text".into()),
        };
        let Some(alg) = self.algorithm.public_key() else {
            let key = bytes()?;
            if key.is_empty() {
                return Err("the key is empty".into());
            }
            return Ok(Key::Shared(key));
        };
        let key = match self.key_encoding {
            KeyEncoding::Pem => {
                let mut found = keys::parse_keys(text).map_err(|e| e.to_string())?;
                match found.pop().map(|k| k.material) {
                    Some(KeyMaterial::Public(k)) if found.is_empty() => k,
                    _ => return Err("must hold exactly one public key".into()),
                }
            }
            _ => {
                let raw = bytes()?;
                if alg == SigAlg::EdDsa && raw.len() == 32 {
                    keys::ed25519(&raw).map_err(|e| e.to_string())?
                } else {
                    keys::spki(raw).map_err(|e| e.to_string())?
                }
            }
        };
        if key.alg != alg {
            return Err(format!(
                "not an {} public key",
                keys::alg_name(alg).to_ascii_lowercase()
            )
            .into());
        }
        Ok(Key::Public(key))
    }

    /// Reads a value: a header's text, or a JSON member's (strings as they are, other
    /// values as JSON text).
    fn read<'r>(
        &self,
        source: &Source,
        req: &'r InboundRequest,
        json: &'r Option<Value>,
    ) -> Result<std::borrow::Cow<'r, str>, AuthError> {
        let missing = || AuthError::MissingValue(source.describe());
        match source {
            Source::Header(h) => req.headers.get(h).map(Into::into).ok_or_else(missing),
            Source::Json(p) => {
                let body = json
                    .as_ref()
                    .ok_or_else(|| AuthError::Malformed("the body is not JSON".into()))?;
                match body.pointer(p).ok_or_else(missing)? {
                    Value::String(s) => Ok(s.as_str().into()),
                    other => Ok(other.to_string().into()),
                }
            }
        }
    }

    /// The entries of a header value: split by `separator`, each trimmed.
    fn entries<'v>(&self, value: &'v str) -> Vec<&'v str> {
        match &self.separator {
            Some(sep) => value
                .split(sep.as_str())
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .collect(),
            None => vec![value.trim()],
        }
    }

    /// The signed timestamp's text, after checking it against `now_secs`.
    fn timestamp(&self, value: &str, now_secs: i64) -> Result<String, AuthError> {
        let text = if self.timestamp_prefix.is_empty() {
            value.trim()
        } else {
            self.entries(value)
                .into_iter()
                .find_map(|e| e.strip_prefix(self.timestamp_prefix.as_str()))
                .ok_or_else(|| {
                    AuthError::Malformed(format!(
                        "no `{}` timestamp in the signature header",
                        self.timestamp_prefix
                    ))
                })?
        };
        let secs = match self.timestamp_format {
            TimestampFormat::Unix => parse_timestamp(text)?,
            TimestampFormat::UnixMs => parse_timestamp(text)? / 1000,
            TimestampFormat::Rfc3339 => chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| AuthError::Malformed("the timestamp is not RFC 3339".into()))?
                .timestamp(),
        };
        let tolerance = self.compiled.tolerance_secs;
        if tolerance > 0 && now_secs.abs_diff(secs) > tolerance {
            return Err(AuthError::TimestampOutOfTolerance);
        }
        Ok(text.to_string())
    }

    /// The signatures the request carries, decoded.
    fn signatures(
        &self,
        req: &InboundRequest,
        json: &Option<Value>,
    ) -> Result<Vec<Vec<u8>>, AuthError> {
        let mut values = Vec::new();
        for source in &self.compiled.signatures {
            match self.read(source, req, json) {
                Ok(v) => values.push(v),
                Err(AuthError::MissingValue(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if values.is_empty() {
            return Err(AuthError::MissingValue(
                self.compiled.signatures[0].describe(),
            ));
        }
        let mut found = Vec::new();
        for value in &values {
            for entry in self.entries(value) {
                let Some(sig) = entry.strip_prefix(self.prefix.as_str()) else {
                    continue;
                };
                if found.len() == MAX_SIGNATURES {
                    return Err(AuthError::Malformed(format!(
                        "more than {MAX_SIGNATURES} signatures"
                    )));
                }
                let decoded = match self.encoding {
                    Encoding::Hex => hex::decode(sig).ok(),
                    Encoding::Base64 => lenient(&base64::alphabet::STANDARD).decode(sig).ok(),
                    Encoding::Base64url => lenient(&base64::alphabet::URL_SAFE).decode(sig).ok(),
                    Encoding::Text => Some(sig.as_bytes().to_vec()),
                };
                // With a separator, an entry that does not decode is another version.
                match decoded {
                    Some(d) if !d.is_empty() => found.push(d),
                    _ if self.separator.is_some() => {}
                    _ => break,
                }
            }
        }
        if found.is_empty() {
            let prefix = &self.prefix;
            return Err(AuthError::Malformed(format!(
                "the signature header holds no `{prefix}<{:?} signature>`",
                self.encoding
            )));
        }
        Ok(found)
    }

    /// The signed message.
    fn message(
        &self,
        req: &InboundRequest,
        json: &Option<Value>,
        timestamp: Option<&str>,
        id: Option<&str>,
    ) -> Result<Vec<u8>, AuthError> {
        let mut out = Vec::with_capacity(req.body.len() + 64);
        for part in &self.compiled.template {
            match part {
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Body => out.extend_from_slice(&req.body),
                // compile() refused {timestamp} and {id} without their headers.
                Part::Timestamp => out.extend_from_slice(timestamp.unwrap_or("").as_bytes()),
                Part::Id => out.extend_from_slice(id.unwrap_or("").as_bytes()),
                Part::Method => out.extend_from_slice(req.method.as_bytes()),
                Part::Url => {
                    out.extend_from_slice(self.compiled.url.as_bytes());
                    let rest = req.uri.get(self.compiled.route_len..).unwrap_or("");
                    out.extend_from_slice(rest.as_bytes());
                }
                Part::Form => out.extend_from_slice(sorted_form(req).as_bytes()),
                Part::Value(s) => out.extend_from_slice(self.read(s, req, json)?.as_bytes()),
            }
        }
        Ok(out)
    }

    fn needs_json(&self) -> bool {
        let json = |s: &Source| matches!(s, Source::Json(_));
        let c = &self.compiled;
        c.signatures.iter().any(json)
            || c.id.as_ref().is_some_and(json)
            || c.timestamp.as_ref().is_some_and(json)
            || c.template
                .iter()
                .any(|p| matches!(p, Part::Value(s) if json(s)))
    }
}

/// A base64 engine on `alphabet` that takes its input padded or not.
fn lenient(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// A form body's fields sorted by name (then value), each name followed by its value, as
/// Twilio and Mandrill sign them; empty for a body that is not a form.
fn sorted_form(req: &InboundRequest) -> String {
    if !is_form(req) {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    pairs.sort_unstable();
    pairs.into_iter().map(|(k, v)| k + &v).collect()
}

/// Checks that a body which is not a form is the one whose SHA-256 the (signed) query
/// parameter `param` gives, as Twilio's libraries do.
fn check_body_hash(req: &InboundRequest, param: &str) -> Result<(), AuthError> {
    if is_form(req) {
        return Ok(());
    }
    let given = req
        .query_pairs()
        .into_iter()
        .find(|(k, _)| k == param)
        .map(|(_, v)| v)
        .ok_or_else(|| AuthError::Malformed(format!("the URL has no {param} for the body")))?;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&req.body);
    if given.eq_ignore_ascii_case(&hex::encode(digest)) {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature)
    }
}

fn is_form(req: &InboundRequest) -> bool {
    req.headers.get("content-type").is_some_and(|t| {
        t.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    })
}

/// An ECDSA signature as WebCrypto takes it (`r || s`, 64 bytes) from DER or raw.
fn ecdsa_raw(sig: &[u8]) -> Option<Vec<u8>> {
    use spki::der::{Decode, Reader, SliceReader, asn1::UintRef};
    if sig.len() == 64 {
        return Some(sig.to_vec());
    }
    let mut reader = SliceReader::new(sig).ok()?;
    let (r, s) = reader
        .sequence(|seq| Ok((UintRef::decode(seq)?, UintRef::decode(seq)?)))
        .ok()?;
    reader.finish(()).ok()?;
    let mut out = vec![0u8; 64];
    for (half, int) in out.chunks_mut(32).zip([r, s]) {
        let bytes = int.as_bytes();
        if bytes.len() > 32 {
            return None;
        }
        half[32 - bytes.len()..].copy_from_slice(bytes);
    }
    Some(out)
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        let c = &self.compiled;
        let mut names: Vec<&str> = Vec::new();
        let sources = c.signatures.iter().chain(&c.id).chain(&c.timestamp);
        let values = c.template.iter().filter_map(|p| match p {
            Part::Value(s) => Some(s),
            _ => None,
        });
        for source in sources.chain(values) {
            if let Source::Header(h) = source
                && !names.contains(&h.as_str())
            {
                names.push(h);
            }
        }
        if c.template.contains(&Part::Form) || self.body_sha256_query.is_some() {
            names.push("content-type");
        }
        names
    }

    fn name(&self) -> Option<&'static str> {
        self.provider
    }

    fn secrets(&self) -> Option<&[String]> {
        Some(&self.secrets)
    }

    fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
        self.compile(path)
    }

    fn fill_defaults(&mut self, url: &str) {
        // `url` is `<public_url>/hooks/<name>`: requests' URIs start with its path.
        let route = url.rfind("/hooks/").map_or("", |i| &url[i..]);
        self.compiled.route_len = route.len();
        self.compiled.url = self.url.clone().unwrap_or_else(|| url.to_string());
    }

    fn check_secrets(&self, path: &str, secrets: &Secrets) -> Result<(), ConfigError> {
        for (key, name) in named(&format!("{path}.secrets"), &self.secrets) {
            check_secret(&key, &name, secrets, |v| self.key(v).map(drop))?;
        }
        Ok(())
    }

    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        cx: &AuthContext<'_, C, K>,
        req: &InboundRequest,
    ) -> Result<Verified, AuthError> {
        let json = if self.needs_json() {
            serde_json::from_slice(&req.body).ok()
        } else {
            None
        };
        let given = self.signatures(req, &json)?;
        let timestamp = match &self.compiled.timestamp {
            Some(s) => Some(self.timestamp(&self.read(s, req, &json)?, cx.now_secs)?),
            None => None,
        };
        let id = match &self.compiled.id {
            Some(s) => Some(self.read(s, req, &json)?.into_owned()),
            None => None,
        };
        // Each secret was decoded once at load (check_secrets), so none fails here.
        let keys: Vec<Key> = secret_values(cx.secrets, &self.secrets)
            .filter_map(|s| self.key(s).ok())
            .collect();
        let shared: Vec<&[u8]> = keys
            .iter()
            .filter_map(|k| match k {
                Key::Shared(k) => Some(k.as_slice()),
                Key::Public(_) => None,
            })
            .collect();
        let ok = match self.algorithm {
            Algorithm::Token => {
                // Compared as SHA-256 digests, in constant time, so neither the length
                // nor the content of a secret shows in the timing.
                let digest = |b: &[u8]| <sha2::Sha256 as sha2::Digest>::digest(b);
                let mut ok = subtle::Choice::from(0);
                for key in &shared {
                    for g in &given {
                        ok |= digest(key).as_slice().ct_eq(digest(g).as_slice());
                    }
                }
                bool::from(ok)
            }
            alg => {
                let message = self.message(req, &json, timestamp.as_deref(), id.as_deref())?;
                if let Some(hash) = alg.hmac() {
                    let given: Vec<&[u8]> = given.iter().map(Vec::as_slice).collect();
                    hmac_matches_any_with(cx.crypto, hash, &shared, &message, &given).await?
                } else {
                    verify_public(cx.crypto, alg, &keys, &message, &given).await?
                }
            }
        };
        if ok && let Some(param) = &self.body_sha256_query {
            check_body_hash(req, param)?;
        }
        if ok {
            Ok(Verified::default())
        } else {
            Err(AuthError::InvalidSignature)
        }
    }
}

/// Whether any signature verifies under any public key. Keys and signatures are public,
/// so stopping at the first match leaks nothing.
async fn verify_public<C: Crypto>(
    crypto: &C,
    alg: Algorithm,
    keys: &[Key],
    message: &[u8],
    given: &[Vec<u8>],
) -> Result<bool, AuthError> {
    for key in keys {
        let Key::Public(key) = key else { continue };
        for sig in given {
            let sig = match alg {
                Algorithm::EcdsaP256 => match ecdsa_raw(sig) {
                    Some(s) => s,
                    None => continue,
                },
                _ => sig.clone(),
            };
            if crypto.verify(key, message, &sig).await? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_parts() {
        assert_eq!(
            parse_template("v0:{timestamp}:{body}").unwrap(),
            vec![
                Part::Text("v0:".into()),
                Part::Timestamp,
                Part::Text(":".into()),
                Part::Body
            ]
        );
        assert_eq!(
            parse_template("{header:X-Id}{json:/a/b}").unwrap(),
            vec![
                Part::Value(Source::Header("x-id".into())),
                Part::Value(Source::Json("/a/b".into()))
            ]
        );
        for bad in [
            "{nope}",
            "{body",
            "body}",
            "",
            "{header:bad name}",
            "{json:a}",
        ] {
            assert!(parse_template(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ecdsa_signatures_are_taken_as_der_or_raw() {
        use p256::ecdsa::{Signature, SigningKey, signature::Signer};
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let sig: Signature = key.sign(b"m");
        let raw = sig.to_bytes().to_vec();
        assert_eq!(ecdsa_raw(sig.to_der().as_bytes()), Some(raw.clone()));
        assert_eq!(ecdsa_raw(&raw), Some(raw));
        assert_eq!(ecdsa_raw(b"not der"), None);
    }
}
