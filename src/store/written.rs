//! Table `written_records`: the object each record was claimed for (exactly-once writes).

use std::collections::BTreeMap;

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

/// The ids as one JSON array parameter, which the statements below read with SQLite's
/// `json_each`: one statement for a whole batch, where a statement per record (or per
/// 100 bound parameters) cost a D1 round of work each.
fn id_list(ids: &[&str]) -> JsValue {
    JsValue::from_str(&serde_json::Value::from(ids.to_vec()).to_string())
}

/// The claims `ids` had (record id → object key), and, in the same transaction, a claim
/// for `key` of each id that had none: one D1 call instead of a read and a [`claim`],
/// for the usual batch, whose records are all new and all written to `key`. Ids that had
/// a claim keep it; if they are written after all, [`claim`] moves them.
pub async fn claims_then_claim_new(
    db: &D1Database,
    ids: &[&str],
    key: &str,
    now_secs: i64,
) -> worker::Result<BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct Row {
        record_id: String,
        object_key: String,
    }
    let ids = id_list(ids);
    let results = db
        .batch(vec![
            db.prepare(
                "SELECT record_id, object_key FROM written_records
                 WHERE record_id IN (SELECT value FROM json_each(?1))",
            )
            .bind(std::slice::from_ref(&ids))?,
            db.prepare(
                "INSERT INTO written_records (record_id, object_key, claimed_at)
                 SELECT value, ?2, ?3 FROM json_each(?1) WHERE true
                 ON CONFLICT (record_id) DO NOTHING",
            )
            .bind(&[ids, JsValue::from_str(key), super::int(now_secs)])?,
        ])
        .await?;
    let selected = results
        .first()
        .ok_or_else(|| worker::Error::RustError("D1 batch answered no results".into()))?;
    let rows: Vec<Row> = selected.results()?;
    Ok(rows
        .into_iter()
        .map(|r| (r.record_id, r.object_key))
        .collect())
}

/// Claims `ids` for `key`, replacing older claims (whose objects were never written).
pub async fn claim(db: &D1Database, ids: &[&str], key: &str, now_secs: i64) -> worker::Result<()> {
    // `WHERE true`: SQLite's upsert after INSERT … SELECT needs a WHERE to parse.
    db.prepare(
        "INSERT INTO written_records (record_id, object_key, claimed_at)
         SELECT value, ?2, ?3 FROM json_each(?1) WHERE true
         ON CONFLICT (record_id) DO UPDATE SET object_key = excluded.object_key,
           claimed_at = excluded.claimed_at",
    )
    .bind(&[id_list(ids), JsValue::from_str(key), super::int(now_secs)])?
    .run()
    .await?;
    Ok(())
}

/// The ids of the records claimed for the object `key`.
pub async fn ids_of(db: &D1Database, key: &str) -> worker::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        record_id: String,
    }
    let rows: Vec<Row> = db
        .prepare("SELECT record_id FROM written_records WHERE object_key = ?1")
        .bind(&[JsValue::from_str(key)])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(|r| r.record_id).collect())
}

/// The object record `id` was claimed for, while its claim is kept.
pub async fn object_of(db: &D1Database, id: &str) -> worker::Result<Option<String>> {
    #[derive(Deserialize)]
    struct Row {
        object_key: String,
    }
    let row: Option<Row> = db
        .prepare("SELECT object_key FROM written_records WHERE record_id = ?1")
        .bind(&[JsValue::from_str(id)])?
        .first(None)
        .await?;
    Ok(row.map(|r| r.object_key))
}
