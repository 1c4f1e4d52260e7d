//! Collecting: records built from accepted webhooks, queued, and written to R2 as NDJSON
//! batches by the ingest consumer.

pub mod accept;
pub mod archived;
pub mod batch;
pub mod body;
pub mod browse;
pub mod cors;
pub mod dead;
pub mod enqueue;
pub mod exactly_once;
pub mod group_send;
pub mod handshake;
pub mod idempotency;
pub mod ingest;
pub mod pack;
pub mod record;
