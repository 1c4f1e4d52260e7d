//! Provider presets: `auth.scheme = "<provider>"` is the recipe under the provider's
//! name in `providers.json` (one line each, data following the provider's published
//! rules), with the collector's own keys (`secrets`, and any recipe key, e.g.
//! `tolerance_secs` or `url`) laid over it. docs/PROVIDERS.md lists them with what each
//! signs; a provider with several names (Meta's Facebook, Instagram and WhatsApp; Svix's
//! Clerk and Resend) has a line for each.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::recipe;

/// `providers.json`: provider name → recipe.
pub const PRESETS_JSON: &str = include_str!("providers.json");

/// The presets, parsed once per isolate.
pub fn presets() -> &'static Map<String, Value> {
    static PRESETS: OnceLock<Map<String, Value>> = OnceLock::new();
    // The file is part of the build and a test parses it, so this cannot fail at run time.
    PRESETS.get_or_init(|| serde_json::from_str(PRESETS_JSON).unwrap_or_default())
}

/// The recipe of provider `name` with the collector's `table` (its `auth` table, whose
/// `scheme` is the provider's name) laid over it; `None` for a name that is no provider.
pub fn recipe(
    name: &str,
    table: &Map<String, Value>,
) -> Option<Result<recipe::Config, serde_json::Error>> {
    let (name, preset) = presets().get_key_value(name)?;
    let mut merged = preset.as_object()?.clone();
    for (key, value) in table {
        if key != "scheme" {
            merged.insert(key.clone(), value.clone());
        }
    }
    Some(
        recipe::Config::deserialize(Value::Object(merged)).map(|mut config| {
            config.provider = Some(name.as_str());
            config
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_a_recipe_that_compiles() {
        let parsed: Map<String, Value> = serde_json::from_str(PRESETS_JSON).unwrap();
        assert!(parsed.len() >= 50, "{} presets", parsed.len());
        let names: Vec<&String> = parsed.keys().collect();
        assert!(names.is_sorted(), "keep providers.json sorted by name");
        let table: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"secrets": ["S"]})).unwrap();
        for name in names {
            assert!(
                !super::super::SCHEMES.contains(&name.as_str()),
                "{name} is a scheme"
            );
            let mut config = recipe(name, &table)
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            config
                .compile("auth")
                .unwrap_or_else(|e| panic!("{name}: {}", e.0));
            assert_eq!(config.provider, Some(name.as_str()));
        }
    }
}
