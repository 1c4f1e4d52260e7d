//! `docs/openapi.json` documents exactly the routes the router serves
//! (`edgehook::http::routes::ROUTES`), and every `$ref` in it resolves.

use std::collections::BTreeSet;

use edgehook::http::routes::ROUTES;
use serde_json::Value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (METHOD, OpenAPI path) of every operation under `paths`.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for (method, _) in item.as_object().expect("path item is an object") {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The router's `{*rest}` is an ordinary `{rest}` parameter in OpenAPI.
fn openapi_path(pattern: &str) -> String {
    pattern.replace("{*", "{")
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let doc = load("docs/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = documented(&doc);
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), openapi_path(r.pattern)))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "docs/openapi.json documents routes the router does not serve: {unrouted:?}"
    );
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn check_refs(doc: &Value, name: &str) {
    let mut found = Vec::new();
    refs(doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{name}: external $ref {r}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{name}: $ref {r} resolves to nothing"
        );
    }
}

#[test]
fn every_ref_resolves_and_every_path_parameter_is_declared() {
    let main_doc = load("docs/openapi.json");
    check_refs(&main_doc, "docs/openapi.json");
    for (name, doc) in [("docs/openapi.json", main_doc)] {
        for (path, item) in doc["paths"].as_object().unwrap() {
            let wanted: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            for (method, op) in item.as_object().unwrap() {
                let mut declared = BTreeSet::new();
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let p = match p.get("$ref").and_then(Value::as_str) {
                        Some(r) => doc.pointer(&r[1..]).unwrap(),
                        None => p,
                    };
                    if p["in"] == "path" {
                        declared.insert(p["name"].as_str().unwrap());
                    }
                }
                assert_eq!(declared, wanted, "{name}: {method} {path}");
                assert!(op["responses"].is_object(), "{name}: {method} {path}");
            }
        }
    }
}
