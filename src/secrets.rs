//! Secret values by name: what the config names (it never holds a secret itself),
//! resolved once per isolate by [`crate::config::Config::resolve`].

use std::collections::BTreeMap;

/// Secret values by name, read once per isolate.
#[derive(Clone, Default)]
pub struct Secrets(pub(crate) BTreeMap<String, String>);

impl Secrets {
    /// The value of the secret called `name` (resolved, so present and non-empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Builds a set from pairs; for tests and benches.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Secrets(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

// Never print secret values, even in a debug dump.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}
