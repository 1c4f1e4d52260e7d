//! Signing in to the admin API through Cloudflare Access (`admin.access`): the
//! `Cf-Access-Jwt-Assertion` header Access adds to every request it let through is an
//! RS256 JWT signed by the team's keys (`<team>/cdn-cgi/access/certs`), with `aud` the
//! Access application's audience tag and `iss` the team's URL. Its `email` (and `groups`,
//! when the application sends them) is the admin; `admin.roles` gives it a role: `admin`
//! changes, `viewer` only reads. The bearer `ADMIN_TOKEN` stays, as `admin`, for scripts.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::jwt::JwtRules;
use crate::error::ConfigError;

/// The header Access sends the identity's token in.
pub const ASSERTION_HEADER: &str = "cf-access-jwt-assertion";
/// Longest Access session a token may span (`exp - iat`): Access allows up to a month.
pub const MAX_SESSION_SECS: i64 = 31 * 86_400;

/// The `admin` section of the config.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Cloudflare Access sign-in; off when absent.
    #[serde(default)]
    pub access: Option<AccessConfig>,
    /// Who has which role when signed in through Access.
    #[serde(default)]
    pub roles: Roles,
}

/// `admin.access`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// The team domain (`myteam.cloudflareaccess.com`), or its URL (`https://…`; an
    /// `http://` URL only in dev, for tests against a local key server).
    pub team_domain: String,
    /// The Access application's audience (AUD) tag.
    pub audience: String,
}

/// `admin.roles`: emails (any case) or `group:<name>` entries.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    /// May read and change.
    #[serde(default)]
    pub admin: Vec<String>,
    /// Emails or `group:<name>` entries that may read but change nothing.
    #[serde(default)]
    pub viewer: Vec<String>,
}

/// What a signed-in admin may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads the admin API; every change is refused `403 read_only`.
    Viewer,
    /// Read and change.
    Admin,
}

impl Role {
    /// `viewer` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

/// Who a verified Access token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `email`.
    pub email: String,
    /// `groups`, when the token carries them.
    pub groups: Vec<String>,
}

impl AccessConfig {
    /// The team's URL, which is also the tokens' `iss`: `https://<team_domain>`.
    pub fn team_url(&self) -> String {
        let d = self.team_domain.trim_end_matches('/');
        if d.starts_with("https://") || d.starts_with("http://") {
            d.to_string()
        } else {
            format!("https://{d}")
        }
    }

    /// Where the team's signing keys are published.
    pub fn certs_url(&self) -> String {
        format!("{}/cdn-cgi/access/certs", self.team_url())
    }

    /// The claim rules of an Access token: `iss` the team's URL (`team_url`, from
    /// [`AccessConfig::team_url`]), `aud` the application's tag.
    pub fn rules<'a>(&'a self, team_url: &'a str) -> JwtRules<'a> {
        JwtRules {
            issuer: Some(team_url),
            audience: Some(&self.audience),
            max_lifetime_secs: MAX_SESSION_SECS,
        }
    }
}

impl AdminConfig {
    /// Checks the section, naming the bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |k: &str, m: &str| Err(ConfigError(format!("admin.{k}: {m}")));
        if let Some(a) = &self.access {
            if a.audience.trim().is_empty() {
                return err(
                    "access.audience",
                    "must be the Access application's AUD tag",
                );
            }
            match url::Url::parse(&a.team_url()) {
                Ok(u) if u.host_str().is_some() && u.path() == "/" && u.query().is_none() => {}
                _ => {
                    return err(
                        "access.team_domain",
                        "must be a host name such as myteam.cloudflareaccess.com",
                    );
                }
            }
        }
        for (k, list) in [
            ("roles.admin", &self.roles.admin),
            ("roles.viewer", &self.roles.viewer),
        ] {
            if let Some(bad) = list.iter().find(|e| {
                let e = e.trim();
                e.is_empty() || (!e.contains('@') && !e.starts_with("group:"))
            }) {
                return Err(ConfigError(format!(
                    "admin.{k}: {bad:?} is neither an email nor group:<name>"
                )));
            }
        }
        Ok(())
    }
}

/// Why a verified token gives no identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No `email` claim (a service token, for instance).
    #[error("the Access token names no email (service tokens use the bearer token instead)")]
    NoEmail,
}

/// The identity of a verified token's `claims`.
pub fn identity(claims: &Map<String, Value>) -> Result<Identity, AccessError> {
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| e.contains('@'))
        .ok_or(AccessError::NoEmail)?;
    let groups = match claims.get("groups") {
        Some(Value::Array(g)) => g
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Identity {
        email: email.to_string(),
        groups,
    })
}

fn names(list: &[String], id: &Identity) -> bool {
    list.iter().any(|entry| {
        let entry = entry.trim();
        match entry.strip_prefix("group:") {
            Some(g) => id.groups.iter().any(|x| x == g),
            None => entry.eq_ignore_ascii_case(&id.email),
        }
    })
}

/// The identity's role: `admin` when `roles.admin` names it (its email or a group),
/// else `viewer` when `roles.viewer` does, else none.
pub fn role(roles: &Roles, id: &Identity) -> Option<Role> {
    if names(&roles.admin, id) {
        Some(Role::Admin)
    } else if names(&roles.viewer, id) {
        Some(Role::Viewer)
    } else {
        None
    }
}

/// Whether `role` may make a request with `method`: viewers only read.
pub fn may(role: Role, method: &str) -> bool {
    role == Role::Admin || matches!(method, "GET" | "HEAD")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(team: &str) -> AccessConfig {
        AccessConfig {
            team_domain: team.into(),
            audience: "aud".into(),
        }
    }

    #[test]
    fn team_urls_and_certs() {
        assert_eq!(
            cfg("t.cloudflareaccess.com").team_url(),
            "https://t.cloudflareaccess.com"
        );
        assert_eq!(
            cfg("https://t.cloudflareaccess.com/").certs_url(),
            "https://t.cloudflareaccess.com/cdn-cgi/access/certs"
        );
        assert_eq!(cfg("http://127.0.0.1:9").team_url(), "http://127.0.0.1:9");
    }

    #[test]
    fn config_names_the_bad_key() {
        let mut a = AdminConfig {
            access: Some(cfg("t.example")),
            roles: Roles::default(),
        };
        assert!(a.validate().is_ok());
        a.access = Some(AccessConfig {
            audience: " ".into(),
            ..cfg("t.example")
        });
        assert!(
            a.validate()
                .unwrap_err()
                .0
                .starts_with("admin.access.audience")
        );
        a.access = Some(cfg("t.example/path"));
        assert!(
            a.validate()
                .unwrap_err()
                .0
                .starts_with("admin.access.team_domain")
        );
        a.access = None;
        a.roles.viewer = vec!["bob".into()];
        assert!(
            a.validate()
                .unwrap_err()
                .0
                .starts_with("admin.roles.viewer")
        );
    }

    #[test]
    fn identity_needs_an_email() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        let ok = claims(json!({"iss": "https://t", "email": "a@x.org", "groups": ["ops", 1]}));
        assert_eq!(
            identity(&ok),
            Ok(Identity {
                email: "a@x.org".into(),
                groups: vec!["ops".into()]
            })
        );
        let service = claims(json!({"iss": "https://t", "common_name": "ci.access"}));
        assert_eq!(identity(&service), Err(AccessError::NoEmail));
    }

    #[test]
    fn roles_by_email_or_group_admin_first() {
        let roles = Roles {
            admin: vec!["Alice@Example.com".into(), "group:ops".into()],
            viewer: vec!["bob@example.com".into(), "group:audit".into()],
        };
        let who = |email: &str, groups: &[&str]| Identity {
            email: email.into(),
            groups: groups
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        };
        assert_eq!(
            role(&roles, &who("alice@example.com", &[])),
            Some(Role::Admin)
        );
        assert_eq!(
            role(&roles, &who("bob@example.com", &["ops"])),
            Some(Role::Admin)
        );
        assert_eq!(
            role(&roles, &who("bob@example.com", &[])),
            Some(Role::Viewer)
        );
        assert_eq!(
            role(&roles, &who("c@example.com", &["audit"])),
            Some(Role::Viewer)
        );
        assert_eq!(role(&roles, &who("c@example.com", &["group:ops"])), None);
        assert!(may(Role::Viewer, "GET") && !may(Role::Viewer, "DELETE"));
        assert!(may(Role::Admin, "POST"));
    }
}
