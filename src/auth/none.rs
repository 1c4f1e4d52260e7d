//! No authentication (`scheme = "none"`): every request is accepted. It must be written
//! explicitly, so a collector is never open by omission.

use serde::Deserialize;

use super::api_key::ApiKeyStore;
use super::{AuthContext, AuthError, InboundRequest, Scheme, Verified};
use crate::crypto::Crypto;

/// A collector's `auth` table with `scheme = "none"`: nothing else.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec![]
    }

    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        _: &AuthContext<'_, C, K>,
        _: &InboundRequest,
    ) -> Result<Verified, AuthError> {
        Ok(Verified::default())
    }
}
