//! Table `counters`: request counts per collector, metric and hour (migration 0003).

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

use super::int;
use crate::charts::HourRow;
use crate::metrics::{CountRow, CounterKey};

/// Adds `counts` to their cells in one D1 batch (all or nothing).
pub async fn add(db: &D1Database, counts: &[(CounterKey, u64)]) -> worker::Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let mut statements = Vec::with_capacity(counts.len());
    for (k, n) in counts {
        statements.push(
            db.prepare(
                "INSERT INTO counters (scope, subject, metric, hour, count) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (scope, subject, metric, hour) DO UPDATE SET count = count + excluded.count",
            )
            .bind(&[
                JsValue::from_str(k.scope),
                JsValue::from_str(&k.subject),
                JsValue::from_str(&k.metric),
                int(k.hour),
                int(*n),
            ])?,
        );
    }
    db.batch(statements).await?;
    Ok(())
}

#[derive(Deserialize)]
struct Row {
    subject: String,
    metric: String,
    count: f64,
}

/// Counts of `scope` summed per (subject, metric) over the hours from `since`.
pub async fn sum_since(db: &D1Database, scope: &str, since: i64) -> worker::Result<Vec<CountRow>> {
    let rows: Vec<Row> = db
        .prepare(
            "SELECT subject, metric, SUM(count) AS count FROM counters
             WHERE scope = ?1 AND hour >= ?2 GROUP BY subject, metric ORDER BY subject, metric",
        )
        .bind(&[JsValue::from_str(scope), int(since)])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| (r.subject, r.metric, r.count as u64))
        .collect())
}

/// Counts of `scope` per (subject, metric, hour) for the hours from `since`.
pub async fn hourly_since(
    db: &D1Database,
    scope: &str,
    since: i64,
) -> worker::Result<Vec<HourRow>> {
    #[derive(Deserialize)]
    struct Hourly {
        subject: String,
        metric: String,
        hour: f64,
        count: f64,
    }
    let rows: Vec<Hourly> = db
        .prepare(
            "SELECT subject, metric, hour, count FROM counters WHERE scope = ?1 AND hour >= ?2",
        )
        .bind(&[JsValue::from_str(scope), int(since)])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| (r.subject, r.metric, r.hour as i64, r.count as u64))
        .collect())
}
