//! README's "Every error code" table, the OpenAPI `Error` schema and every error code the
//! docs name agree with `ErrorCode` (src/error.rs), the one list of stable codes.

use std::collections::BTreeSet;

use edgehook::error::ErrorCode;
use serde_json::Value;

const TABLE_HEADING: &str = "### Every error code";

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn is_code(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn known(status: u16, code: &str) -> bool {
    ErrorCode::ALL
        .iter()
        .any(|c| c.status() == status && c.as_str() == code)
}

fn is_any_code(s: &str) -> bool {
    ErrorCode::ALL.iter().any(|c| c.as_str() == s)
}

/// The spans between pairs of backticks.
fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// The table rows `ErrorCode::ALL` makes, as README must hold them.
fn expected_rows() -> Vec<String> {
    ErrorCode::ALL
        .iter()
        .map(|c| {
            format!(
                "| {} | `{}` | {} |",
                c.status(),
                c.as_str(),
                c.default_message()
            )
        })
        .collect()
}

#[test]
fn readme_table_lists_every_code_with_its_status_and_default_message() {
    let readme = read("README.md");
    let (_, after) = readme
        .split_once(TABLE_HEADING)
        .unwrap_or_else(|| panic!("README.md has no {TABLE_HEADING:?} section"));
    let rows: Vec<String> = after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(str::to_string)
        .collect();
    let expected = expected_rows();
    assert!(
        rows == expected,
        "README.md's {TABLE_HEADING:?} table differs from ErrorCode::ALL; it should read:\n\n\
         | status | code | default message |\n|---|---|---|\n{}\n",
        expected.join("\n")
    );
}

#[test]
fn openapi_error_schema_enumerates_every_code() {
    let doc: Value = serde_json::from_str(&read("docs/openapi.json")).expect("openapi is JSON");
    let listed: Vec<&str> = doc
        .pointer("/components/schemas/Error/properties/error/properties/code/enum")
        .and_then(Value::as_array)
        .expect("the Error schema's code has an enum")
        .iter()
        .map(|v| v.as_str().expect("codes are strings"))
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a code is listed twice: {listed:?}"
    );
    let codes: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        unique, codes,
        "docs/openapi.json's Error code enum differs from ErrorCode::ALL"
    );
}

#[test]
fn openapi_error_responses_name_codes_with_the_status_they_are_answered_with() {
    let doc: Value = serde_json::from_str(&read("docs/openapi.json")).expect("openapi is JSON");
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(responses) = op.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (status, response) in responses {
                let Ok(status) = status.parse::<u16>() else {
                    continue;
                };
                if status < 400 {
                    continue;
                }
                // Descriptions also quote field names (`max_body_bytes`): only the words
                // that are codes are checked, for their status.
                let description = response["description"].as_str().unwrap_or_default();
                for code in backticked(description).filter(|s| is_any_code(s)) {
                    if !known(status, code) {
                        wrong.push(format!("{method} {path} {status}: `{code}`"));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/openapi.json names codes ErrorCode does not answer with that status: {wrong:#?}"
    );
}

#[test]
fn docs_name_only_codes_answered_with_their_status() {
    let mut files = vec!["README.md".to_string()];
    let docs = std::fs::read_dir(format!("{}/docs", env!("CARGO_MANIFEST_DIR"))).expect("docs/");
    for entry in docs {
        let name = entry.expect("docs entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            files.push(format!("docs/{name}"));
        }
    }
    let mut wrong = Vec::new();
    for file in files {
        let text = read(&file);
        // `401 replayed_token` anywhere in the prose.
        for span in backticked(&text) {
            if let Some((status, code)) = span.split_once(' ')
                && let Ok(status) = status.parse::<u16>()
                && status >= 400
                && is_code(code)
                && !known(status, code)
            {
                wrong.push(format!("{file}: `{span}`"));
            }
        }
        // Rows `| 401 | `a`, `b` | ... |` of tables headed `| status | code | ...`: every
        // code in the second cell.
        let mut in_error_table = false;
        for line in text.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 3 || !cells[0].is_empty() {
                in_error_table = false;
                continue;
            }
            if cells[1] == "status" {
                in_error_table = cells[2] == "code";
                continue;
            }
            if !in_error_table {
                continue;
            }
            let Ok(status) = cells[1].parse::<u16>() else {
                continue;
            };
            if status < 400 {
                continue;
            }
            for code in backticked(cells[2]).filter(|s| is_code(s)) {
                if !known(status, code) {
                    wrong.push(format!("{file}: {status} `{code}`"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the docs name codes ErrorCode does not answer with that status: {wrong:#?}"
    );
}
