//! Table `rules`: AMO scanner rules and their actions.

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

use crate::dispatch::{Action, Rule};

#[derive(Deserialize)]
struct Row {
    name: String,
    action: String,
    enabled: f64,
    updated_at: f64,
}

/// Creates or replaces a rule.
pub async fn put(db: &D1Database, rule: &Rule) -> worker::Result<()> {
    db.prepare(
        "INSERT INTO rules (name, action, enabled, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET action = excluded.action, enabled = excluded.enabled,
           updated_at = excluded.updated_at",
    )
    .bind(&[
        JsValue::from_str(&rule.name),
        JsValue::from_str(rule.action.as_str()),
        JsValue::from_f64(f64::from(u8::from(rule.enabled))),
        JsValue::from_f64(rule.updated_at as f64),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Every rule, by name.
pub async fn list(db: &D1Database) -> worker::Result<Vec<Rule>> {
    let rows: Vec<Row> = db
        .prepare("SELECT name, action, enabled, updated_at FROM rules ORDER BY name")
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Rule {
                action: Action::parse(&r.action)?,
                name: r.name,
                enabled: r.enabled != 0.0,
                updated_at: r.updated_at as i64,
            })
        })
        .collect())
}
