//! Plugin bundles: what `PUT /admin/plugins/{name}` takes, checked and named by digest.
//!
//! Two wire forms (docs/PLUGINS.md):
//! - `Content-Type: application/wasm`: one module built with the SDK
//!   (`sdk/edgehook-plugin`); edgehook adds its own main module ([`GLUE`]), so the
//!   bundle is `main.js` + `plugin.wasm`.
//! - `Content-Type: application/json`: `{"main": "<module>", "modules": {"<name>":
//!   "<base64>"}}`, any number of `.js`/`.mjs` (ES modules) and `.wasm` parts; `main`
//!   may be left out when there is exactly one JS module.
//!
//! A version is the SHA-256 of the bundle's canonical form (main name, then each part's
//! name, length and bytes in name order), so the same code uploaded twice is one version
//! and the Worker Loader's isolate id `<name>@<version>` names exactly one code.

use crate::error::ErrorCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The main module edgehook supplies for a bundle of one SDK-built `.wasm`.
pub const GLUE: &str = include_str!("glue.js");
/// The name of [`GLUE`] in such a bundle.
pub const GLUE_MAIN: &str = "main.js";
/// The name of the SDK-built module in such a bundle (the name [`GLUE`] imports).
pub const SDK_MODULE: &str = "plugin.wasm";

/// Largest bundle, counting every part's decoded bytes (the glue included).
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;
/// Largest single part.
pub const MAX_PART_BYTES: usize = 2 * 1024 * 1024;
/// Largest request body: a JSON bundle carries its parts in base64 (4/3) plus names.
pub const MAX_UPLOAD_BYTES: usize = MAX_BUNDLE_BYTES / 3 * 4 + 64 * 1024;
/// Most parts in one bundle.
pub const MAX_PARTS: usize = 32;

/// How a part is handed to the Worker Loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartKind {
    /// An ES module (`.js`, `.mjs`), UTF-8 text.
    Js,
    /// A WebAssembly module (`.wasm`), imported by a JS module as a `WebAssembly.Module`.
    Wasm,
}

/// One module of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Module name, as JS modules import it (`plugin.wasm`).
    pub name: String,
    /// Its kind, from the name's extension.
    pub kind: PartKind,
    /// The module's bytes, as uploaded.
    pub bytes: Vec<u8>,
}

/// A checked bundle: a main JS module and its parts, in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Name of the main module (one of `parts`, a JS module).
    pub main: String,
    /// Every module, sorted by name.
    pub parts: Vec<Part>,
}

/// One module as recorded in D1 (the bytes live in R2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleEntry {
    /// The module's name, as the main module imports it.
    pub name: String,
    /// What the module is (an ES module or a wasm module), from its extension.
    pub kind: PartKind,
    /// Size in bytes.
    pub size: usize,
}

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleError {
    /// `413 bundle_too_large`: the bundle or the request is over its limit.
    TooLarge(String),
    /// `413 part_too_large`: one part is over [`MAX_PART_BYTES`].
    PartTooLarge(String),
    /// `422 invalid_bundle`: the bundle is malformed (names, base64, kinds, main).
    Invalid(String),
}

impl BundleError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.code().status()
    }

    /// The ErrorCode this refusal is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            BundleError::TooLarge(_) => ErrorCode::BundleTooLarge,
            BundleError::PartTooLarge(_) => ErrorCode::PartTooLarge,
            BundleError::Invalid(_) => ErrorCode::InvalidBundle,
        }
    }

    /// The sentence answered with the code.
    pub fn message(&self) -> &str {
        match self {
            BundleError::TooLarge(m) | BundleError::PartTooLarge(m) | BundleError::Invalid(m) => m,
        }
    }
}

/// Whether `name` can name a plugin: 1–64 of `a-z A-Z 0-9 - _` (it becomes part of an R2
/// key and of the isolate id `<name>@<version>`).
pub fn valid_plugin_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `version` looks like a version: 64 lowercase hex digits.
pub fn valid_version(version: &str) -> bool {
    version.len() == 64
        && version
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn part_kind(name: &str) -> Result<PartKind, BundleError> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !(1..=64).contains(&name.len()) || !ok_chars || name.starts_with('.') {
        return Err(BundleError::Invalid(format!(
            "module name {name:?}: 1-64 of a-z A-Z 0-9 . - _, not starting with a dot"
        )));
    }
    if name.ends_with(".js") || name.ends_with(".mjs") {
        Ok(PartKind::Js)
    } else if name.ends_with(".wasm") {
        Ok(PartKind::Wasm)
    } else {
        Err(BundleError::Invalid(format!(
            "module {name:?}: only .js, .mjs and .wasm modules are taken"
        )))
    }
}

fn check_part(name: &str, bytes: Vec<u8>) -> Result<Part, BundleError> {
    let kind = part_kind(name)?;
    if bytes.len() > MAX_PART_BYTES {
        return Err(BundleError::PartTooLarge(format!(
            "module {name:?} is {} bytes; a part may have at most {MAX_PART_BYTES}",
            bytes.len()
        )));
    }
    match kind {
        PartKind::Js if std::str::from_utf8(&bytes).is_err() => Err(BundleError::Invalid(format!(
            "module {name:?} is not UTF-8 text"
        ))),
        PartKind::Wasm if !bytes.starts_with(b"\0asm\x01\0\0\0") => Err(BundleError::Invalid(
            format!("module {name:?} is not a WebAssembly module (no \\0asm version 1 header)"),
        )),
        _ => Ok(Part {
            name: name.to_string(),
            kind,
            bytes,
        }),
    }
}

impl Bundle {
    /// Checks `parts` and `main` into a bundle (parts sorted by name).
    pub fn new(main: Option<&str>, parts: Vec<(String, Vec<u8>)>) -> Result<Bundle, BundleError> {
        if parts.is_empty() {
            return Err(BundleError::Invalid("the bundle has no modules".into()));
        }
        if parts.len() > MAX_PARTS {
            return Err(BundleError::Invalid(format!(
                "the bundle has {} modules; at most {MAX_PARTS}",
                parts.len()
            )));
        }
        let total: usize = parts.iter().map(|(_, b)| b.len()).sum();
        if total > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(format!(
                "the bundle is {total} bytes; at most {MAX_BUNDLE_BYTES}"
            )));
        }
        let mut parts = parts
            .into_iter()
            .map(|(name, bytes)| check_part(&name, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        parts.sort_by(|a, b| a.name.cmp(&b.name));
        let js: Vec<&str> = parts
            .iter()
            .filter(|p| p.kind == PartKind::Js)
            .map(|p| p.name.as_str())
            .collect();
        let main = match (main, js.as_slice()) {
            (Some(m), _) if js.contains(&m) => m.to_string(),
            (Some(m), _) => {
                return Err(BundleError::Invalid(format!(
                    "main {m:?} is not one of the bundle's JS modules ({})",
                    js.join(", ")
                )));
            }
            (None, [only]) => only.to_string(),
            (None, _) => {
                return Err(BundleError::Invalid(format!(
                    "name the main module: the bundle has {} JS modules",
                    js.len()
                )));
            }
        };
        Ok(Bundle { main, parts })
    }

    /// A bundle of one SDK-built `.wasm` and edgehook's [`GLUE`].
    pub fn from_wasm(bytes: Vec<u8>) -> Result<Bundle, BundleError> {
        Bundle::new(
            Some(GLUE_MAIN),
            vec![
                (GLUE_MAIN.to_string(), GLUE.as_bytes().to_vec()),
                (SDK_MODULE.to_string(), bytes),
            ],
        )
    }

    /// A bundle from its JSON form `{"main"?, "modules": {name: base64}}`.
    pub fn from_json(body: &[u8]) -> Result<Bundle, BundleError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            #[serde(default)]
            main: Option<String>,
            modules: BTreeMap<String, String>,
        }
        let wire: Wire = serde_json::from_slice(body).map_err(|e| {
            BundleError::Invalid(format!(
                "expected {{\"main\", \"modules\": {{name: base64}}}}: {e}"
            ))
        })?;
        let mut parts = Vec::with_capacity(wire.modules.len());
        for (name, b64) in wire.modules {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| BundleError::Invalid(format!("module {name:?}: not base64: {e}")))?;
            parts.push((name, bytes));
        }
        Bundle::new(wire.main.as_deref(), parts)
    }

    /// The version: hex SHA-256 of the canonical form.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.main.as_bytes());
        h.update([0]);
        for p in &self.parts {
            h.update(p.name.as_bytes());
            h.update([0]);
            h.update((p.bytes.len() as u64).to_be_bytes());
            h.update(&p.bytes);
        }
        hex::encode(h.finalize())
    }

    /// Total bytes of every part.
    pub fn size(&self) -> usize {
        self.parts.iter().map(|p| p.bytes.len()).sum()
    }

    /// The modules as recorded in D1.
    pub fn modules(&self) -> Vec<ModuleEntry> {
        self.parts
            .iter()
            .map(|p| ModuleEntry {
                name: p.name.clone(),
                kind: p.kind,
                size: p.bytes.len(),
            })
            .collect()
    }
}

/// The R2 prefix of a version's modules: `plugins/<name>/<version>/`.
pub fn prefix(name: &str, version: &str) -> String {
    format!("plugins/{name}/{version}/")
}

/// The Worker Loader's isolate id of a version.
pub fn isolate_id(name: &str, version: &str) -> String {
    format!("{name}@{version}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    const WASM: &[u8] = b"\0asm\x01\0\0\0";

    fn json_bundle(v: serde_json::Value) -> Result<Bundle, BundleError> {
        Bundle::from_json(v.to_string().as_bytes())
    }

    #[test]
    fn the_same_code_is_the_same_version_whatever_the_order() {
        let a = json_bundle(
            json!({"modules": {"m.js": STANDARD.encode("x"), "p.wasm": STANDARD.encode(WASM)}}),
        )
        .unwrap();
        let b = Bundle::new(
            Some("m.js"),
            vec![
                ("p.wasm".into(), WASM.to_vec()),
                ("m.js".into(), b"x".to_vec()),
            ],
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        assert!(valid_version(&a.digest()));
        let c = Bundle::new(Some("m.js"), vec![("m.js".into(), b"y".to_vec())]).unwrap();
        assert_ne!(a.digest(), c.digest());
        assert_eq!(a.size(), 1 + WASM.len());
        assert_eq!(a.main, "m.js");
    }

    #[test]
    fn a_wasm_upload_gets_the_glue_as_main() {
        let b = Bundle::from_wasm(WASM.to_vec()).unwrap();
        assert_eq!(b.main, GLUE_MAIN);
        let names: Vec<_> = b.parts.iter().map(|p| (p.name.as_str(), p.kind)).collect();
        assert_eq!(
            names,
            [(GLUE_MAIN, PartKind::Js), (SDK_MODULE, PartKind::Wasm)]
        );
        assert!(GLUE.contains("import module from \"plugin.wasm\""));
    }

    #[test]
    fn bad_bundles_are_named() {
        let cases = [
            (json!({"modules": {}}), "invalid_bundle", "no modules"),
            (
                json!({"modules": {"a.js": "!!"}}),
                "invalid_bundle",
                "not base64",
            ),
            (json!({"modules": {"a.txt": ""}}), "invalid_bundle", ".wasm"),
            (
                json!({"modules": {"../a.js": ""}}),
                "invalid_bundle",
                "module name",
            ),
            (
                json!({"modules": {"a.wasm": STANDARD.encode("nope")}}),
                "invalid_bundle",
                "WebAssembly",
            ),
            (
                json!({"modules": {"a.js": STANDARD.encode([0xff, 0xfe])}}),
                "invalid_bundle",
                "UTF-8",
            ),
            (
                json!({"modules": {"a.js": "", "b.js": ""}}),
                "invalid_bundle",
                "name the main",
            ),
            (
                json!({"main": "c.js", "modules": {"a.js": ""}}),
                "invalid_bundle",
                "not one of",
            ),
            (
                json!({"modules": {"a.js": ""}, "extra": 1}),
                "invalid_bundle",
                "unknown field",
            ),
            (
                json!({"modules": {"a.js": STANDARD.encode(vec![b' '; MAX_PART_BYTES + 1])}}),
                "part_too_large",
                "at most",
            ),
        ];
        for (body, code, says) in cases {
            let e = json_bundle(body.clone()).unwrap_err();
            assert_eq!(e.code().as_str(), code, "{body}");
            assert!(e.message().contains(says), "{body}: {}", e.message());
        }
        let many: Vec<_> = (0..=MAX_PARTS)
            .map(|i| (format!("m{i}.js"), Vec::new()))
            .collect();
        assert_eq!(Bundle::new(Some("m0.js"), many).unwrap_err().status(), 422);
        let big: Vec<_> = (0..3)
            .map(|i| (format!("m{i}.js"), vec![b' '; MAX_PART_BYTES]))
            .collect();
        let e = Bundle::new(Some("m0.js"), big).unwrap_err();
        assert_eq!((e.status(), e.code()), (413, ErrorCode::BundleTooLarge));
    }

    #[test]
    fn names_and_versions() {
        assert!(valid_plugin_name("amo-scanner_2"));
        for bad in ["", "a/b", "a@b", "a.b", &"x".repeat(65)] {
            assert!(!valid_plugin_name(bad), "{bad}");
        }
        assert!(valid_version(&"ab".repeat(32)));
        assert!(!valid_version(&"AB".repeat(32)));
        assert!(!valid_version("abc"));
        assert_eq!(prefix("p", "v"), "plugins/p/v/");
        assert_eq!(isolate_id("p", "v"), "p@v");
    }
}
