//! AMO's review of flagged results: a reviewer approves a flag (the finding stands, the
//! result stays flagged) or clears it (a false positive, the flag is lifted), saying why;
//! who and when are kept. Decided here, written by `store::results::review`.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorCode};
use crate::store::results::ResultRecord;

/// A review's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The finding stands: the result stays flagged.
    Approve,
    /// A false positive: the flag is lifted.
    Clear,
}

impl Decision {
    /// The decision as the `reviews` column and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Clear => "clear",
        }
    }
}

/// `POST /admin/results/{id}/review` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// `approve` or `clear`.
    pub decision: Decision,
    /// Why, 1–1000 characters.
    pub reason: String,
    /// Who reviews, when the caller names them (the admin token itself names no one).
    #[serde(default)]
    pub reviewer: Option<String>,
}

/// Who a review is recorded as when the request names no reviewer.
pub const ADMIN_TOKEN_REVIEWER: &str = "admin token";

impl ReviewInput {
    /// Checks the reason and reviewer; `422 invalid_request` naming the field.
    pub fn check(&self) -> Result<(), ApiError> {
        let invalid = |m: &str| Err(ApiError::new(ErrorCode::InvalidRequest, m));
        let reason = self.reason.trim();
        if reason.is_empty() || reason.chars().count() > 1000 {
            return invalid("reason must be 1 to 1000 characters");
        }
        if let Some(r) = &self.reviewer
            && (r.trim().is_empty() || r.chars().count() > 128 || r.chars().any(char::is_control))
        {
            return invalid("reviewer must be 1 to 128 printable characters");
        }
        Ok(())
    }

    /// Who the review is recorded as.
    pub fn reviewed_by(&self) -> String {
        self.reviewer.as_deref().map_or_else(
            || ADMIN_TOKEN_REVIEWER.to_string(),
            |r| r.trim().to_string(),
        )
    }
}

/// Why `result` cannot be reviewed, if it cannot: only a flagged result not yet reviewed
/// is (`409 not_flagged`, `409 already_reviewed`).
pub fn refusal(result: &ResultRecord) -> Option<ApiError> {
    if let Some(review) = &result.review {
        return Some(ApiError::new(
            ErrorCode::AlreadyReviewed,
            format!(
                "result {} was reviewed ({}) by {} at {}",
                result.id, review.decision, review.by, review.at
            ),
        ));
    }
    if !result.flagged {
        return Some(ApiError::new(
            ErrorCode::NotFlagged,
            format!(
                "result {} is not flagged; only flagged results are reviewed",
                result.id
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::results::Review;

    fn result(flagged: bool, review: Option<Review>) -> ResultRecord {
        ResultRecord {
            id: "res_1".into(),
            event_id: "evt_1".into(),
            event_type: "addon.uploaded".into(),
            subscription_id: "sub_1".into(),
            payload: "{}".into(),
            status: "completed".into(),
            results: None,
            matched_rules: Some(vec!["r".into()]),
            flagged,
            attempts: 1,
            retry_base: 0,
            next_attempt_at: None,
            last_error: None,
            created_at: 0,
            updated_at: 0,
            review,
            ordering_key: None,
        }
    }

    fn input(json: &str) -> Result<ReviewInput, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn only_a_flagged_result_not_yet_reviewed_is_reviewable() {
        assert!(refusal(&result(true, None)).is_none());
        assert_eq!(
            refusal(&result(false, None)).unwrap().code,
            ErrorCode::NotFlagged
        );
        let done = Review {
            decision: "clear".into(),
            reason: "false positive".into(),
            by: "admin token".into(),
            at: 5,
        };
        assert_eq!(
            refusal(&result(false, Some(done))).unwrap().code,
            ErrorCode::AlreadyReviewed
        );
    }

    #[test]
    fn a_review_needs_a_known_decision_and_a_reason() {
        let ok = input(r#"{"decision":"approve","reason":"eval of remote code"}"#).unwrap();
        assert_eq!((ok.decision, ok.check()), (Decision::Approve, Ok(())));
        assert_eq!(ok.reviewed_by(), ADMIN_TOKEN_REVIEWER);
        let named = input(r#"{"decision":"clear","reason":"fp","reviewer":" ana "}"#).unwrap();
        assert_eq!(
            (named.decision.as_str(), named.reviewed_by().as_str()),
            ("clear", "ana")
        );
        assert!(input(r#"{"decision":"maybe","reason":"x"}"#).is_err());
        assert!(input(r#"{"decision":"clear"}"#).is_err());
        assert!(input(r#"{"decision":"clear","reason":"x","extra":1}"#).is_err());
        for bad in [
            r#"{"decision":"clear","reason":"  "}"#,
            r#"{"decision":"clear","reason":"x","reviewer":""}"#,
            r#"{"decision":"clear","reason":"x","reviewer":"a\nb"}"#,
        ] {
            assert_eq!(
                input(bad).unwrap().check().unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
        let long = format!(r#"{{"decision":"clear","reason":"{}"}}"#, "x".repeat(1001));
        assert!(input(&long).unwrap().check().is_err());
    }
}
