//! The one error vocabulary every HTTP route answers with.
//!
//! [`ErrorCode`] owns every stable snake_case `code` of SPEC.md with its HTTP status and a
//! default message; an [`ApiError`] is a code plus the sentence for this occurrence. The
//! body is always `{"error":{"code":"..","message":".."}}`.
//!
//! To add a code, add one line to the `error_codes!` table below, then a row to README's
//! "Every error code" table and the code to the `Error` schema's `enum` in
//! docs/openapi.json: `tests/error_codes.rs` fails, printing the expected rows, until the
//! three agree.
//!
//! [`BindingError`] is the glue's error: a D1, R2, queue or fetch call that failed.

use serde_json::json;

/// Declares [`ErrorCode`] from one table of `Variant = (status, "code", "default message")`.
macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($status:literal, $code:literal, $message:literal), )*) => {
        /// A stable error code with its HTTP status and default message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The HTTP status answered with this code.
            #[must_use]
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// The stable snake_case code sent in the body.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The message used when the occurrence has nothing more specific to say.
            #[must_use]
            pub const fn default_message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message,)* }
            }
        }
    };
}

error_codes! {
    // Any route.
    /// No route serves the path.
    NotFound = (404, "not_found", "no route serves this path"),
    /// The route exists but not for this method.
    MethodNotAllowed = (405, "method_not_allowed", "this method is not allowed here"),
    /// The configuration failed validation (every route answers it, `/healthz` too).
    InvalidConfig = (500, "invalid_config", "the configuration is invalid"),
    /// A failure of our own that retrying will not fix.
    InternalError = (500, "internal_error", "an internal error occurred; it has been logged"),
    /// A binding (queue, D1, R2) failed; retry, nothing was stored.
    Unavailable = (503, "unavailable", "a storage, queue or crypto binding is unavailable; nothing was stored, retry"),
    /// The request body could not be read, or the URL could not be parsed.
    BadRequest = (400, "bad_request", "the request body could not be read"),
    /// The body is not JSON.
    InvalidJson = (400, "invalid_json", "the body is not valid JSON"),
    /// A JSON object names the same member twice.
    DuplicateKey = (400, "duplicate_key", "a JSON object names the same member twice"),
    /// The body is JSON of the wrong shape, or a value in it is out of range.
    InvalidRequest = (422, "invalid_request", "the request body is not valid for this route"),
    /// A query parameter is unknown or out of range.
    InvalidQuery = (400, "invalid_query", "a query parameter is unknown or out of range"),

    // Collectors, in the order their checks run.
    /// No collector has that name.
    UnknownCollector = (404, "unknown_collector", "no collector has this name"),
    /// The body is over the collector's `max_body_bytes`.
    PayloadTooLarge = (413, "payload_too_large", "the body is larger than this collector's limit"),
    /// The URL (path and query) is longer than a webhook's may be.
    UriTooLong = (414, "uri_too_long", "the URL is too long"),
    /// `Content-Type` is not JSON.
    UnsupportedMediaType = (415, "unsupported_media_type", "the body must be JSON sent with Content-Type: application/json"),
    /// The scheme's header (or `Authorization`) is absent.
    MissingHeader = (400, "missing_header", "a required header is missing"),
    /// The signature header is present but not in the scheme's format.
    MalformedSignature = (401, "malformed_signature", "the signature header is not in the scheme's format"),
    /// The signature matches none of the collector's secrets.
    InvalidSignature = (401, "invalid_signature", "the signature does not match the body for any of the collector's secrets"),
    /// The signed timestamp or date is too far from now.
    TimestampOutOfTolerance = (401, "timestamp_out_of_tolerance", "the signed timestamp is too far from the current time"),
    /// Not a compact JWS, or its header or claims are not JSON.
    MalformedToken = (401, "malformed_token", "the token is not a valid JWT"),
    /// The token's `alg` is `none` or bound to no configured key.
    AlgorithmNotAllowed = (401, "algorithm_not_allowed", "the token's algorithm is not accepted"),
    /// The token's `typ` is present and not `JWT`.
    InvalidTokenType = (401, "invalid_token_type", "the token's `typ` must be JWT"),
    /// The token's `crit` header names extensions, none of which edgehook understands.
    UnsupportedCriticalHeader = (401, "unsupported_critical_header", "the token's `crit` header names an extension edgehook does not understand"),
    /// The API key, the token's `kid` or the token's issuer is not known.
    UnknownKey = (401, "unknown_key", "the API key is not known"),
    /// A required claim (`exp`, `iat`, `iss`, `jti`) is missing.
    MissingClaim = (401, "missing_claim", "the token lacks a required claim"),
    /// The token's `exp` has passed.
    ExpiredToken = (401, "expired_token", "the token has expired"),
    /// The token's `nbf` is in the future.
    TokenNotYetValid = (401, "token_not_yet_valid", "the token is not valid yet (`nbf`)"),
    /// The token's `iat` is in the future.
    IssuedInFuture = (401, "issued_in_future", "the token's `iat` is in the future"),
    /// The token's `exp - iat` exceeds the allowed lifetime.
    LifetimeTooLong = (401, "lifetime_too_long", "the token lives longer than allowed"),
    /// The token's `iss` does not match.
    InvalidIssuer = (401, "invalid_issuer", "the token's `iss` is not the expected issuer"),
    /// The token's `aud` does not match.
    InvalidAudience = (401, "invalid_audience", "the token's `aud` is not this collector"),
    /// The API key was revoked.
    RevokedKey = (401, "revoked_key", "the API key was revoked"),
    /// The API key has expired.
    ExpiredKey = (401, "expired_key", "the API key has expired"),
    /// The API key is not valid yet.
    KeyNotYetValid = (401, "key_not_yet_valid", "the API key is not valid yet"),
    /// The API key lacks the collector's scope.
    InsufficientScope = (403, "insufficient_scope", "the API key lacks the required scope"),
    /// `webhook-id` / `Idempotency-Key` was first sent with a different body.
    IdempotencyKeyReused = (422, "idempotency_key_reused", "this webhook id (webhook-id / Idempotency-Key) was first sent with a different body; nothing was stored: send a new body under a new id"),
    /// `webhook-id` / `Idempotency-Key` is empty, too long or not printable ASCII.
    InvalidIdempotencyKey = (400, "invalid_idempotency_key", "the idempotency key must be 1 to 255 printable ASCII characters"),
    /// The body is not what its `Content-Type` says (form, multipart, text), or of a kind
    /// the collector's `accept` does not take.
    InvalidBody = (400, "invalid_body", "the body cannot be read as its Content-Type says"),
    /// A browser's origin is not in the collector's `cors.origins`.
    OriginNotAllowed = (403, "origin_not_allowed", "this collector takes no requests from that origin"),
    /// A browser's preflight asks for a header the collector's `cors.headers` do not list.
    HeaderNotAllowed = (403, "header_not_allowed", "this collector's cors.headers do not list a requested header"),
    /// A provider's handshake request is malformed.
    InvalidHandshake = (400, "invalid_handshake", "the handshake request is not valid"),
    /// A Meta handshake's `hub.verify_token` is not the collector's.
    InvalidVerifyToken = (403, "invalid_verify_token", "hub.verify_token is not this collector's verify token"),
    /// A provider sends webhooks before completing its handshake.
    HandshakeRequired = (401, "handshake_required", "the provider has not completed its handshake with this collector yet"),
    /// A handshake comes for a collector that already holds an earlier handshake's secret.
    HandshakeDone = (409, "handshake_done", "this collector already holds the secret of an earlier handshake"),
    /// A `verify-claims` step: a token claim differs from the request.
    ClaimMismatch = (403, "claim_mismatch", "a token claim differs from the request"),
    /// A `filter` step's condition did not hold.
    Filtered = (422, "filtered", "the webhook did not pass the collector's filter"),
    /// A `scan-secrets` step found a credential (`action = "reject"`).
    SecretDetected = (422, "secret_detected", "the webhook carries a secret"),
    /// The payload does not satisfy a `validate` step's JSON Schema.
    SchemaMismatch = (422, "schema_mismatch", "the payload does not satisfy the collector's JSON Schema"),
    /// A `plugin` step rejected the webhook.
    RejectedByPlugin = (422, "rejected_by_plugin", "a plugin rejected the webhook"),
    /// The same webhook id is being accepted by another request right now.
    DuplicateInProgress = (409, "duplicate_in_progress", "a webhook with this id is being accepted right now; retry to learn its outcome"),
    /// A `plugin` step failed or timed out; retry, nothing was kept.
    PluginUnavailable = (503, "plugin_unavailable", "a plugin failed or timed out; nothing was stored, retry"),
    /// A plugin's outbound request is outside its network grant or refused by the URL guard.
    EgressRefused = (403, "egress_refused", "the plugin may not reach this URL"),
    /// A plugin's granted outbound request failed to send.
    EgressFailed = (502, "egress_failed", "the plugin's request could not be sent"),

    // Admin API.
    /// The `ADMIN_TOKEN` secret is not set.
    AdminDisabled = (403, "admin_disabled", "the admin API is off: set the ADMIN_TOKEN secret"),
    /// No admin bearer token was sent.
    MissingAdminToken = (401, "missing_admin_token", "send Authorization: Bearer <ADMIN_TOKEN>"),
    /// The admin bearer token is wrong.
    InvalidAdminToken = (401, "invalid_admin_token", "the admin token is not valid"),
    /// No API key has that id (the admin API; same code as the `401`, another status).
    UnknownKeyId = (404, "unknown_key", "no API key has this id"),
    /// A Cloudflare Access assertion is refused, or names no identity.
    InvalidAccessToken = (401, "invalid_access_token", "the Cloudflare Access token is refused"),
    /// The Access identity is signed in but `admin.roles` gives it no role.
    NoAdminRole = (403, "no_admin_role", "the signed-in identity has no admin role"),
    /// A viewer asked for a change.
    ReadOnly = (403, "read_only", "the viewer role only reads; an admin can make this change"),
    /// A portal request carries no link token.
    MissingPortalToken = (401, "missing_portal_token", "open the portal from its link; the page sends the link's token as Authorization: Bearer"),
    /// The portal link's token is invalid, expired or names no subscription.
    InvalidPortalToken = (401, "invalid_portal_token", "the portal link is not valid (ask for a new link)"),
    /// No collector holds a handshake secret of that name.
    UnknownHandshake = (404, "unknown_handshake", "this collector holds no handshake secret"),
    /// No batch has that key.
    UnknownBatch = (404, "unknown_batch", "no batch has this key"),
    /// No written record has that id, or the batch does not hold it.
    UnknownRecord = (404, "unknown_record", "no written record has this id"),
    /// The batch's object was deleted from R2.
    BatchGone = (410, "batch_gone", "the batch's object is no longer in R2 (deleted or expired)"),
    /// The batch's object cannot be read back (not gzip, or inflating past 64 MiB).
    UnreadableBatch = (500, "unreadable_batch", "the batch's object cannot be read back"),
    /// No plugin has that name.
    UnknownPlugin = (404, "unknown_plugin", "no plugin has this name"),
    /// The plugin has no version with that digest.
    UnknownVersion = (404, "unknown_version", "the plugin has no such version"),
    /// The version to delete is the active one.
    VersionActive = (409, "version_active", "this version is active: activate another one first, or delete the whole plugin"),
    /// A plugin bundle is over its size limit.
    BundleTooLarge = (413, "bundle_too_large", "the plugin bundle is too large"),
    /// One part of a plugin bundle is over its size limit.
    PartTooLarge = (413, "part_too_large", "a part of the plugin bundle is too large"),
    /// A plugin bundle is not a valid bundle (modules, names, wasm).
    InvalidBundle = (422, "invalid_bundle", "the plugin bundle is not valid"),

    // Dispatch.
    /// The event type in the path is not a valid event type.
    InvalidEventType = (404, "invalid_event_type", "not an event type (1-128 of A-Z a-z 0-9 . _ : -)"),
    /// The event type is one edgehook publishes itself.
    ReservedEventType = (422, "reserved_event_type", "this event type is one edgehook publishes itself; publishers cannot"),
    /// An extra header (a subscription's `headers`) is invalid or reserved.
    InvalidHeader = (422, "invalid_header", "a header name or value is invalid or reserved"),
    /// The event payload is not a JSON object.
    InvalidEvent = (422, "invalid_event", "an event payload is a JSON object"),
    /// No result (or delivery) has that id.
    UnknownResult = (404, "unknown_result", "no result has this id"),
    /// No subscription has that id.
    UnknownSubscription = (404, "unknown_subscription", "no subscription has this id"),
    /// Only a failed delivery can be retried.
    NotFailed = (409, "not_failed", "only a failed delivery can be retried"),
    /// A review was asked for a result that is not flagged.
    NotFlagged = (409, "not_flagged", "only flagged results are reviewed"),
    /// The flagged result was reviewed already.
    AlreadyReviewed = (409, "already_reviewed", "this result was reviewed already"),
    /// The subscriber URL is refused by the URL guard.
    UrlRefused = (422, "url_refused", "the URL is refused by the URL guard"),
    /// A subscription's destination names a binding `dispatch.destinations` does not list.
    DestinationNotAllowed = (422, "destination_not_allowed", "the destination's binding is not listed in dispatch.destinations"),
    /// A subscription's destination names a listed binding as another kind than listed.
    DestinationKindMismatch = (422, "destination_kind_mismatch", "the destination's binding is listed as another kind"),
    /// The service account's subscription does not own the result.
    NotResultOwner = (403, "not_result_owner", "this service account's subscription does not own the result"),
    /// The token's `jti` was already used.
    ReplayedToken = (401, "replayed_token", "this token (jti) was already used"),
    /// A replay's `from`/`to` are not a range it can read (empty, reversed, in the
    /// future or over 31 days).
    InvalidReplayRange = (422, "invalid_replay_range", "from must be before to, to not in the future, and the range at most 31 days"),
    /// A replay names a subscription that does not subscribe to its event type.
    NotSubscribed = (422, "not_subscribed", "a listed subscription does not subscribe to the replay's event type"),
    /// No replay has that id.
    UnknownReplay = (404, "unknown_replay", "no replay has this id"),
    /// A replay id (or Idempotency-Key) already names a replay of something else.
    ReplayConflict = (409, "replay_conflict", "this replay id or Idempotency-Key already names a different replay"),
    /// The `MASTER_KEY` secret is not set.
    MasterKeyMissing = (500, "master_key_missing", "dispatch needs the MASTER_KEY secret (base64 of 32 random bytes)"),
    /// The `MASTER_KEY` secret is not base64 of 32 bytes.
    InvalidMasterKey = (500, "invalid_master_key", "MASTER_KEY must be base64 of 32 random bytes"),

    // Benchmarks (`bench` feature builds only).
    /// A `/__bench/` request could not run.
    BenchFailed = (422, "bench_failed", "the benchmark request could not run"),
}

impl ErrorCode {
    /// Seconds the client should wait before retrying (sent as `Retry-After`), for the
    /// codes that ask for a retry.
    #[must_use]
    pub const fn retry_after_secs(self) -> Option<u32> {
        match self {
            ErrorCode::Unavailable
            | ErrorCode::PluginUnavailable
            | ErrorCode::DuplicateInProgress => Some(5),
            _ => None,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to an HTTP client: a code and the sentence for this occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code; it fixes the status and `Retry-After`.
    pub code: ErrorCode,
    /// Human sentence; never contains a secret or an expected signature.
    pub message: String,
    /// What went wrong underneath (the runtime's or a binding's error text): logged with
    /// the request's line, never answered, so no runtime error text reaches a client.
    pub detail: Option<String>,
}

impl ApiError {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// Keeps `detail` for the log; the answer keeps its own stable message.
    #[must_use]
    pub fn with_detail(mut self, detail: impl std::fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// `400 bad_request`: the request's body could not be read (the connection broke);
    /// the runtime's error is logged, not answered.
    pub fn unreadable_body(detail: impl std::fmt::Display) -> Self {
        Self::from(ErrorCode::BadRequest).with_detail(detail)
    }

    /// HTTP status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// Seconds the client should wait before retrying (sent as `Retry-After`).
    #[must_use]
    pub fn retry_after(&self) -> Option<u32> {
        self.code.retry_after_secs()
    }

    /// `404 not_found` for a path no route serves.
    pub fn not_found(path: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no route serves {path}"))
    }

    /// `405 method_not_allowed`.
    pub fn method_not_allowed(method: &str, allowed: &str) -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            format!("method {method} is not allowed here; use {allowed}"),
        )
    }

    /// `500 invalid_config`: the configuration failed validation.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidConfig, message)
    }

    /// `500 internal_error` for failures of our own that retrying will not fix; `detail`
    /// (often the runtime's error text) is logged, the answer is a stable sentence.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::from(ErrorCode::InternalError).with_detail(detail)
    }

    /// `503 unavailable` + `Retry-After`: a binding (queue, D1, R2, WebCrypto) failed; the
    /// client should retry and nothing was stored. `detail` is logged, never answered.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self::from(ErrorCode::Unavailable).with_detail(detail)
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code.as_str(), "message": self.message}})
    }
}

impl From<ErrorCode> for ApiError {
    /// The code with its default message.
    fn from(code: ErrorCode) -> Self {
        Self::new(code, code.default_message())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Declares why a text (a pattern, a path, a template, a schema) is refused: a
/// `thiserror` newtype holding the sentence that says so, which a config check wraps
/// in a [`ConfigError`] naming its key. `From<String>` and `From<&str>` let a parser
/// write `Err(format!(..).into())` and `.ok_or("..")?`.
#[macro_export]
macro_rules! refusal {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("{0}")]
        pub struct $name(pub String);

        impl From<String> for $name {
            fn from(why: String) -> Self {
                $name(why)
            }
        }

        impl From<&str> for $name {
            fn from(why: &str) -> Self {
                $name(why.to_string())
            }
        }
    };
}

/// A configuration problem, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A Cloudflare binding or the network failed (D1, R2, a queue, a fetch): nothing about
/// the request or message is wrong, and a retry may succeed.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// The runtime refused `what` (the operation, e.g. `R2 put <key>`).
    #[error("{what}: {source}")]
    Runtime {
        /// The operation that failed.
        what: String,
        /// What the runtime said.
        #[source]
        source: worker::Error,
    },
    /// Something the operation needs is not there (e.g. a spilled object).
    #[error("{0}")]
    Missing(String),
    /// The other side ran and failed as it describes (e.g. a loaded plugin isolate threw,
    /// or a record is over what it takes).
    #[error("{0}")]
    Failed(String),
    /// No answer came before the deadline.
    #[error("no answer within {0} ms")]
    Timeout(u64),
}

/// Names the operation a runtime error came from: `bucket.head(key).await.during("R2
/// head")?`.
pub trait During<T> {
    /// This result with its error as a [`BindingError::Runtime`] of `what`.
    fn during(self, what: impl Into<String>) -> Result<T, BindingError>;
}

impl<T, E: Into<worker::Error>> During<T> for Result<T, E> {
    fn during(self, what: impl Into<String>) -> Result<T, BindingError> {
        self.map_err(|e| BindingError::Runtime {
            what: what.into(),
            source: e.into(),
        })
    }
}

impl From<BindingError> for ApiError {
    /// `503 unavailable`: the client should retry, and nothing was stored.
    fn from(e: BindingError) -> Self {
        ApiError::unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn body_has_code_and_message() {
        let e = ApiError::new(ErrorCode::InvalidSignature, "no secret matches");
        assert_eq!(e.status(), 401);
        assert_eq!(
            e.body(),
            json!({"error": {"code": "invalid_signature", "message": "no secret matches"}})
        );
    }

    #[test]
    fn unavailable_asks_for_a_retry() {
        assert_eq!(ApiError::unavailable("queue").retry_after(), Some(5));
        assert_eq!(ApiError::from(ErrorCode::PluginUnavailable).status(), 503);
        assert_eq!(ApiError::internal("bug").retry_after(), None);
    }

    #[test]
    fn codes_are_snake_case_and_each_status_code_pair_is_listed_once() {
        let mut seen = HashSet::new();
        for &c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(
                s.starts_with(|ch: char| ch.is_ascii_lowercase())
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{s} is not snake_case"
            );
            assert!((400..600).contains(&c.status()), "{s}: {}", c.status());
            assert!(
                !c.default_message().is_empty(),
                "{s} has no default message"
            );
            assert!(
                seen.insert((c.status(), s)),
                "{} {s} is listed twice",
                c.status()
            );
        }
    }

    #[test]
    fn runtime_error_text_is_logged_never_answered() {
        // What workerd says when a sender's connection drops mid-body, and D1 failing.
        let runtime = "JsValue(Error: Network connection lost.)";
        for e in [
            ApiError::unreadable_body(runtime),
            ApiError::unavailable(format!("could not store the body: {runtime}")),
            ApiError::internal(format!("DB binding: {runtime}")),
        ] {
            assert!(!e.body().to_string().contains("Network"), "{}", e.body());
            assert!(!e.message.contains(':'), "{}", e.message);
            assert!(e.detail.as_deref().is_some_and(|d| d.contains(runtime)));
        }
    }
}
