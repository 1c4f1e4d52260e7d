//! Table `seen_ids`: webhook ids (`webhook-id` / `Idempotency-Key`) per collector.
//!
//! `dedupe = "sync"`: an id is first *claimed* for a short hold while its webhook is
//! queued, then *confirmed* for the dedupe window, or *released* if queueing failed.
//! `dedupe = "async"`: the ingest consumer claims a batch's ids at once ([`claim_batch`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

use super::int;
use crate::collect::exactly_once::{Candidate, Holder};
use crate::collect::idempotency::{Claim, Keyed, SeenIds};

/// Claims each candidate's id for its record until `expires_at`, unless a live row holds
/// it, and answers every id's holder after the claim: one statement for a consumer batch
/// (the upsert touches every row, so `RETURNING` answers for the ids already held too).
/// A row held by the candidate's own record (its earlier try, or a `sync` claim not yet
/// confirmed) is confirmed for the window.
pub async fn claim_batch(
    db: &D1Database,
    collector: &str,
    candidates: &[Candidate],
    now_secs: i64,
    expires_at: i64,
) -> worker::Result<BTreeMap<String, Holder>> {
    #[derive(Deserialize)]
    struct Held {
        webhook_id: String,
        record_id: String,
        accepted_at: Option<f64>,
        body_digest: Option<String>,
    }
    if candidates.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<String> = candidates
        .iter()
        .map(|c| serde_json::json!([c.key, c.record_id, c.digest]).to_string())
        .collect();
    let lens: Vec<usize> = rows.iter().map(String::len).collect();
    // SET expressions read the row as it was: `free` is whether it had lapsed, `mine`
    // whether it was this record's already. `WHERE true`: SQLite's upsert after
    // INSERT … SELECT needs a WHERE to parse.
    let sql = "INSERT INTO seen_ids (collector, webhook_id, record_id, expires_at, accepted_at,
               body_digest)
             SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?4, ?3,
               json_extract(value, '$[2]') FROM json_each(?2) WHERE true
             ON CONFLICT (collector, webhook_id) DO UPDATE SET
               record_id = CASE WHEN seen_ids.expires_at <= ?3 THEN excluded.record_id
                 ELSE seen_ids.record_id END,
               body_digest = CASE WHEN seen_ids.expires_at <= ?3 THEN excluded.body_digest
                 ELSE seen_ids.body_digest END,
               accepted_at = CASE WHEN seen_ids.expires_at <= ?3
                 OR seen_ids.record_id = excluded.record_id THEN ?3
                 ELSE seen_ids.accepted_at END,
               expires_at = CASE WHEN seen_ids.expires_at <= ?3
                 OR seen_ids.record_id = excluded.record_id THEN excluded.expires_at
                 ELSE seen_ids.expires_at END
             RETURNING webhook_id, record_id, accepted_at, body_digest";
    // One statement per list that fits a bound parameter (one for any usual batch), all
    // in one D1 call.
    let mut statements = Vec::new();
    for chunk in super::list_chunks(&lens, super::MAX_LIST_PARAM_BYTES) {
        let list = format!("[{}]", rows[chunk].join(","));
        statements.push(db.prepare(sql).bind(&[
            JsValue::from_str(collector),
            JsValue::from_str(&list),
            int(now_secs),
            int(expires_at),
        ])?);
    }
    let mut held: Vec<Held> = Vec::with_capacity(candidates.len());
    if statements.len() == 1 {
        let statement = statements.pop().expect("one statement");
        held = statement.all().await?.results()?;
    } else {
        for result in db.batch(statements).await? {
            held.extend(result.results::<Held>()?);
        }
    }
    Ok(held
        .into_iter()
        .map(|h| {
            let holder = Holder {
                record_id: h.record_id,
                body_digest: h.body_digest,
                accepted: h.accepted_at.is_some(),
            };
            (h.webhook_id, holder)
        })
        .collect())
}

#[derive(Deserialize)]
struct Row {
    record_id: String,
    accepted_at: Option<f64>,
    body_digest: Option<String>,
}

/// Claims `key` for `record_id`, whose body has digest `body_digest`, until
/// `hold_until`, unless a live row holds it.
pub async fn claim(
    db: &D1Database,
    collector: &str,
    key: &str,
    body_digest: &str,
    record_id: &str,
    now_secs: i64,
    hold_until: i64,
) -> worker::Result<Claim> {
    // An expired row is taken over; a live one is left alone (no row returned).
    let claimed: Option<Row> = db
        .prepare(
            "INSERT INTO seen_ids (collector, webhook_id, record_id, expires_at, accepted_at,
               body_digest)
             VALUES (?1, ?2, ?3, ?4, NULL, ?6)
             ON CONFLICT (collector, webhook_id) DO UPDATE SET record_id = excluded.record_id,
               expires_at = excluded.expires_at, accepted_at = NULL,
               body_digest = excluded.body_digest
             WHERE seen_ids.expires_at <= ?5
             RETURNING record_id, accepted_at, body_digest",
        )
        .bind(&[
            JsValue::from_str(collector),
            JsValue::from_str(key),
            JsValue::from_str(record_id),
            int(hold_until),
            int(now_secs),
            JsValue::from_str(body_digest),
        ])?
        .first(None)
        .await?;
    if claimed.is_some() {
        return Ok(Claim::Claimed);
    }
    let held: Option<Row> = db
        .prepare(
            "SELECT record_id, accepted_at, body_digest FROM seen_ids
             WHERE collector = ?1 AND webhook_id = ?2",
        )
        .bind(&[JsValue::from_str(collector), JsValue::from_str(key)])?
        .first(None)
        .await?;
    Ok(match held {
        Some(r) => Claim::Seen {
            record_id: r.record_id,
            accepted: r.accepted_at.is_some(),
            body_digest: r.body_digest,
        },
        // Purged in between: nobody holds it, but do not race again; the sender retries.
        None => Claim::Seen {
            record_id: String::new(),
            accepted: false,
            body_digest: None,
        },
    })
}

/// Confirms a claim once the webhook is queued: remembered until `expires_at`.
pub async fn confirm(
    db: &D1Database,
    collector: &str,
    key: &str,
    record_id: &str,
    now_secs: i64,
    expires_at: i64,
) -> worker::Result<()> {
    db.prepare(
        "UPDATE seen_ids SET accepted_at = ?4, expires_at = ?5
         WHERE collector = ?1 AND webhook_id = ?2 AND record_id = ?3",
    )
    .bind(&[
        JsValue::from_str(collector),
        JsValue::from_str(key),
        JsValue::from_str(record_id),
        int(now_secs),
        int(expires_at),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Releases a claim whose webhook could not be queued, so the sender's retry is taken.
pub async fn release(
    db: &D1Database,
    collector: &str,
    key: &str,
    record_id: &str,
) -> worker::Result<()> {
    db.prepare(
        "DELETE FROM seen_ids WHERE collector = ?1 AND webhook_id = ?2 AND record_id = ?3
           AND accepted_at IS NULL",
    )
    .bind(&[
        JsValue::from_str(collector),
        JsValue::from_str(key),
        JsValue::from_str(record_id),
    ])?
    .run()
    .await?;
    Ok(())
}

/// A collector's webhook ids in D1, for [`crate::collect::idempotency::admit_once`].
pub struct D1SeenIds<'a> {
    /// The D1 database holding `seen_ids`.
    pub db: &'a D1Database,
    /// The collector the ids are for.
    pub collector: &'a str,
}

impl SeenIds for D1SeenIds<'_> {
    type Error = worker::Error;

    async fn claim(
        &self,
        key: &Keyed,
        record_id: &str,
        now_secs: i64,
        hold_until: i64,
    ) -> Result<Claim, worker::Error> {
        let (db, collector) = (self.db, self.collector);
        claim(
            db,
            collector,
            &key.key,
            &key.body_digest,
            record_id,
            now_secs,
            hold_until,
        )
        .await
    }

    async fn confirm(
        &self,
        key: &str,
        record_id: &str,
        now_secs: i64,
        expires_at: i64,
    ) -> Result<(), worker::Error> {
        confirm(
            self.db,
            self.collector,
            key,
            record_id,
            now_secs,
            expires_at,
        )
        .await
    }

    async fn release(&self, key: &str, record_id: &str) -> Result<(), worker::Error> {
        release(self.db, self.collector, key, record_id).await
    }
}
