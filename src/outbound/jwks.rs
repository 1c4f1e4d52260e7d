//! Fetching remote key sets (a `jwt` collector's `jwks_url`, the Cloudflare Access team's
//! certs of the admin sign-in) when [`crate::auth::jwks::plan`] says so: through the outbound URL guard, without following redirects, within
//! [`TIMEOUT_MS`], reading at most [`jwks::MAX_SET_BYTES`]. A failure is logged and leaves
//! the cached keys as they were.

use serde_json::json;
use worker::{Method, Request, RequestInit, RequestRedirect};

use crate::app::App;
use crate::auth::jwks::{self, Plan};
use crate::auth::keys::JwtKey;
use crate::auth::{AuthConfig, jwt};
use crate::dispatch::keys::policy;
use crate::dispatch::url_guard;
use crate::error::{BindingError, During};
use crate::inbound::InboundRequest;
use crate::log;
use crate::outbound::exchange;

/// How long a key server has to answer.
pub const TIMEOUT_MS: u64 = 5_000;

/// Makes sure the keys of `auth`'s `jwks_url` (if it has one) are cached as well as they
/// can be for `req`'s token at `now_secs`, before it is verified.
pub async fn prepare(app: &App, auth: &AuthConfig, req: &InboundRequest, now_secs: i64) {
    let AuthConfig::Jwt(config) = auth else {
        return;
    };
    let Some(url) = config.jwks_url.as_deref() else {
        return;
    };
    let kid = req
        .headers
        .get("authorization")
        .and_then(jwt::bearer)
        .and_then(jwks::token_kid);
    refresh(app, url, kid.as_deref(), now_secs).await;
}

/// Makes sure `url`'s set is cached as well as it can be for a token with `kid` at `now_secs`
/// (fetched when nothing, a stale set or no key with `kid` is cached, at most once a
/// minute); read it with [`jwks::cached`].
pub async fn refresh(app: &App, url: &str, kid: Option<&str>, now_secs: i64) {
    if jwks::plan(url, kid, now_secs) == Plan::UseCached {
        return;
    }
    jwks::started(url, now_secs);
    match fetch(app, url).await {
        Ok((keys, max_age)) => {
            log::emit(json!({"event": "jwks", "outcome": "fetched", "url": url,
                "keys": keys.len(), "max_age_secs": max_age}));
            jwks::store(url, keys, now_secs, max_age);
        }
        Err(e) => {
            log::emit(
                json!({"event": "jwks", "outcome": "fetch_failed", "url": url,
                "error": e.to_string()}),
            );
        }
    }
}

/// Why a key set could not be fetched (logged; the cached keys stay as they were).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("refused by the URL guard: {0}")]
    Refused(#[from] url_guard::Refused),
    #[error(transparent)]
    Binding(#[from] BindingError),
    #[error("answered {0}")]
    Status(u16),
    #[error("the set is over {} bytes", jwks::MAX_SET_BYTES)]
    TooLarge,
    #[error(transparent)]
    Set(#[from] jwks::SetError),
}

async fn fetch(app: &App, url: &str) -> Result<(Vec<JwtKey>, u64), FetchError> {
    url_guard::check(url, &policy(app))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).during("request")?;
    let (resp, body) = exchange(request, TIMEOUT_MS, jwks::MAX_SET_BYTES).await?;
    if resp.status_code() != 200 {
        return Err(FetchError::Status(resp.status_code()));
    }
    let body = body?;
    if body.cut {
        return Err(FetchError::TooLarge);
    }
    let keys = jwks::parse_set(&body.bytes)?;
    let cache_control = resp.headers().get("cache-control").ok().flatten();
    Ok((keys, jwks::max_age(cache_control.as_deref())))
}
