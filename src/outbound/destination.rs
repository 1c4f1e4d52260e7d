//! A delivery to a binding instead of a URL (`crate::dispatch::destination` decides what
//! goes where): a queue `send` of the envelope, an R2 `put` of it as one NDJSON line, or
//! the delivery's request through a service binding. Each within the delivery's deadline.

use worker::{
    AbortController, Env, HttpMetadata, QueueContentType, RawMessageBuilder, js_sys::JSON,
};

use super::delivery::{SubscriberAnswer, send_via};
use super::with_timeout;
use crate::dispatch::destination::{Destination, Kind, envelope};
use crate::dispatch::sign::Signed;
use crate::error::{BindingError, During};

/// What became of a delivery to a binding.
pub enum Sent {
    /// The service binding's Worker answered, as a subscriber's URL would.
    Answered(SubscriberAnswer),
    /// The queue or the bucket took it.
    Stored,
}

/// Sends `signed` to `d`, giving up after `timeout_ms`; `r2_key` is where an `r2`
/// destination writes it ([`crate::dispatch::destination::r2_key`]).
pub async fn send(
    env: &Env,
    d: &Destination,
    signed: Signed,
    r2_key: &str,
    timeout_ms: u64,
) -> Result<Sent, BindingError> {
    let binding = d.binding.as_str();
    match d.kind {
        Kind::Queue => {
            let queue = env.queue(binding).during(format!("queue {binding}"))?;
            let text = envelope(&signed).to_string();
            let body = JSON::parse(&text).during("envelope")?;
            let message =
                RawMessageBuilder::new(body).build_with_content_type(QueueContentType::Json);
            let sent = async {
                queue
                    .send_raw(message)
                    .await
                    .during(format!("queue {binding} send"))
            };
            with_timeout(sent, AbortController::default(), timeout_ms).await?;
            Ok(Sent::Stored)
        }
        Kind::R2 => {
            let bucket = env.bucket(binding).during(format!("R2 {binding}"))?;
            let line = format!("{}\n", envelope(&signed));
            let put = async {
                bucket
                    .put(r2_key, line.into_bytes())
                    .http_metadata(HttpMetadata {
                        content_type: Some("application/x-ndjson".into()),
                        ..Default::default()
                    })
                    .execute()
                    .await
                    .during(format!("R2 {binding} put {r2_key}"))
            };
            with_timeout(put, AbortController::default(), timeout_ms).await?;
            Ok(Sent::Stored)
        }
        Kind::Service => {
            let service = env.service(binding).during(format!("service {binding}"))?;
            send_via(Some(&service), &d.service_url(), signed, timeout_ms)
                .await
                .map(Sent::Answered)
        }
    }
}
