//! What dispatch's glue and routes share: the master key sealing subscription secrets, the
//! contexts they are sealed under, the URL guard's policy and a result's URL.

use worker::Env;

use super::sealed::MasterKey;
use super::url_guard::UrlPolicy;
use crate::app::App;
use crate::error::{ApiError, ErrorCode};
use crate::ids;

/// The master key from the `MASTER_KEY` secret.
pub fn master_key(env: &Env) -> Result<MasterKey, ApiError> {
    MasterKey::parse(&master_secret(env)?)
        .map_err(|e| ApiError::new(ErrorCode::InvalidMasterKey, e.0))
}

/// The bytes of the `MASTER_KEY` secret, for the keys derived from it (portal links).
pub fn master_key_bytes(env: &Env) -> Result<[u8; 32], ApiError> {
    super::sealed::key_bytes(&master_secret(env)?)
        .map_err(|e| ApiError::new(ErrorCode::InvalidMasterKey, e.0))
}

fn master_secret(env: &Env) -> Result<String, ApiError> {
    env.secret("MASTER_KEY")
        .map(|s| s.to_string())
        .map_err(|_| {
            ApiError::new(
                ErrorCode::MasterKeyMissing,
                "dispatch needs the MASTER_KEY secret (base64 of 32 random bytes)",
            )
        })
}

/// The URL guard's policy for this deployment.
pub fn policy(app: &App) -> UrlPolicy<'_> {
    UrlPolicy {
        allow_http: app.environment == "dev",
        allow_private_hosts: &app.config.dispatch.allow_private_hosts,
    }
}

/// Context string sealing a subscription's key.
pub fn api_key_context(subscription_id: &str) -> String {
    format!("subscriptions:{subscription_id}:api_key")
}

/// Context string sealing a service account's secret.
pub fn jwt_secret_context(jwt_key: &str) -> String {
    format!("service_accounts:{jwt_key}:jwt_secret")
}

/// A 12-byte nonce for sealing.
pub fn nonce() -> Result<[u8; 12], ApiError> {
    ids::random_bytes().map_err(|e| ApiError::internal(format!("no randomness available: {e}")))
}

/// `<public_url>/results/<id>`.
pub fn result_url(app: &App, id: &str) -> String {
    format!("{}/results/{id}", app.config.public_url)
}
