//! `validate` (Psoxy's schema filter): the payload must satisfy a JSON Schema (draft
//! 2020-12 unless the schema's `$schema` names another draft [boon] supports), else
//! `422 schema_mismatch` naming the instance location and the keyword that failed, and
//! nothing is stored. The schema is given inline or as the name of a secret (or plain
//! var) holding it, and is compiled when the config loads: a bad schema is a config
//! error naming the step.
//!
//! ```toml
//! { kind = "validate", schema = { type = "object", required = ["id"] } }
//! { kind = "validate", schema_from = "ORDER_SCHEMA" }
//! ```

use std::cell::OnceCell;
use std::rc::Rc;

use boon::{Compiler, Draft, SchemaIndex, Schemas};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table};
use crate::error::ConfigError;
use crate::secrets::Secrets;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    schema: Option<Value>,
    #[serde(default)]
    schema_from: Option<String>,
}

/// A compiled schema.
pub struct Compiled {
    schemas: Schemas,
    index: SchemaIndex,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

/// Where the schema comes from.
#[derive(Debug)]
enum Source {
    Inline(Compiled),
    Secret {
        name: String,
        compiled: OnceCell<Compiled>,
    },
}

/// The compiled step.
#[derive(Debug)]
pub struct Validate {
    source: Source,
    path: String,
}

/// Base URI of a configured schema: relative `$ref`s resolve against it, and since no
/// loader is registered, a `$ref` to any other document is a compile error.
const SCHEMA_URI: &str = "urn:edgehook:schema";

crate::refusal! {
    /// Why a schema is refused: not a usable JSON Schema, or a secret not holding one.
    InvalidSchema
}

crate::refusal! {
    /// Why a payload does not satisfy the schema: the first failing keyword and where.
    Mismatch
}

/// Compiles `schema` (draft 2020-12 by default); the message says what is wrong.
pub fn compile_schema(schema: Value) -> Result<Compiled, InvalidSchema> {
    let mut compiler = Compiler::new();
    compiler.set_default_draft(Draft::V2020_12);
    let mut schemas = Schemas::new();
    compiler
        .add_resource(SCHEMA_URI, schema)
        .map_err(|e| format!("{e}"))?;
    let index = compiler
        .compile(SCHEMA_URI, &mut schemas)
        .map_err(|e| format!("not a usable JSON Schema: {e:#}"))?;
    Ok(Compiled { schemas, index })
}

impl Compiled {
    /// Checks `instance`; the error names the first failing keyword and where.
    pub fn check(&self, instance: &Value) -> Result<(), Mismatch> {
        let Err(e) = self.schemas.validate(instance, self.index) else {
            return Ok(());
        };
        let basic = e.basic_output();
        // The first leaf of the basic output: the deepest keyword that failed.
        let (instance_at, keyword_at, message) = match &basic.error {
            boon::OutputError::Branch(units) => units
                .iter()
                .find_map(|u| match &u.error {
                    boon::OutputError::Leaf(kind) => Some((
                        u.instance_location.to_string(),
                        u.keyword_location.clone(),
                        kind.to_string(),
                    )),
                    boon::OutputError::Branch(_) => None,
                })
                .unwrap_or_else(|| {
                    (
                        e.instance_location.to_string(),
                        String::new(),
                        e.to_string(),
                    )
                }),
            boon::OutputError::Leaf(kind) => (
                basic.instance_location.to_string(),
                basic.keyword_location.clone(),
                kind.to_string(),
            ),
        };
        // boon 0.6 names additionalProperties "additionalProperty" in its output.
        let keyword_at = match keyword_at.strip_suffix("/additionalProperty") {
            Some(head) => format!("{head}/additionalProperties"),
            None => keyword_at,
        };
        let keyword = keyword_at.rsplit('/').next().unwrap_or_default();
        let instance_at = if instance_at.is_empty() {
            "/"
        } else {
            &instance_at
        };
        Err(
            format!("at {instance_at}: keyword {keyword:?} ({keyword_at}) failed: {message}")
                .into(),
        )
    }
}

/// Builds the step; an inline schema compiles here.
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    let source = match (spec.schema, spec.schema_from) {
        (Some(schema), None) => Source::Inline(
            compile_schema(schema).map_err(|e| ConfigError(format!("{}.schema: {e}", cx.path)))?,
        ),
        (None, Some(name)) => Source::Secret {
            name,
            compiled: OnceCell::new(),
        },
        _ => {
            return Err(ConfigError(format!(
                "{}: give exactly one of schema (inline) or schema_from (a secret or var holding the schema)",
                cx.path
            )));
        }
    };
    Ok(Rc::new(Validate {
        source,
        path: cx.path.to_string(),
    }))
}

impl Validate {
    fn compiled(&self, secrets: &Secrets) -> Result<&Compiled, InvalidSchema> {
        match &self.source {
            Source::Inline(c) => Ok(c),
            Source::Secret { name, compiled } => {
                if let Some(c) = compiled.get() {
                    return Ok(c);
                }
                // `load` compiled it when the config loaded; this serves a chain run
                // without `load`, as in unit tests.
                let c = schema_of_secret(secrets, name)?;
                Ok(compiled.get_or_init(|| c))
            }
        }
    }
}

fn schema_of_secret(secrets: &Secrets, name: &str) -> Result<Compiled, InvalidSchema> {
    let text = secrets.get(name).unwrap_or_default();
    let schema: Value = serde_json::from_str(text)
        .map_err(|e| format!("secret {name} does not hold JSON ({e})"))?;
    compile_schema(schema).map_err(|e| InvalidSchema(format!("secret {name}: {e}")))
}

impl Step for Validate {
    fn apply<'a>(
        &'a self,
        cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        Box::pin(async move {
            let compiled = self
                .compiled(cx.secrets)
                .map_err(|e| StepError::SchemaMismatch(format!("the schema is unusable: {e}")))?;
            compiled
                .check(&work.payload)
                .map_err(|e| StepError::SchemaMismatch(e.0))?;
            Ok(Flow::Continue)
        })
    }

    fn secret_refs(&self) -> Vec<(String, String)> {
        match &self.source {
            Source::Secret { name, .. } => {
                vec![(format!("{}.schema_from", self.path), name.clone())]
            }
            Source::Inline(_) => Vec::new(),
        }
    }

    fn load(&self, secrets: &Secrets) -> Result<(), ConfigError> {
        if let Source::Secret { name, compiled } = &self.source
            && compiled.get().is_none()
        {
            let c = schema_of_secret(secrets, name)
                .map_err(|e| ConfigError(format!("{}.schema_from: {e}", self.path)))?;
            let _ = compiled.set(c);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, step};
    use super::*;
    use crate::auth::Identity;
    use crate::inbound::InboundRequest;
    use serde_json::json;

    fn order_schema() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["id", "amount", "items"],
            "properties": {
                "id": {"type": "string", "pattern": "^ord_[0-9a-z]+$"},
                "amount": {"type": "number", "minimum": 0},
                "currency": {"enum": ["eur", "usd"]},
                "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/item"}}
            },
            "$defs": {"item": {"type": "object", "required": ["sku"],
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "exclusiveMinimum": 0}}}},
            "additionalProperties": false
        })
    }

    fn check(s: &Rc<dyn Step>, secrets: &Secrets, payload: Value) -> Result<Flow, StepError> {
        let mut work = Work::new(payload, Vec::new());
        run(
            s,
            &InboundRequest::default(),
            &Identity::of("none"),
            secrets,
            &mut work,
        )
    }

    #[test]
    fn mismatches_name_the_instance_location_and_keyword() {
        let s = step(
            json!({"kind": "validate", "schema": order_schema()}),
            "none",
        )
        .unwrap();
        let good = json!({"id": "ord_1a", "amount": 12.50, "currency": "eur", "items": [{"sku": "a", "qty": 2}]});
        assert_eq!(check(&s, &Secrets::default(), good), Ok(Flow::Continue));
        let cases = [
            (
                json!({"id": "ord_1", "amount": -1, "items": [{"sku": "a"}]}),
                "at /amount: keyword \"minimum\"",
            ),
            (
                json!({"id": "ord_1", "amount": 1, "items": [{"sku": "a", "qty": 0}]}),
                "at /items/0/qty: keyword \"exclusiveMinimum\"",
            ),
            (
                json!({"id": "ord_1", "amount": 1, "items": [{"qty": 1}]}),
                "at /items/0: keyword \"required\"",
            ),
            (
                json!({"id": "ord_1", "amount": 1, "items": []}),
                "at /items: keyword \"minItems\"",
            ),
            (
                json!({"id": "x", "amount": 1, "items": [{"sku": "a"}]}),
                "at /id: keyword \"pattern\"",
            ),
            (
                json!({"id": "ord_1", "amount": 1, "items": [{"sku": "a"}], "extra": 1}),
                "at /: keyword \"additionalProperties\"",
            ),
            (
                json!({"id": "ord_1", "amount": 1, "currency": "gbp", "items": [{"sku": "a"}]}),
                "at /currency: keyword \"enum\"",
            ),
            (json!([1]), "at /: keyword \"type\""),
        ];
        for (payload, want) in cases {
            let r = check(&s, &Secrets::default(), payload.clone());
            let Err(StepError::SchemaMismatch(why)) = r else {
                panic!("{payload}: {r:?}")
            };
            assert!(why.starts_with(want), "{payload}: {why}");
        }
    }

    #[test]
    fn numbers_are_numbers_with_arbitrary_precision() {
        // serde_json's arbitrary_precision keeps numbers as text; boon must still see
        // integers, decimals and ids past 2^64 as numbers.
        let s = step(
            json!({"kind": "validate", "schema": {"type": "object", "properties": {
                "id": {"type": "integer"}, "n": {"type": "integer", "minimum": 1, "maximum": 10},
                "price": {"type": "number", "multipleOf": 0.5}}}}),
            "none",
        )
        .unwrap();
        let ok: Value = serde_json::from_str(
            r#"{"id": 123456789012345678901234567890, "n": 10, "price": 1.5}"#,
        )
        .unwrap();
        assert_eq!(check(&s, &Secrets::default(), ok), Ok(Flow::Continue));
        for bad in [
            r#"{"n": 11}"#,
            r#"{"n": 0}"#,
            r#"{"n": 1.5}"#,
            r#"{"price": 1.25}"#,
            r#"{"id": "1"}"#,
        ] {
            let payload: Value = serde_json::from_str(bad).unwrap();
            assert!(check(&s, &Secrets::default(), payload).is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_from_a_secret_compiles_at_load() {
        let s = step(
            json!({"kind": "validate", "schema_from": "ORDER_SCHEMA"}),
            "none",
        )
        .unwrap();
        assert_eq!(
            s.secret_refs(),
            vec![(
                "collectors[0].steps[0].schema_from".into(),
                "ORDER_SCHEMA".into()
            )]
        );
        let bad = Secrets::from_pairs([("ORDER_SCHEMA", r#"{"type": "objekt"}"#)]);
        let e = s.load(&bad).unwrap_err();
        assert!(
            e.0.starts_with(
                "collectors[0].steps[0].schema_from: secret ORDER_SCHEMA: not a usable JSON Schema"
            ),
            "{e}"
        );
        let e = s
            .load(&Secrets::from_pairs([("ORDER_SCHEMA", "{")]))
            .unwrap_err();
        assert!(
            e.0.contains("secret ORDER_SCHEMA does not hold JSON"),
            "{e}"
        );
        let good = Secrets::from_pairs([("ORDER_SCHEMA", &*order_schema().to_string())]);
        s.load(&good).unwrap();
        assert!(check(&s, &good, json!({"id": "ord_1"})).is_err());
    }

    #[test]
    fn bad_schemas_are_config_errors_naming_the_step() {
        let cases = [
            (
                json!({"schema": {"type": "objekt"}}),
                "collectors[0].steps[0].schema: not a usable JSON Schema",
            ),
            (
                json!({"schema": {"pattern": "("}}),
                "collectors[0].steps[0].schema: not a usable JSON Schema",
            ),
            (
                json!({"schema": {"$ref": "https://example.com/other.json"}}),
                "collectors[0].steps[0].schema: not a usable JSON Schema",
            ),
            (
                json!({}),
                "collectors[0].steps[0]: give exactly one of schema",
            ),
            (
                json!({"schema": true, "schema_from": "X"}),
                "collectors[0].steps[0]: give exactly one of schema",
            ),
        ];
        for (mut spec, want) in cases {
            spec["kind"] = json!("validate");
            let e = step(spec.clone(), "none").unwrap_err();
            assert!(e.0.starts_with(want), "{spec}: {e}");
        }
    }
}
