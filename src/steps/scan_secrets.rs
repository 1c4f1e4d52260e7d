//! `scan-secrets`: finds credentials in every string of the payload (and the recorded
//! query parameters) before the record leaves, as GitProxy scans a push's diff.
//!
//! Each detector is a named pattern with keywords. One Aho-Corasick pass over a string
//! finds every keyword; a detector's regular expression then runs only over the windows
//! that follow its keywords' hits (merged where they overlap), so a clean body costs one
//! keyword pass and a body dense with near misses costs at most one regex pass per
//! detector: linear in the body either way.
//!
//! ```toml
//! { kind = "scan-secrets", action = "redact", allow = ["AKIAIOSFODNN7EXAMPLE"],
//!   custom = [{ name = "acme-key", pattern = "acme_[0-9a-f]{32}", keywords = ["acme_"] }] }
//! ```

use std::rc::Rc;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table};
use crate::error::ConfigError;

/// A built-in detector: a name config and findings use, what it finds, the keywords that
/// must occur at the start of a match, and the pattern (its first group, when it has one,
/// is the secret; otherwise the whole match). Patterns leave lengths open (`{36,}`):
/// `max_len` bounds a match through the window it is searched in, and a bounded
/// detector's match cut short by its window's end is no finding (it touches a token
/// character), so no counted repetition makes the compiled regex large.
pub struct Builtin {
    /// Name in config (`detectors = [...]`) and in findings.
    pub name: &'static str,
    /// What it finds (docs/STEPS.md lists the same).
    pub what: &'static str,
    /// ASCII keywords, matched case-insensitively, one of which starts every match.
    pub keywords: &'static [&'static str],
    /// Pattern, in the regex crate's syntax.
    pub pattern: &'static str,
    /// Longest match, in bytes, counted from the keyword: the window searched after it.
    pub max_len: usize,
    /// Whether the secret must not touch another token character (`A-Z a-z 0-9 _ -`).
    pub bounded: bool,
    /// Least Shannon entropy, in bits per byte, the secret must have.
    pub min_entropy: f64,
}

/// The built-in detectors, most specific first: where two findings overlap, the one of
/// the detector listed first is kept.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "private-key",
        what: "a PEM private key block (RSA, EC, DSA, OpenSSH, PKCS #8, PGP)",
        keywords: &["-----BEGIN"],
        pattern: r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----[\s\S]{16,}?-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----",
        max_len: 16_500,
        bounded: false,
        min_entropy: 0.0,
    },
    Builtin {
        name: "aws-access-key-id",
        what: "an AWS access key id (long-term AKIA, temporary ASIA, ABIA, ACCA)",
        keywords: &["AKIA", "ASIA", "ABIA", "ACCA"],
        pattern: r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        max_len: 20,
        bounded: true,
        min_entropy: 0.0,
    },
    Builtin {
        name: "github-token",
        what: "a GitHub token: classic personal (ghp_), OAuth (gho_), user-to-server (ghu_), server-to-server (ghs_), refresh (ghr_), fine-grained personal (github_pat_)",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        pattern: r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{82,}",
        max_len: 255,
        bounded: true,
        min_entropy: 0.0,
    },
    Builtin {
        name: "gitlab-token",
        what: "a GitLab personal, project or group access token (glpat-)",
        keywords: &["glpat-"],
        pattern: r"glpat-[A-Za-z0-9_-]{20,}",
        max_len: 86,
        bounded: true,
        min_entropy: 0.0,
    },
    Builtin {
        name: "slack-token",
        what: "a Slack bot, user, app or refresh token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-)",
        keywords: &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"],
        pattern: r"xox[bpares]-(?:[0-9]+-)?[0-9A-Za-z-]{10,}",
        max_len: 260,
        bounded: true,
        min_entropy: 0.0,
    },
    Builtin {
        name: "slack-webhook-url",
        what: "a Slack incoming webhook URL (hooks.slack.com/services/T…/B…/…)",
        keywords: &["hooks.slack.com/services/"],
        pattern: r"hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}",
        max_len: 100,
        bounded: true,
        min_entropy: 0.0,
    },
    Builtin {
        name: "stripe-key",
        what: "a Stripe secret or restricted key, live or test (sk_live_, rk_live_, sk_test_, rk_test_)",
        keywords: &["sk_live_", "rk_live_", "sk_test_", "rk_test_"],
        pattern: r"[sr]k_(?:live|test)_[0-9A-Za-z]{24,}",
        max_len: 255,
        bounded: true,
        min_entropy: 0.0,
    },
    Builtin {
        name: "google-api-key",
        what: "a Google API key (AIza…, 39 characters)",
        keywords: &["AIza"],
        pattern: r"AIza[0-9A-Za-z_-]{35}",
        max_len: 39,
        bounded: true,
        min_entropy: 0.0,
    },
    Builtin {
        name: "jwt",
        what: "a JSON Web Token (three base64url parts, header and claims starting eyJ)",
        keywords: &["eyJ"],
        pattern: r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        max_len: 14_400,
        bounded: true,
        min_entropy: 0.0,
    },
    Builtin {
        name: "generic-secret",
        what: "a high-entropy value assigned to a name containing secret, password, passwd, pwd, token or api key (`db_password=…`, `\"api_key\": \"…\"`)",
        keywords: &[
            "secret", "passw", "pwd", "token", "apikey", "api_key", "api-key",
        ],
        pattern: r#"(?i)(?:secret|passw(?:or)?d|pwd|token|api[_-]?key)[A-Za-z0-9_.-]{0,24}["']?\s{0,4}[:=]\s{0,4}["']?([^\s"'`,;&<>\\${%*][^\s"'`,;&<>\\]{7,127})"#,
        max_len: 200,
        bounded: false,
        min_entropy: 3.0,
    },
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    action: Action,
    /// Built-ins to run; all of them when absent.
    #[serde(default)]
    detectors: Option<Vec<String>>,
    #[serde(default)]
    custom: Vec<CustomSpec>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default = "default_flag_field")]
    flag_field: String,
}

fn default_flag_field() -> String {
    "_secrets".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomSpec {
    name: String,
    pattern: String,
    keywords: Vec<String>,
    #[serde(default = "default_custom_max_len")]
    max_len: usize,
    #[serde(default)]
    min_entropy: f64,
}

fn default_custom_max_len() -> usize {
    256
}

/// What a finding does to the record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `422 secret_detected`, nothing stored.
    #[default]
    Reject,
    /// Each secret is replaced in place by `[REDACTED:<detector>]`.
    Redact,
    /// The record passes unchanged but for a field listing the findings.
    Flag,
}

/// A compiled detector.
#[derive(Debug)]
struct Detector {
    name: String,
    regex: DetectorRegex,
    /// How far before a keyword hit a match may start (custom detectors, whose pattern
    /// need not start with a keyword) and how far after it may end.
    back: usize,
    forward: usize,
    bounded: bool,
    min_entropy: f64,
}

/// The compiled step: every detector's keywords in one automaton.
#[derive(Debug)]
pub struct ScanSecrets {
    detectors: Vec<Detector>,
    keywords: AhoCorasick,
    /// Detector index of each keyword pattern.
    keyword_owner: Vec<usize>,
    allow: Vec<String>,
    action: Action,
    flag_field: String,
}

/// One secret found in a string: which detector, and where (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index into the scanner's detectors ([`ScanSecrets::detector_name`]).
    pub detector: usize,
    /// Byte range of the secret.
    pub range: std::ops::Range<usize>,
}

/// A secret found in a record: the detector that found it and where, as an RFC 9535
/// normalized path (`$['commits'][0]['message']`) or `?name` for a query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The detector that matched (e.g. `github-pat`).
    pub detector: String,
    /// Where the string holding it is.
    pub at: String,
}

/// Builds the step.
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    Ok(Rc::new(compile(raw, cx)?))
}

/// Compiles the step's table; built-in names, custom patterns and keywords are checked
/// here.
pub fn compile(raw: &Value, cx: &BuildContext<'_>) -> Result<ScanSecrets, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    let err = |key: String, m: String| ConfigError(format!("{}.{key}: {m}", cx.path));
    let mut detectors = Vec::new();
    let mut keywords: Vec<String> = Vec::new();
    let mut keyword_owner = Vec::new();
    let chosen: Vec<usize> = match &spec.detectors {
        None => (0..BUILTINS.len()).collect(),
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                BUILTINS.iter().position(|b| b.name == n).ok_or_else(|| {
                    err(
                        format!("detectors[{i}]"),
                        format!("unknown detector {n:?} (one of {})", builtin_names()),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    for index in chosen {
        let b = &BUILTINS[index];
        for k in b.keywords {
            keywords.push((*k).to_string());
            keyword_owner.push(detectors.len());
        }
        detectors.push(Detector {
            name: b.name.into(),
            regex: DetectorRegex::Builtin(index),
            back: 0,
            forward: b.max_len,
            bounded: b.bounded,
            min_entropy: b.min_entropy,
        });
    }
    for (i, c) in spec.custom.iter().enumerate() {
        let at = |k: &str| format!("custom[{i}].{k}");
        if c.name.is_empty() || detectors.iter().any(|d| d.name == c.name) {
            return Err(err(
                at("name"),
                format!("{:?}: each detector needs a name of its own", c.name),
            ));
        }
        let regex = regex::Regex::new(&c.pattern).map_err(|e| {
            err(
                at("pattern"),
                format!("{:?} is not a valid regular expression: {e}", c.pattern),
            )
        })?;
        if regex.is_match("") {
            return Err(err(at("pattern"), "matches the empty string".into()));
        }
        if c.keywords.is_empty() || c.keywords.iter().any(|k| k.len() < 3) {
            return Err(err(
                at("keywords"),
                "name at least one keyword of 3 or more bytes, found in every match".into(),
            ));
        }
        if !(1..=65_536).contains(&c.max_len) {
            return Err(err(at("max_len"), "must be between 1 and 65536".into()));
        }
        for k in &c.keywords {
            keywords.push(k.clone());
            keyword_owner.push(detectors.len());
        }
        detectors.push(Detector {
            name: c.name.clone(),
            regex: DetectorRegex::Custom(regex),
            back: c.max_len,
            forward: c.max_len,
            bounded: false,
            min_entropy: c.min_entropy,
        });
    }
    if detectors.is_empty() {
        return Err(ConfigError(format!(
            "{}: no detector to run (detectors = [] and no custom)",
            cx.path
        )));
    }
    if spec.flag_field.is_empty() {
        return Err(err("flag_field".into(), "must not be empty".into()));
    }
    let keywords = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&keywords)
        .map_err(|e| ConfigError(format!("{}.custom: keywords: {e}", cx.path)))?;
    Ok(ScanSecrets {
        detectors,
        keywords,
        keyword_owner,
        allow: spec.allow,
        action: spec.action,
        flag_field: spec.flag_field,
    })
}

/// A detector's regular expression: a custom one is compiled with the step (its errors
/// are config errors); a built-in one is a constant, compiled on its first keyword hit
/// and shared by every `scan-secrets` step of the isolate, so the config loads without
/// compiling all of them for each step (most of a cold start's first request when it
/// did; docs/PERFORMANCE.md).
#[derive(Debug)]
enum DetectorRegex {
    Builtin(usize),
    Custom(regex::Regex),
}

impl DetectorRegex {
    fn get(&self) -> &regex::Regex {
        static COMPILED: [OnceLock<regex::Regex>; BUILTINS.len()] =
            [const { OnceLock::new() }; BUILTINS.len()];
        match self {
            DetectorRegex::Custom(regex) => regex,
            DetectorRegex::Builtin(i) => COMPILED[*i].get_or_init(|| {
                // A constant pattern: `builtin_patterns_compile` proves each compiles.
                regex::Regex::new(BUILTINS[*i].pattern).expect("built-in detector pattern")
            }),
        }
    }
}

fn builtin_names() -> String {
    BUILTINS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shannon entropy of `s`, in bits per byte.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

impl ScanSecrets {
    /// The name of the detector of index `i`.
    pub fn detector_name(&self, i: usize) -> &str {
        &self.detectors[i].name
    }

    /// The secrets in `text`, in order, not overlapping.
    pub fn scan(&self, text: &str) -> Vec<Hit> {
        // Windows per detector, merged as they come (hits arrive in order of their end,
        // and every window of a detector has the same size, so starts arrive in order).
        let mut windows: Vec<Vec<(usize, usize)>> = vec![Vec::new(); self.detectors.len()];
        for m in self.keywords.find_overlapping_iter(text) {
            let d = self.keyword_owner[m.pattern().as_usize()];
            let det = &self.detectors[d];
            let start = text.floor_char_boundary(m.start().saturating_sub(det.back));
            let end =
                text.ceil_char_boundary(m.start().saturating_add(det.forward).min(text.len()));
            let ws = &mut windows[d];
            match ws.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => ws.push((start, end)),
            }
        }
        let mut hits = Vec::new();
        for (d, ws) in windows.iter().enumerate() {
            let det = &self.detectors[d];
            for &(ws_start, ws_end) in ws {
                for caps in det.regex.get().captures_iter(&text[ws_start..ws_end]) {
                    let Some(m) = caps.get(1).or_else(|| caps.get(0)) else {
                        continue;
                    };
                    let range = ws_start + m.start()..ws_start + m.end();
                    if self.counts(det, text, &range) {
                        hits.push(Hit { detector: d, range });
                    }
                }
            }
        }
        // Earliest first; at one start, the detector listed first; overlaps dropped.
        hits.sort_by_key(|h| (h.range.start, h.detector));
        let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
        for h in hits {
            if kept.last().is_none_or(|k| h.range.start >= k.range.end) {
                kept.push(h);
            }
        }
        kept
    }

    /// Whether a match is a finding: bounded, random enough, not allowed.
    fn counts(&self, det: &Detector, text: &str, range: &std::ops::Range<usize>) -> bool {
        let bytes = text.as_bytes();
        if det.bounded
            && (range.start > 0 && is_token_byte(bytes[range.start - 1])
                || bytes.get(range.end).copied().is_some_and(is_token_byte))
        {
            return false;
        }
        let secret = &text[range.clone()];
        if det.min_entropy > 0.0 && entropy(secret) < det.min_entropy {
            return false;
        }
        !self.allow.iter().any(|a| a == secret)
    }

    /// Scans (and, for `redact`, rewrites) every string under `value`; `at` is the
    /// normalized path of `value`.
    fn walk(&self, value: &mut Value, at: &mut String, found: &mut Vec<Finding>) -> bool {
        match value {
            Value::String(s) => self.string(s, at, found),
            Value::Array(items) => {
                let mut changed = false;
                for (i, v) in items.iter_mut().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("[{i}]"));
                    changed |= self.walk(v, at, found);
                    at.truncate(len);
                }
                changed
            }
            Value::Object(map) => {
                let mut changed = false;
                for (k, v) in map.iter_mut() {
                    let len = at.len();
                    at.push('[');
                    // A JSON string literal is an RFC 9535 name selector but for quotes.
                    at.push_str(&Value::String(k.clone()).to_string());
                    at.push(']');
                    changed |= self.walk(v, at, found);
                    at.truncate(len);
                }
                changed
            }
            _ => false,
        }
    }

    /// Scans one string; redacts it when the action says so.
    fn string(&self, s: &mut String, at: &str, found: &mut Vec<Finding>) -> bool {
        let hits = self.scan(s);
        if hits.is_empty() {
            return false;
        }
        for h in &hits {
            found.push(Finding {
                detector: self.detectors[h.detector].name.clone(),
                at: at.to_string(),
            });
        }
        if self.action != Action::Redact {
            return false;
        }
        *s = self.redacted(s, &hits);
        true
    }

    fn redacted(&self, s: &str, hits: &[Hit]) -> String {
        let mut out = String::with_capacity(s.len());
        let mut from = 0;
        for h in hits {
            out.push_str(&s[from..h.range.start]);
            out.push_str("[REDACTED:");
            out.push_str(&self.detectors[h.detector].name);
            out.push(']');
            from = h.range.end;
        }
        out.push_str(&s[from..]);
        out
    }
}

impl Step for ScanSecrets {
    fn apply<'a>(
        &'a self,
        _cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        Box::pin(async move {
            let mut found = Vec::new();
            let mut at = String::from("$");
            if self.walk(&mut work.payload, &mut at, &mut found) {
                work.changed = true;
            }
            for (k, v) in &mut work.query {
                self.string(v, &format!("?{k}"), &mut found);
            }
            if found.is_empty() {
                return Ok(Flow::Continue);
            }
            let described = || {
                let first = &found[0];
                let more = match found.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                };
                format!("{} found at {}{more}", first.detector, first.at)
            };
            match self.action {
                Action::Reject => Err(StepError::SecretDetected(described())),
                Action::Redact => Ok(Flow::Continue),
                Action::Flag => {
                    let Value::Object(map) = &mut work.payload else {
                        // Nowhere to put the field: refused rather than stored unmarked.
                        return Err(StepError::SecretDetected(format!(
                            "{} (a payload that is not an object cannot be flagged)",
                            described()
                        )));
                    };
                    let list = found
                        .iter()
                        .map(|f| serde_json::json!({"detector": f.detector, "path": f.at}))
                        .collect();
                    map.insert(self.flag_field.clone(), Value::Array(list));
                    work.changed = true;
                    Ok(Flow::Continue)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, step};
    use super::*;
    use crate::auth::Identity;
    use crate::inbound::InboundRequest;
    use crate::secrets::Secrets;
    use serde_json::json;

    fn scanner(spec: Value) -> Rc<dyn Step> {
        step(spec, "none").unwrap()
    }

    fn apply(spec: Value, query: &str, payload: Value) -> (Result<Flow, StepError>, Work) {
        let s = scanner(spec);
        let req = InboundRequest {
            query: query.into(),
            ..Default::default()
        };
        let mut work = Work::new(payload, req.query_pairs());
        let r = run(
            &s,
            &req,
            &Identity::of("none"),
            &Secrets::default(),
            &mut work,
        );
        (r, work)
    }

    fn compiled(spec: &Value) -> ScanSecrets {
        let cx = BuildContext {
            path: "s",
            auth_scheme: "none",
        };
        compile(spec, &cx).unwrap()
    }

    /// The detectors that find something in `text`, in order.
    fn names(s: &ScanSecrets, text: &str) -> Vec<String> {
        s.scan(text)
            .iter()
            .map(|h| s.detector_name(h.detector).to_string())
            .collect()
    }

    #[test]
    fn builtin_patterns_compile() {
        for (i, b) in BUILTINS.iter().enumerate() {
            assert!(regex::Regex::new(b.pattern).is_ok(), "{}", b.name);
            assert_eq!(DetectorRegex::Builtin(i).get().as_str(), b.pattern);
        }
    }

    #[test]
    fn corpus_secrets_are_found_by_their_detector_and_false_positives_are_not() {
        let corpus: Value =
            serde_json::from_str(include_str!("../../tests/vectors/secrets.json")).unwrap();
        let s = compiled(&json!({"kind": "scan-secrets", "allow": corpus["allow"]}));
        for case in corpus["secrets"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let want = case["detector"].as_str().unwrap();
            assert_eq!(names(&s, text), vec![want.to_string()], "{text}");
        }
        for case in corpus["false_positives"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            assert!(names(&s, text).is_empty(), "{text}: {}", case["why"]);
        }
    }

    /// The corpus's secret of `detector`.
    fn secret_of(detector: &str) -> String {
        let corpus: Value =
            serde_json::from_str(include_str!("../../tests/vectors/secrets.json")).unwrap();
        let case = corpus["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["detector"] == detector)
            .unwrap();
        case["text"].as_str().unwrap().to_string()
    }

    #[test]
    fn reject_names_the_detector_and_place_but_not_the_secret() {
        let text = secret_of("github-token");
        let (r, _) = apply(
            json!({"kind": "scan-secrets"}),
            "",
            json!({"commits": [{"message": "ok"}, {"message": text}]}),
        );
        let Err(StepError::SecretDetected(why)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(why, "github-token found at $[\"commits\"][1][\"message\"]");
        let token = text.split('=').nth(1).unwrap();
        assert!(!why.contains(token));
        let (r, _) = apply(json!({"kind": "scan-secrets"}), "", json!({"a": "clean"}));
        assert_eq!(r, Ok(Flow::Continue));
    }

    #[test]
    fn redact_replaces_each_secret_in_place_in_payload_and_query() {
        let aws = secret_of("aws-access-key-id");
        let slack = secret_of("slack-token");
        let key = secret_of("generic-secret");
        let mixed = format!("{aws}\n{slack} and more");
        let (r, w) = apply(
            json!({"kind": "scan-secrets", "action": "redact"}),
            &format!("k={}", url_escape(&key)),
            json!({"log": mixed, "n": 1, "nested": [{"pem": secret_of("private-key")}]}),
        );
        assert_eq!(r, Ok(Flow::Continue));
        assert!(w.changed);
        assert_eq!(
            w.payload["log"],
            json!(
                "aws_access_key_id = [REDACTED:aws-access-key-id]\nSLACK_BOT=[REDACTED:slack-token] and more"
            )
        );
        assert_eq!(
            w.payload["nested"][0]["pem"],
            json!("[REDACTED:private-key]\n")
        );
        // The generic detector redacts the value and keeps the name.
        assert_eq!(w.query[0].1, "DB_PASSWORD=[REDACTED:generic-secret]");
        assert_eq!(w.payload["n"], json!(1));
    }

    fn url_escape(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    #[test]
    fn flag_adds_a_field_naming_detectors_and_places() {
        let (r, w) = apply(
            json!({"kind": "scan-secrets", "action": "flag", "flag_field": "leaks"}),
            "",
            json!({"a": secret_of("jwt"), "b": [secret_of("stripe-key")]}),
        );
        assert_eq!(r, Ok(Flow::Continue));
        assert!(w.changed);
        assert_eq!(
            w.payload["leaks"],
            json!([{"detector": "jwt", "path": "$[\"a\"]"}, {"detector": "stripe-key", "path": "$[\"b\"][0]"}])
        );
        assert_eq!(w.payload["a"], json!(secret_of("jwt")));
        // A payload that cannot carry the field is refused rather than stored unmarked.
        let (r, _) = apply(
            json!({"kind": "scan-secrets", "action": "flag"}),
            "",
            json!([secret_of("jwt")]),
        );
        assert!(matches!(r, Err(StepError::SecretDetected(_))), "{r:?}");
    }

    #[test]
    fn custom_detectors_allow_list_and_chosen_builtins() {
        let spec = json!({"kind": "scan-secrets", "detectors": ["aws-access-key-id"],
            "allow": ["acme_00000000000000000000000000000000"],
            "custom": [{"name": "acme-key", "pattern": "\\bacme_[0-9a-f]{32}\\b", "keywords": ["acme_"]},
                       {"name": "account", "pattern": "account (\\d{8})", "keywords": ["account"], "max_len": 32}]});
        let s = compiled(&spec);
        assert_eq!(
            names(&s, "x acme_0123456789abcdef0123456789abcdef y"),
            ["acme-key"]
        );
        assert!(names(&s, "acme_00000000000000000000000000000000").is_empty());
        assert_eq!(
            names(&s, "pay to ACCOUNT 12345678? no: account 12345678"),
            ["account"]
        );
        // Only the chosen built-ins run.
        assert!(names(&s, &secret_of("github-token")).is_empty());
        assert_eq!(
            names(&s, &secret_of("aws-access-key-id")),
            ["aws-access-key-id"]
        );
    }

    #[test]
    fn near_misses_in_bulk_cost_one_pass_and_find_nothing() {
        // 1 MiB of keywords followed by almost-secrets: every window overlaps the next,
        // so each detector's regex runs once over the merged window.
        let s = compiled(&json!({"kind": "scan-secrets"}));
        let unit =
            "AKIA123 ghp_short glpat-x xoxb-1 sk_live_x AIza- eyJx.eyJ -----BEGIN X password=a ";
        let text = unit.repeat((1 << 20) / unit.len());
        assert!(s.scan(&text).is_empty());
        let mut with_one = text.clone();
        with_one.push_str(&secret_of("google-api-key"));
        assert_eq!(names(&s, &with_one), ["google-api-key"]);
    }

    #[test]
    fn config_errors_name_the_key() {
        let cases = [
            (
                json!({"detectors": ["aws", "jwt"]}),
                "s.detectors[0]: unknown detector \"aws\"",
            ),
            (json!({"detectors": []}), "s: no detector to run"),
            (json!({"action": "shout"}), "s.action: unknown variant"),
            (
                json!({"custom": [{"name": "x", "pattern": "(", "keywords": ["abc"]}]}),
                "s.custom[0].pattern: \"(\" is not a valid",
            ),
            (
                json!({"custom": [{"name": "x", "pattern": "a*", "keywords": ["abc"]}]}),
                "s.custom[0].pattern: matches the empty string",
            ),
            (
                json!({"custom": [{"name": "x", "pattern": "abc", "keywords": []}]}),
                "s.custom[0].keywords: name at least one keyword",
            ),
            (
                json!({"custom": [{"name": "jwt", "pattern": "abc", "keywords": ["abc"]}]}),
                "s.custom[0].name: \"jwt\": each detector needs a name",
            ),
            (
                json!({"custom": [{"name": "x", "pattern": "abc", "keywords": ["abc"], "max_len": 0}]}),
                "s.custom[0].max_len: must be between",
            ),
            (json!({"flag_field": ""}), "s.flag_field: must not be empty"),
        ];
        let cx = BuildContext {
            path: "s",
            auth_scheme: "none",
        };
        for (spec, want) in cases {
            let e = compile(&spec, &cx).unwrap_err();
            assert!(e.0.starts_with(want), "{spec}: {e}");
        }
    }
}
