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

    /// The headers `names` as `lookup` (the runtime's request) gives them, absent ones
    /// left out: the worker copies only the headers the core reads.
    pub fn select<'n>(
        names: impl IntoIterator<Item = &'n str>,
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Self {
        HeaderMap(
            names
                .into_iter()
                .filter_map(|n| lookup(n).map(|v| (n.to_ascii_lowercase(), v)))
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

/// The path (`/` when empty) and the query (without `?`, empty when absent) of an
/// absolute URL as the runtime hands it to the worker. The runtime has parsed and
/// normalized it already, so finding the delimiters is all that is left to do.
pub fn split_url(url: &str) -> (&str, &str) {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let rest = &rest[rest.find(['/', '?']).unwrap_or(rest.len())..];
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    (if path.is_empty() { "/" } else { path }, query)
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
    /// The request's headers (names lower case).
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
    fn select_copies_only_the_named_headers_that_are_present() {
        let all = HeaderMap::from_pairs([("Authorization", "a"), ("X-Other", "b")]);
        let h = HeaderMap::select(["authorization", "date"], |n| {
            all.get(n).map(str::to_string)
        });
        assert_eq!(h.get("Authorization"), Some("a"));
        assert_eq!(h.get("x-other"), None);
        assert_eq!(h.get("date"), None);
    }

    #[test]
    fn split_url_agrees_with_a_url_parser() {
        for url in [
            "http://127.0.0.1:8787/hooks/amo",
            "https://hooks.example.com/hooks/psoxy/users/42?userId=42&email=a%40b.c",
            "https://hooks.example.com",
            "https://hooks.example.com/",
            "https://hooks.example.com?x=1",
            "https://hooks.example.com/a?",
            "https://hooks.example.com/a/b%20c/?q=1?2#frag",
            "https://user:pw@hooks.example.com:8443/a#x?y",
            "http://[::1]:8787/hooks/x?a=/b",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            assert_eq!(
                split_url(url),
                (parsed.path(), parsed.query().unwrap_or("")),
                "{url}"
            );
        }
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
