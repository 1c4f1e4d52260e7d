//! Reading a written batch back from R2: its `batches` row, its NDJSON text (gunzipped
//! by [`super::browse::object_text`]) and its records' claimed ids. Shared by the record
//! browser (`http/records.rs`) and replays (`dispatch/replay_step.rs`). Only objects
//! listed in `batches` are read, so no other R2 key (plugins, spills) is reachable.

use worker::{D1Database, Env};

use super::browse::{self, BrowseError};
use crate::error::{BindingError, During};
use crate::store::batches::{self, StoredBatch};
use crate::store::written;

/// A batch read back: its row, its lines' text and the ids claimed for it.
pub struct Archived {
    /// Its `batches` row.
    pub batch: StoredBatch,
    /// Its NDJSON text.
    pub text: Vec<u8>,
    /// The record ids claimed for it (`written_records`).
    pub claimed: Vec<String>,
}

impl Archived {
    /// Its lines and each line's record id, when known ([`browse::line_ids`]).
    pub fn lines(&self) -> (Vec<&[u8]>, Vec<Option<String>>) {
        let lines = browse::lines(&self.text);
        let ids = browse::line_ids(&lines, &self.claimed);
        (lines, ids)
    }
}

/// Why a batch could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// No batch has the key.
    #[error("no batch has key {0:?}")]
    Unknown(String),
    /// The object is no longer in R2 (deleted, or expired by a lifecycle rule).
    #[error("the object {0:?} is no longer in R2 (deleted or expired)")]
    Gone(String),
    /// The object is not what its key says (not gzip, or inflating past the bound).
    #[error("the object {0:?} cannot be read back: {1}")]
    Unreadable(String, BrowseError),
    /// D1 or R2 failed.
    #[error(transparent)]
    Binding(#[from] BindingError),
}

/// Reads batch `key` back.
pub async fn open(env: &Env, db: &D1Database, key: &str) -> Result<Archived, ArchiveError> {
    let batch = batches::get(db, key)
        .await
        .during("D1 batches")?
        .ok_or_else(|| ArchiveError::Unknown(key.to_string()))?;
    let object = env
        .bucket("ARCHIVE")
        .during("ARCHIVE")?
        .get(key)
        .execute()
        .await
        .during("R2 get")?
        .ok_or_else(|| ArchiveError::Gone(key.to_string()))?;
    let bytes = match object.body() {
        Some(body) => body.bytes().await.during("R2 read")?,
        None => Vec::new(),
    };
    let text =
        browse::object_text(key, bytes).map_err(|e| ArchiveError::Unreadable(key.into(), e))?;
    let claimed = written::ids_of(db, key)
        .await
        .during("D1 written_records")?;
    Ok(Archived {
        batch,
        text,
        claimed,
    })
}
