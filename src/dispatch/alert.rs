//! Operational events as a Slack-compatible incoming-webhook message
//! (`dispatch.alerts_slack_url`): `{"text": …}`, one line per event, in Slack's `mrkdwn`
//! with `&`, `<` and `>` escaped (a subscription's name cannot inject a link or mention).

use serde_json::{Map, Value, json};

use super::{
    ENDPOINT_DISABLED, ENDPOINT_FAILING, ENDPOINT_RECOVERED, MESSAGE_ATTEMPT_EXHAUSTED,
    REPLAY_COMPLETED,
};

/// Slack's escaping of message text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The incoming-webhook body announcing operational event `event_type`.
pub fn slack_message(event_type: &str, payload: &Map<String, Value>) -> Value {
    let field = |k: &str| match payload.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "?".into(),
        Some(other) => other.to_string(),
    };
    let who = format!(
        "subscription `{}` ({})",
        field("name"),
        field("subscription")
    );
    let text = match event_type {
        ENDPOINT_DISABLED => format!("{who} was disabled: {}", field("reason")),
        ENDPOINT_RECOVERED => format!("{who} recovered: its circuit breaker closed"),
        ENDPOINT_FAILING => format!(
            "{who} is failing: {} of its last {} attempts failed (>= {} %)",
            field("failed"),
            field("attempts"),
            field("threshold")
        ),
        MESSAGE_ATTEMPT_EXHAUSTED => format!(
            "delivery {} of `{}` to {who} gave up after {} attempts: {}",
            field("result_id"),
            field("event_type"),
            field("attempts"),
            field("last_error")
        ),
        REPLAY_COMPLETED => format!(
            "replay {} of `{}` as `{}`: {} records published ({} deliveries), {} skipped, from batches archived in [{}, {})",
            field("replay"),
            field("collector"),
            field("event_type"),
            field("published"),
            field("deliveries"),
            field("skipped"),
            field("from"),
            field("to")
        ),
        other => format!("{other}: {}", Value::Object(payload.clone())),
    };
    json!({"text": escape(&format!("edgehook {event_type}: {text}"))})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn each_operational_event_reads_as_one_line() {
        let failing = map(
            json!({"subscription": "sub_1", "name": "billing", "threshold": 70,
            "failed": 14, "attempts": 20}),
        );
        assert_eq!(
            slack_message(ENDPOINT_FAILING, &failing),
            json!({"text": "edgehook endpoint.failing: subscription `billing` (sub_1) is failing: 14 of its last 20 attempts failed (&gt;= 70 %)"})
        );
        let exhausted = map(json!({"subscription": "sub_1", "name": "billing",
            "result_id": "res_9", "event_type": "order.paid", "attempts": 8,
            "last_error": "the subscriber answered 500; gave up after 8 attempts"}));
        assert_eq!(
            slack_message(MESSAGE_ATTEMPT_EXHAUSTED, &exhausted)["text"],
            "edgehook message.attempt.exhausted: delivery res_9 of `order.paid` to subscription `billing` (sub_1) gave up after 8 attempts: the subscriber answered 500; gave up after 8 attempts"
        );
        let disabled = map(json!({"subscription": "sub_1", "name": "b", "reason": "410"}));
        assert_eq!(
            slack_message(ENDPOINT_DISABLED, &disabled)["text"],
            "edgehook endpoint.disabled: subscription `b` (sub_1) was disabled: 410"
        );
        let recovered = map(json!({"subscription": "sub_1", "name": "b"}));
        assert_eq!(
            slack_message(ENDPOINT_RECOVERED, &recovered)["text"],
            "edgehook endpoint.recovered: subscription `b` (sub_1) recovered: its circuit breaker closed"
        );
        let replayed = map(json!({"replay": "rpl_1", "collector": "orders",
            "event_type": "order.replayed", "published": 16, "deliveries": 32, "skipped": 1,
            "from": 100, "to": 200}));
        assert_eq!(
            slack_message(REPLAY_COMPLETED, &replayed)["text"],
            "edgehook replay.completed: replay rpl_1 of `orders` as `order.replayed`: 16 records published (32 deliveries), 1 skipped, from batches archived in [100, 200)"
        );
    }

    #[test]
    fn names_cannot_inject_links_or_mentions() {
        let p = map(json!({"subscription": "sub_1", "name": "<!channel> <https://evil|x> & co"}));
        let text = slack_message(ENDPOINT_RECOVERED, &p)["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            text.contains("&lt;!channel&gt; &lt;https://evil|x&gt; &amp; co"),
            "{text}"
        );
        assert!(!text.contains('<') && !text.contains('>'));
    }
}
