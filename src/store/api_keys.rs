//! Table `api_keys`: issued keys, by the SHA-256 of their plaintext.

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

use super::cache::TtlCache;
use crate::auth::api_key::{ApiKey, ApiKeyStore};

const COLUMNS: &str =
    "id, name, email, scopes, not_before, not_after, revoked_at, created_at, last_used_at";

// D1 numbers cross as f64; scopes is a JSON array in text.
#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    email: String,
    scopes: String,
    not_before: f64,
    not_after: f64,
    revoked_at: Option<f64>,
    created_at: f64,
    last_used_at: Option<f64>,
}

impl From<Row> for ApiKey {
    fn from(r: Row) -> ApiKey {
        ApiKey {
            id: r.id,
            name: r.name,
            email: r.email,
            scopes: serde_json::from_str(&r.scopes).unwrap_or_default(),
            not_before: r.not_before as i64,
            not_after: r.not_after as i64,
            revoked_at: r.revoked_at.map(|t| t as i64),
            created_at: r.created_at as i64,
            last_used_at: r.last_used_at.map(|t| t as i64),
        }
    }
}

fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

/// Stores a new key under `hash`.
pub async fn insert(db: &D1Database, hash: &str, key: &ApiKey) -> worker::Result<()> {
    db.prepare(
        "INSERT INTO api_keys (hash, id, name, email, scopes, not_before, not_after, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&[
        JsValue::from_str(hash),
        JsValue::from_str(&key.id),
        JsValue::from_str(&key.name),
        JsValue::from_str(&key.email),
        JsValue::from_str(&serde_json::to_string(&key.scopes).unwrap_or_else(|_| "[]".into())),
        num(key.not_before),
        num(key.not_after),
        num(key.created_at),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Every key, newest first.
pub async fn list(db: &D1Database) -> worker::Result<Vec<ApiKey>> {
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
        ))
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(ApiKey::from).collect())
}

/// The key with public id `id`.
pub async fn find_by_id(db: &D1Database, id: &str) -> worker::Result<Option<ApiKey>> {
    let row: Option<Row> = db
        .prepare(format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))
        .bind(&[JsValue::from_str(id)])?
        .first(None)
        .await?;
    Ok(row.map(ApiKey::from))
}

/// Revokes key `id` at `now_secs` unless already revoked.
pub async fn revoke(db: &D1Database, id: &str, now_secs: i64) -> worker::Result<()> {
    db.prepare("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")
        .bind(&[num(now_secs), JsValue::from_str(id)])?
        .run()
        .await?;
    Ok(())
}

/// [`ApiKeyStore`] on D1.
pub struct D1Keys<'a>(pub &'a D1Database);

impl ApiKeyStore for D1Keys<'_> {
    type Error = worker::Error;
    async fn find_by_hash(&self, hash: &str) -> worker::Result<Option<ApiKey>> {
        let row: Option<Row> = self
            .0
            .prepare(format!("SELECT {COLUMNS} FROM api_keys WHERE hash = ?1"))
            .bind(&[JsValue::from_str(hash)])?
            .first(None)
            .await?;
        Ok(row.map(ApiKey::from))
    }

    async fn touch(&self, hash: &str, now_secs: i64) -> worker::Result<()> {
        // At most one write a minute per key: last_used_at is for humans, not billing.
        self.0
            .prepare(
                "UPDATE api_keys SET last_used_at = ?1
                 WHERE hash = ?2 AND (last_used_at IS NULL OR last_used_at < ?1 - 60)",
            )
            .bind(&[num(now_secs), JsValue::from_str(hash)])?
            .run()
            .await?;
        Ok(())
    }
}

/// How long a key read from D1 is trusted by the isolate that read it: a revocation (or
/// any other change to the key) reaches a collector within this long (README, "Routes").
pub const CACHE_MS: u64 = 10_000;

/// At most this many keys are held per isolate; when full, the expired ones go, then the
/// oldest.
pub const CACHE_KEYS: usize = 1_024;

thread_local! {
    // One per isolate (wasm32 has one thread).
    static KEYS: std::cell::RefCell<TtlCache<ApiKey>> =
        std::cell::RefCell::new(TtlCache::new(CACHE_MS, CACHE_KEYS));
}

/// Drops key `id` from this isolate's cache: a revocation takes effect at once in the
/// isolate that made it, within [`CACHE_MS`] in the others.
pub fn forget_cached(id: &str) {
    KEYS.with(|c| c.borrow_mut().forget(|_, key| key.id == id));
}

/// An [`ApiKeyStore`] read through this isolate's [`TtlCache`]: a key found in the store
/// is trusted for [`CACHE_MS`], so a collector taking API keys reads D1 once per key per
/// isolate every 10 s instead of on every webhook. `last_used_at` is touched only when the
/// key was read from the store. Unknown keys are not held (each is looked up again).
pub struct CachedKeys<S> {
    /// The store behind the cache.
    pub store: S,
    /// The request's time, Unix milliseconds.
    pub now_ms: u64,
    hit: std::cell::Cell<bool>,
}

impl<S> CachedKeys<S> {
    /// `store` read through the cache at `now_ms`.
    pub fn new(store: S, now_ms: u64) -> Self {
        CachedKeys {
            store,
            now_ms,
            hit: std::cell::Cell::new(false),
        }
    }
}

impl<S: ApiKeyStore> ApiKeyStore for CachedKeys<S> {
    type Error = S::Error;

    async fn find_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, S::Error> {
        if let Some(key) = KEYS.with(|c| c.borrow().get(hash, self.now_ms)) {
            self.hit.set(true);
            return Ok(Some(key));
        }
        self.hit.set(false);
        let found = self.store.find_by_hash(hash).await?;
        if let Some(key) = &found {
            KEYS.with(|c| c.borrow_mut().put(hash, key.clone(), self.now_ms));
        }
        Ok(found)
    }

    async fn touch(&self, hash: &str, now_secs: i64) -> Result<(), S::Error> {
        if self.hit.get() {
            return Ok(());
        }
        self.store.touch(hash, now_secs).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    fn key(id: &str) -> ApiKey {
        ApiKey {
            id: id.into(),
            name: "n".into(),
            email: String::new(),
            scopes: vec![],
            not_before: 0,
            not_after: i64::MAX,
            revoked_at: None,
            created_at: 0,
            last_used_at: None,
        }
    }

    /// A store whose key can be changed under the cache, counting reads and touches.
    #[derive(Default)]
    struct Counting {
        key: RefCell<Option<ApiKey>>,
        reads: Cell<u32>,
        touches: Cell<u32>,
    }

    impl ApiKeyStore for &Counting {
        type Error = std::convert::Infallible;

        async fn find_by_hash(&self, _hash: &str) -> Result<Option<ApiKey>, Self::Error> {
            self.reads.set(self.reads.get() + 1);
            Ok(self.key.borrow().clone())
        }
        async fn touch(&self, _hash: &str, _now: i64) -> Result<(), Self::Error> {
            self.touches.set(self.touches.get() + 1);
            Ok(())
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        futures_executor::block_on(f)
    }

    #[test]
    fn a_key_is_read_once_per_ten_seconds_and_a_revocation_shows_within_them() {
        let store = Counting::default();
        *store.key.borrow_mut() = Some(key("key_a"));
        let at = |ms| CachedKeys::new(&store, ms);
        let hash = "h-revocation";
        let find = |ms| {
            let s = at(ms);
            run(async {
                let k = s.find_by_hash(hash).await.expect("found");
                s.touch(hash, 0).await.expect("touched");
                k
            })
        };
        assert!(find(1_000).is_some());
        // Revoked in D1 now: the isolate keeps the key it read until CACHE_MS have passed.
        store.key.borrow_mut().as_mut().expect("key").revoked_at = Some(2);
        let cached = find(1_000 + CACHE_MS - 1).expect("cached");
        assert_eq!(cached.revoked_at, None);
        assert_eq!((store.reads.get(), store.touches.get()), (1, 1));
        let fresh = find(1_000 + CACHE_MS).expect("read again");
        assert_eq!(fresh.revoked_at, Some(2), "the revocation shows after 10 s");
        assert_eq!((store.reads.get(), store.touches.get()), (2, 2));
    }

    #[test]
    fn unknown_keys_are_not_held() {
        let store = Counting::default();
        let s = CachedKeys::new(&store, 5_000);
        for _ in 0..3 {
            assert_eq!(run(s.find_by_hash("h-unknown")).expect("read"), None);
        }
        assert_eq!(store.reads.get(), 3);
    }
}
