//! Read-only counts over the dispatch tables `results` and `subscriptions` (created by
//! the first migration) for `GET /admin/stats`. The dispatch code owns those tables;
//! this file only counts what it wrote.

use serde::Deserialize;
use worker::D1Database;

use super::int;
use crate::metrics::ResultRow;

#[derive(Deserialize)]
struct Row {
    subscription_id: String,
    name: Option<String>,
    status: String,
    count: f64,
}

/// Results updated since `since`, counted per subscription and status.
pub async fn by_subscription_since(db: &D1Database, since: i64) -> worker::Result<Vec<ResultRow>> {
    let rows: Vec<Row> = db
        .prepare(
            "SELECT r.subscription_id, s.name, r.status, COUNT(*) AS count
             FROM results r LEFT JOIN subscriptions s ON s.id = r.subscription_id
             WHERE r.updated_at >= ?1
             GROUP BY r.subscription_id, s.name, r.status
             ORDER BY r.subscription_id, r.status",
        )
        .bind(&[int(since)])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| (r.subscription_id, r.name, r.status, r.count as u64))
        .collect())
}
