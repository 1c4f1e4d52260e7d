//! Shared by the scheme vector tests (`tests/<scheme>_vectors.rs`): the vector files,
//! whose `cases` each override some of the file's `defaults`; the stable code an
//! outcome answers with; and a collector config run through the real loading path.
#![allow(dead_code)] // each test crate uses its own subset

use edgehook::auth::api_key::NoKeys;
use edgehook::auth::keys::Keyring;
use edgehook::auth::{self, AuthContext, AuthError};
use edgehook::collect::accept;
use edgehook::config::Config;
use edgehook::crypto::native::NativeCrypto;
use edgehook::error::ApiError;
use edgehook::inbound::{HeaderMap, InboundRequest};
use edgehook::secrets::Secrets;
use serde_json::{Map, Value};

/// One row of a vector file: the file's `defaults` overlaid with the row's own keys.
pub struct Case {
    /// What the row checks.
    pub name: String,
    /// `ok`, or the error code the request must be refused with.
    pub expect: String,
    fields: Map<String, Value>,
}

impl Case {
    /// A string field; `null` means "absent" (a header not sent).
    pub fn opt(&self, key: &str) -> Option<&str> {
        match &self.fields[key] {
            Value::Null => None,
            v => Some(v.as_str().unwrap_or_else(|| panic!("{}: {key}", self.name))),
        }
    }

    /// A string field that must be present.
    pub fn str(&self, key: &str) -> &str {
        self.opt(key)
            .unwrap_or_else(|| panic!("{}: {key} is null", self.name))
    }

    /// An integer field.
    pub fn i64(&self, key: &str) -> i64 {
        self.fields[key].as_i64().unwrap()
    }

    /// A list of strings.
    pub fn strs(&self, key: &str) -> Vec<&str> {
        self.fields[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect()
    }
}

/// The rows of `tests/vectors/<file>.json`, which must say where its vectors come from.
pub fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/vectors/{file}.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        v["source"].as_str().is_some_and(|s| !s.is_empty()),
        "{file}.json names no source"
    );
    let defaults = v["defaults"].as_object().unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut fields = defaults.clone();
            fields.extend(c.as_object().unwrap().clone());
            Case {
                name: fields["name"].as_str().unwrap().to_string(),
                expect: fields["expect"].as_str().unwrap().to_string(),
                fields,
            }
        })
        .collect()
}

/// `ok`, or the stable code of the error the request is refused with.
pub fn outcome(r: &Result<(), AuthError>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(e) => ApiError::from(e.clone()).code.as_str(),
    }
}

/// Runs every case through `run` and fails listing each row whose outcome differs from
/// its `expect`, or whose error message repeats one of `never_echoed` (secrets and
/// signatures).
pub fn check_all(
    file: &str,
    never_echoed: &[&str],
    run: impl Fn(&Case) -> Result<(), AuthError>,
) -> usize {
    let cases = cases(file);
    let mut failures = Vec::new();
    for c in &cases {
        let r = run(c);
        if outcome(&r) != c.expect {
            failures.push(format!("{}: expected {}, got {r:?}", c.name, c.expect));
        }
        if let Err(e) = &r {
            let message = ApiError::from(e.clone()).message;
            for field in never_echoed {
                if let Some(secret) = c.opt(field).filter(|s| s.len() > 8)
                    && message.contains(secret)
                {
                    failures.push(format!("{}: the message repeats {field}", c.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    cases.len()
}

/// A config with one collector `c` whose `auth` table is `auth` (JSON).
pub fn config(auth: &str) -> Result<Config, String> {
    Config::parse(&format!(
        r#"{{"public_url": "https://hooks.example.com",
            "collectors": [{{"name": "c", "auth": {auth}}}]}}"#
    ))
    .map_err(|e| e.0)
}

/// The error loading `auth` with `secrets` gives, through the worker's path: parse and
/// validate, resolve every named secret, decode the keys.
pub fn load_error(auth: &str, secrets: &[(&str, &str)]) -> String {
    match load(auth, secrets) {
        Ok(_) => panic!("{auth} loaded"),
        Err(e) => e,
    }
}

/// Loads a collector config the way the worker does.
pub fn load(auth: &str, secrets: &[(&str, &str)]) -> Result<(Config, Secrets, Keyring), String> {
    let config = config(auth)?;
    let resolved = config
        .resolve(|n| {
            secrets
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
        .map_err(|e| e.0)?;
    let keyring = Keyring::load(config.auth_tables(), &resolved).map_err(|e| e.0)?;
    Ok((config, resolved, keyring))
}

/// Verifies `req` against collector `c` of a config loaded from `auth` and `secrets`,
/// through `auth::verify` as the collector route does: with only the headers the worker
/// copies for the collector (`accept::headers_read`).
pub fn verify_with_config(
    auth: &str,
    secrets: &[(&str, &str)],
    req: &InboundRequest,
    now_secs: i64,
) -> Result<(), AuthError> {
    let (config, secrets, keyring) = load(auth, secrets).unwrap();
    let cx = AuthContext {
        secrets: &secrets,
        keyring: &keyring,
        crypto: &NativeCrypto,
        api_keys: &NoKeys,
        now_secs,
    };
    let collector = &config.collectors[0];
    let req = InboundRequest {
        headers: HeaderMap::select(accept::headers_read(collector), |n| {
            req.headers.get(n).map(str::to_string)
        }),
        ..req.clone()
    };
    futures_executor::block_on(auth::verify(&collector.auth, &cx, &req)).map(drop)
}
