//! Sub-path templates (`/users/{userId}`): matched segment by segment against the path
//! after `/hooks/<name>`, parameters percent-decoded. `verify-claims` compares them with
//! token claims; `pseudonymize` replaces them in the recorded path.

use crate::error::ConfigError;

/// A sub-path template such as `/users/{userId}/events`.
#[derive(Debug)]
pub struct Template {
    /// The template as written.
    pub text: String,
    segments: Vec<TemplateSegment>,
}

#[derive(Debug)]
enum TemplateSegment {
    Literal(String),
    Param(String),
}

crate::refusal! {
    /// Why a `path_template` is refused.
    InvalidTemplate
}

impl Template {
    /// Parses a template: `/`-separated segments, each literal or a whole `{name}`.
    pub fn parse(text: &str) -> Result<Template, InvalidTemplate> {
        if !text.starts_with('/') {
            return Err(format!("{text:?} must start with /").into());
        }
        let segments = text
            .split('/')
            .skip(1)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() && !name.contains(['{', '}']) => {
                        Ok(TemplateSegment::Param(name.to_string()))
                    }
                    _ if s.contains(['{', '}']) => Err(format!(
                        "{text:?}: a segment is either literal or a whole {{name}}"
                    )),
                    _ => Ok(TemplateSegment::Literal(s.to_string())),
                },
            )
            .collect::<Result<_, _>>()?;
        Ok(Template {
            text: text.to_string(),
            segments,
        })
    }

    /// A step's optional `path_template`, a bad one named as `<step>.path_template`.
    pub fn of_step(text: Option<&str>, step: &str) -> Result<Option<Template>, ConfigError> {
        text.map(Template::parse)
            .transpose()
            .map_err(|e| ConfigError(format!("{step}.path_template: {e}")))
    }

    /// Whether the template has the parameter `{param}`.
    pub fn has(&self, param: &str) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, TemplateSegment::Param(p) if p == param))
    }

    /// The parameters of `path` (percent-decoded), or `None` when it does not match.
    pub fn capture(&self, path: &str) -> Option<Vec<(String, String)>> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (seg, part) in self.segments.iter().zip(parts) {
            match seg {
                TemplateSegment::Literal(l) if l == part => {}
                TemplateSegment::Literal(_) => return None,
                TemplateSegment::Param(name) => {
                    let value = percent_decode(part)?;
                    params.push((name.clone(), value));
                }
            }
        }
        Some(params)
    }

    /// `path` with each segment of a parameter in `params` replaced by `replace(decoded
    /// value)`, or `None` when the path does not match the template.
    pub fn rewrite(
        &self,
        path: &str,
        params: &[String],
        replace: impl Fn(&str) -> String,
    ) -> Option<String> {
        self.capture(path)?;
        let mut out = String::with_capacity(path.len() + 48);
        for (seg, part) in self.segments.iter().zip(path.split('/').skip(1)) {
            out.push('/');
            match seg {
                TemplateSegment::Param(name) if params.contains(name) => {
                    out.push_str(&replace(&percent_decode(part)?));
                }
                _ => out.push_str(part),
            }
        }
        Some(out)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_rewrites_named_parameters() {
        let t = Template::parse("/users/{userId}/events/{eventId}").unwrap();
        assert_eq!(
            t.capture("/users/a%40b.c/events/7"),
            Some(vec![
                ("userId".into(), "a@b.c".into()),
                ("eventId".into(), "7".into())
            ])
        );
        assert_eq!(t.capture("/users/a/events"), None);
        assert_eq!(t.capture("/teams/a/events/7"), None);
        let upper = |v: &str| v.to_uppercase();
        assert_eq!(
            t.rewrite("/users/a%40b.c/events/e7", &["userId".into()], upper),
            Some("/users/A@B.C/events/e7".into())
        );
        assert_eq!(t.rewrite("/users/a/x/7", &["userId".into()], upper), None);
        assert!(Template::parse("users/{x}").is_err());
        assert!(Template::parse("/users/u{x}").is_err());
    }
}
