//! A subscription's `transform`: a plugin uploaded at runtime (docs/PLUGINS.md) rewrites
//! each delivery's payload before it is signed and sent (Svix's and Hookdeck's
//! transformations). The message and the answers are the `wasm` step's; what an answer
//! means for the delivery is decided here.

use serde_json::{Map, Value, json};

use super::Undeliverable;
use super::classify::Outcome;
use crate::steps::plugin::PluginVerdict;

/// The plugin message for one delivery:
/// `{"type":"delivery","subscription","event_type","record"}`.
pub fn message(
    subscription: &str,
    event_type: &str,
    payload: &str,
) -> Result<String, Undeliverable> {
    let record: Value =
        serde_json::from_str(payload).map_err(|e| format!("stored payload unreadable: {e}"))?;
    Ok(json!({
        "type": "delivery",
        "subscription": subscription,
        "event_type": event_type,
        "record": record,
    })
    .to_string())
}

/// What the transform's answer does to the delivery: `Ok(Some(payload))` sends that
/// payload instead, `Ok(None)` sends it unchanged (`deferred`); `rejected` fails the
/// delivery for good, an error (or a payload that is not a JSON object) is retried on
/// the delivery schedule, so a fixed or rolled-back plugin gets the delivery through.
pub fn decide(answer: PluginVerdict) -> Result<Option<Map<String, Value>>, Outcome> {
    match answer {
        PluginVerdict::Processed(Value::Object(payload)) => Ok(Some(payload)),
        PluginVerdict::Processed(_) => Err(Outcome::Retry {
            reason: "the transform answered a payload that is not a JSON object".into(),
            retry_after: None,
        }),
        PluginVerdict::Deferred => Ok(None),
        PluginVerdict::Rejected(why) => Err(Outcome::Failed {
            reason: format!("the transform rejected the delivery: {why}"),
            disable: false,
        }),
        PluginVerdict::Error(why) => Err(Outcome::Retry {
            reason: format!("the transform failed: {why}"),
            retry_after: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_carries_subscription_event_type_and_payload() {
        let m: Value = serde_json::from_str(&message("s", "t.x", r#"{"a":1}"#).unwrap()).unwrap();
        assert_eq!(
            m,
            json!({"type": "delivery", "subscription": "s", "event_type": "t.x", "record": {"a": 1}})
        );
        assert!(message("s", "t", "not json").is_err());
    }

    #[test]
    fn answers_decide_the_delivery() {
        let replaced = decide(PluginVerdict::Processed(json!({"b": 2})))
            .unwrap()
            .unwrap();
        assert_eq!(Value::Object(replaced), json!({"b": 2}));
        assert_eq!(decide(PluginVerdict::Deferred).unwrap(), None);
        assert!(matches!(
            decide(PluginVerdict::Rejected("no".into())),
            Err(Outcome::Failed { disable: false, .. })
        ));
        for retried in [
            PluginVerdict::Error("boom".into()),
            PluginVerdict::Processed(json!([1])),
        ] {
            assert!(matches!(decide(retried), Err(Outcome::Retry { .. })));
        }
    }
}
