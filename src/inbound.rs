//! A webhook request as the pure core sees it: plain strings and bytes, no `worker` types.

/// Request headers with case-insensitive lookup.
#[derive(Debug, Clone, Default)]
pub struct HeaderMap(Vec<(String, String)>);

impl HeaderMap {
    /// Builds a map from `(name, value)` pairs; names are compared case-insensitively.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        HeaderMap(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into().to_ascii_lowercase(), v.into()))
                .collect(),
        )
    }

    /// The value of header `name` (first one if repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One inbound webhook request addressed to a collector.
#[derive(Debug, Clone, Default)]
pub struct InboundRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// The path after `/hooks/<collector>`, starting with `/` (just `/` when empty).
    pub sub_path: String,
    /// The request's path and query exactly as received (`/hooks/x/y?z=1`); AShirt signs it.
    pub uri: String,
    /// The raw query string without `?` (empty when absent).
    pub query: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The raw body, exactly as received.
    pub body: Vec<u8>,
}

impl InboundRequest {
    /// Query parameters in order, percent-decoded (`+` is a space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_ignores_case() {
        let h = HeaderMap::from_pairs([("Content-Type", "application/json")]);
        assert_eq!(h.get("content-type"), Some("application/json"));
        assert_eq!(h.get("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(h.get("authorization"), None);
    }

    #[test]
    fn query_pairs_are_decoded() {
        let r = InboundRequest {
            query: "userId=a%40b.c&x=1+2&x=3".into(),
            ..Default::default()
        };
        assert_eq!(
            r.query_pairs(),
            vec![
                ("userId".into(), "a@b.c".into()),
                ("x".into(), "1 2".into()),
                ("x".into(), "3".into())
            ]
        );
    }
}
