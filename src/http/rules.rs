//! `PUT /admin/rules/{name}` and `GET /admin/rules`: AMO scanner rules and their actions.

use serde::Deserialize;
use serde_json::json;
use worker::Response;

use super::admin::{d1_failed, db};
use super::call::Call;
use super::call::{json_response, read_json};
use crate::dispatch::{self, Action, Rule};
use crate::error::{ApiError, ErrorCode};
use crate::store::rules;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleInput {
    action: Action,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// `PUT /admin/rules/{name}` `{action: "flag"|"notify", enabled?}` → `200` the rule.
pub async fn put(c: Call<'_>) -> Result<Response, ApiError> {
    let (name, now_secs) = (c.param("name").to_string(), c.now_secs());
    let name = name.as_str();
    let Call { mut req, env, .. } = c;
    if !dispatch::valid_event_type(name) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{name:?} is not a rule name (1-128 of A-Z a-z 0-9 . _ : -)"),
        ));
    }
    let input: RuleInput = read_json(&mut req).await?;
    let rule = Rule {
        name: name.to_string(),
        action: input.action,
        enabled: input.enabled,
        updated_at: now_secs,
    };
    rules::put(&db(env)?, &rule).await.map_err(d1_failed)?;
    Ok(json_response(200, &json!(rule)))
}

/// `GET /admin/rules` → `{"rules":[...]}`.
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let all = rules::list(&db(c.env)?).await.map_err(d1_failed)?;
    Ok(json_response(200, &json!({ "rules": all })))
}
