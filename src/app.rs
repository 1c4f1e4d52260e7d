//! The per-isolate application state: the validated config and its resolved secrets.

use std::cell::RefCell;
use std::rc::Rc;

use worker::{Env, wasm_bindgen::JsValue};

use crate::auth::keys::Keyring;
use crate::config::Config;
use crate::error::ApiError;
use crate::error::ConfigError;
use crate::secrets::Secrets;

/// Name of the config variable.
pub const CONFIG_VAR: &str = "EDGEHOOK_CONFIG";

/// Everything a request or a queue batch needs from the config.
#[derive(Debug)]
pub struct App {
    /// The validated config.
    pub config: Config,
    /// Every secret the config names.
    pub secrets: Secrets,
    /// JWT keys parsed from those secrets.
    pub keyring: Keyring,
    /// `EDGEHOOK_ENV`, e.g. `dev`.
    pub environment: String,
}

thread_local! {
    // Workers run one isolate per thread; the config is parsed once per isolate.
    static APP: RefCell<Option<Result<Rc<App>, ConfigError>>> = const { RefCell::new(None) };
}

/// The app of this isolate, loading it on first use. A config error is kept too, so
/// every route keeps answering `500 invalid_config` until the config is fixed.
pub fn app(env: &Env) -> Result<Rc<App>, ApiError> {
    APP.with(|cell| {
        let mut slot = cell.borrow_mut();
        let loaded = slot.get_or_insert_with(|| load(env).map(Rc::new));
        loaded
            .clone()
            .map_err(|e| ApiError::invalid_config(e.to_string()))
    })
}

fn load(env: &Env) -> Result<App, ConfigError> {
    let raw = config_json(env)?;
    let config = Config::parse(&raw)?;
    let secrets = config.resolve(|name| env.secret(name).ok().map(|s| s.to_string()))?;
    let keyring = Keyring::load(config.auth_tables(), &secrets)?;
    for c in &config.collectors {
        for (key, name) in c.chain.service_bindings() {
            if env.service(&name).is_err() {
                return Err(ConfigError(format!(
                    "{key}: the worker has no service binding {name} (add it under [[services]] in wrangler.toml)"
                )));
            }
        }
    }
    let environment = env
        .var("EDGEHOOK_ENV")
        .map(|v| v.to_string())
        .unwrap_or_default();
    Ok(App {
        config,
        secrets,
        keyring,
        environment,
    })
}

/// The config as JSON text, whether the binding is a TOML table (a JS object) or a
/// string holding JSON.
fn config_json(env: &Env) -> Result<String, ConfigError> {
    let value: JsValue = worker::js_sys::Reflect::get(env, &JsValue::from_str(CONFIG_VAR))
        .unwrap_or(JsValue::UNDEFINED);
    if value.is_undefined() || value.is_null() {
        return Err(ConfigError(format!(
            "{CONFIG_VAR}: the variable is not set"
        )));
    }
    if let Some(s) = value.as_string() {
        return Ok(s);
    }
    worker::js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| ConfigError(format!("{CONFIG_VAR}: not a JSON object or string")))
}
