//! Collecting: records built from accepted webhooks, queued, and written to R2 as NDJSON
//! batches by the ingest consumer.

pub mod accept;
pub mod batch;
pub mod dead;
pub mod exactly_once;
pub mod idempotency;
pub mod ingest;
pub mod record;
