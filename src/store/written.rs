//! Table `written_records`: the object each record was claimed for (exactly-once writes).

use std::collections::BTreeMap;

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

/// D1 binds at most 100 parameters per statement.
const CHUNK: usize = 100;

/// The claims of `ids`: record id → object key.
pub async fn claims(db: &D1Database, ids: &[&str]) -> worker::Result<BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct Row {
        record_id: String,
        object_key: String,
    }
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(CHUNK) {
        let marks = (1..=chunk.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let binds: Vec<JsValue> = chunk.iter().map(|id| JsValue::from_str(id)).collect();
        let rows: Vec<Row> = db
            .prepare(format!(
                "SELECT record_id, object_key FROM written_records WHERE record_id IN ({marks})"
            ))
            .bind(&binds)?
            .all()
            .await?
            .results()?;
        out.extend(rows.into_iter().map(|r| (r.record_id, r.object_key)));
    }
    Ok(out)
}

/// Claims `ids` for `key`, replacing older claims (whose objects were never written).
pub async fn claim(db: &D1Database, ids: &[&str], key: &str, now_secs: u64) -> worker::Result<()> {
    let statements = ids
        .iter()
        .map(|id| {
            db.prepare(
                "INSERT INTO written_records (record_id, object_key, claimed_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (record_id) DO UPDATE SET object_key = excluded.object_key,
                   claimed_at = excluded.claimed_at",
            )
            .bind(&[JsValue::from_str(id), JsValue::from_str(key), super::int(now_secs)])
        })
        .collect::<worker::Result<Vec<_>>>()?;
    for chunk in statements.chunks(CHUNK) {
        db.batch(chunk.to_vec()).await?;
    }
    Ok(())
}
