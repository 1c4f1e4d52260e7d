//! An enricher as an edgehook plugin: adds `enrichment` to every JSON-object record, with
//! the collector it came through, how many top-level fields it has and the event's kind
//! (its `type` or `event` field up to the first `.`). Anything but an object passes
//! unchanged.

use edgehook_plugin::{Answer, Record, json};

/// The plugin.
pub fn process(record: Record) -> Answer {
    let mut payload = record.payload;
    let Some(fields) = payload.as_object().map(|o| o.len()) else {
        return Answer::Deferred;
    };
    let kind = ["type", "event"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
        .map(|t| t.split('.').next().unwrap_or(t).to_string());
    payload["enrichment"] = json!({
        "collector": record.collector.or(record.subscription),
        "fields": fields,
        "kind": kind,
    });
    Answer::Processed(payload)
}

edgehook_plugin::plugin!(process);

#[cfg(test)]
mod tests {
    use super::*;
    use edgehook_plugin::{Value, handle, serde_json};

    fn run(message: Value) -> Value {
        serde_json::from_slice(&handle(message.to_string().as_bytes(), process)).unwrap()
    }

    #[test]
    fn adds_the_enrichment_field() {
        let out = run(
            json!({"type": "record", "collector": "orders", "record": {"type": "order.paid", "n": 1}}),
        );
        assert_eq!(
            out["content"],
            json!({"type": "order.paid", "n": 1, "enrichment": {"collector": "orders", "fields": 2, "kind": "order"}})
        );
    }

    #[test]
    fn non_objects_pass_unchanged() {
        let out = run(json!({"type": "record", "collector": "c", "record": [1, 2]}));
        assert_eq!(out, json!({"action": "deferred"}));
    }
}
