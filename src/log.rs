//! Structured logs: one JSON object per line on `console.log`.
//!
//! Callers pass only ids, names, codes and numbers; never a secret, a token, a signature
//! or a payload value. What a client chose (a header, a name in a URL) is logged only
//! when it has the form of what it claims to be ([`ray_id`]), or through [`untrusted`].

use serde_json::Value;

/// Writes one log line.
pub fn emit(line: Value) {
    #[cfg(target_arch = "wasm32")]
    worker::console_log!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{line}");
}

/// The `cf-ray` header's value when it has the form of a Cloudflare ray id (16 hex
/// digits, optionally `-` and a three-letter data-centre code: `8f1e2d3c4b5a6978-LHR`),
/// else `None`: a client can send any `cf-ray` to a worker reached other than through
/// Cloudflare's edge, and its value would become the request id of every log line.
pub fn ray_id(header: Option<&str>) -> Option<&str> {
    let ray = header?;
    let (hex, colo) = match ray.split_once('-') {
        Some((hex, colo)) => (hex, Some(colo)),
        None => (ray, None),
    };
    let hex_ok = hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    let colo_ok = colo.is_none_or(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
    (hex_ok && colo_ok).then_some(ray)
}

/// Longest text [`untrusted`] keeps, in bytes before escaping.
pub const UNTRUSTED_MAX: usize = 64;

/// A client-chosen text made fit for a log line: its first [`UNTRUSTED_MAX`] bytes, each
/// byte outside `A-Z a-z 0-9 - _ .` percent-escaped (so no quote, control character,
/// line break or look-alike Unicode reaches a log reader), `…` marking a cut.
pub fn untrusted(text: &str) -> String {
    let mut out = String::new();
    for &b in text.as_bytes().iter().take(UNTRUSTED_MAX) {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if text.len() > UNTRUSTED_MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_ray_id_is_taken() {
        for good in [
            "8f1e2d3c4b5a6978",
            "8f1e2d3c4b5a6978-LHR",
            "8F1E2D3C4B5A6978-SJC",
        ] {
            assert_eq!(ray_id(Some(good)), Some(good));
        }
        for bad in [
            "",
            "8f1e2d3c4b5a697",
            "8f1e2d3c4b5a69789",
            "8f1e2d3c4b5a697g",
            "8f1e2d3c4b5a6978-",
            "8f1e2d3c4b5a6978-lhr",
            "8f1e2d3c4b5a6978-LHRX",
            "8f1e2d3c4b5a6978-LHR-X",
            "8f1e2d3c4b5a6978\",\"outcome\":\"accepted",
            "8f1e2d3c4b5a6978\nINJECTED",
        ] {
            assert_eq!(ray_id(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(ray_id(None), None);
    }

    #[test]
    fn untrusted_text_is_cut_and_escaped() {
        assert_eq!(untrusted("llm-portal_2.v1"), "llm-portal_2.v1");
        assert_eq!(untrusted("a\"b\nc%d é"), "a%22b%0Ac%25d%20%C3%A9");
        let long = "x".repeat(70_000);
        assert_eq!(untrusted(&long), format!("{}…", "x".repeat(UNTRUSTED_MAX)));
        // A cut inside a multi-byte character still gives valid text.
        let cut = format!("{}é", "x".repeat(UNTRUSTED_MAX - 1));
        assert_eq!(
            untrusted(&cut),
            format!("{}%C3…", "x".repeat(UNTRUSTED_MAX - 1))
        );
    }
}
