//! Table `plugin_versions`: the versions of plugins uploaded at runtime.

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1Result, wasm_bindgen::JsValue};

use super::int;

/// One version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginVersion {
    /// The plugin's name (1-64 of a-z A-Z 0-9 - _).
    pub name: String,
    /// SHA-256 of the bundle, hex.
    pub version: String,
    /// Total bytes of its modules.
    pub size: u64,
    /// Its main module.
    pub main: String,
    /// Its modules (`[{name, kind, size}]`), as JSON text.
    pub modules: String,
    /// When the version was uploaded, Unix seconds.
    pub created_at: i64,
    /// Whether steps without a pinned version run this one.
    pub active: bool,
}

#[derive(Deserialize)]
struct Row {
    name: String,
    version: String,
    size: f64,
    main: String,
    modules: String,
    created_at: f64,
    active: f64,
}

impl From<Row> for PluginVersion {
    fn from(r: Row) -> PluginVersion {
        PluginVersion {
            name: r.name,
            version: r.version,
            size: r.size as u64,
            main: r.main,
            modules: r.modules,
            created_at: r.created_at as i64,
            active: r.active != 0.0,
        }
    }
}

const COLUMNS: &str = "name, version, size, main, modules, created_at, active";

/// How many rows a statement changed.
fn changes(result: &D1Result) -> worker::Result<u64> {
    Ok(result
        .meta()?
        .and_then(|m| m.changes)
        .map_or(0, |n| n as u64))
}

/// Records a version (inactive). `false` when that version of that plugin was already
/// there (the same code uploaded again).
pub async fn insert(db: &D1Database, v: &PluginVersion) -> worker::Result<bool> {
    let result = db
        .prepare(
            "INSERT INTO plugin_versions (name, version, size, main, modules, created_at, active)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0) ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(&[
            JsValue::from_str(&v.name),
            JsValue::from_str(&v.version),
            int(v.size),
            JsValue::from_str(&v.main),
            JsValue::from_str(&v.modules),
            int(v.created_at.max(0) as u64),
        ])?
        .run()
        .await?;
    Ok(changes(&result)? > 0)
}

/// One version, or the active one when `version` is `None`.
pub async fn find(
    db: &D1Database,
    name: &str,
    version: Option<&str>,
) -> worker::Result<Option<PluginVersion>> {
    let row: Option<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM plugin_versions
             WHERE name = ?1 AND (version = ?2 OR (?2 IS NULL AND active = 1))"
        ))
        .bind(&[
            JsValue::from_str(name),
            version.map_or(JsValue::NULL, JsValue::from_str),
        ])?
        .first(None)
        .await?;
    Ok(row.map(PluginVersion::from))
}

/// Every version of `name`, newest first.
pub async fn versions(db: &D1Database, name: &str) -> worker::Result<Vec<PluginVersion>> {
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM plugin_versions WHERE name = ?1
             ORDER BY created_at DESC, version"
        ))
        .bind(&[JsValue::from_str(name)])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(PluginVersion::from).collect())
}

/// A plugin as `GET /admin/plugins` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginSummary {
    /// The plugin's name (1-64 of a-z A-Z 0-9 - _).
    pub name: String,
    /// The active version, if any.
    pub active_version: Option<String>,
    /// How many versions are stored.
    pub versions: u64,
    /// When the newest version was uploaded, Unix seconds.
    pub updated_at: i64,
}

/// Every plugin, by name.
pub async fn list(db: &D1Database) -> worker::Result<Vec<PluginSummary>> {
    #[derive(Deserialize)]
    struct Summary {
        name: String,
        active_version: Option<String>,
        versions: f64,
        updated_at: f64,
    }
    let rows: Vec<Summary> = db
        .prepare(
            "SELECT name, MAX(CASE WHEN active = 1 THEN version END) AS active_version,
               COUNT(*) AS versions, MAX(created_at) AS updated_at
             FROM plugin_versions GROUP BY name ORDER BY name",
        )
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| PluginSummary {
            name: r.name,
            active_version: r.active_version,
            versions: r.versions as u64,
            updated_at: r.updated_at as i64,
        })
        .collect())
}

/// Makes `version` the active version of `name` and every other inactive, in one
/// statement. `false` when no such version exists (nothing changed).
pub async fn activate(db: &D1Database, name: &str, version: &str) -> worker::Result<bool> {
    let result = db
        .prepare(
            "UPDATE plugin_versions SET active = (version = ?2) WHERE name = ?1
               AND EXISTS (SELECT 1 FROM plugin_versions WHERE name = ?1 AND version = ?2)",
        )
        .bind(&[JsValue::from_str(name), JsValue::from_str(version)])?
        .run()
        .await?;
    Ok(changes(&result)? > 0)
}

/// Deletes one version of `name`, or all of them; the number of rows deleted.
pub async fn delete(db: &D1Database, name: &str, version: Option<&str>) -> worker::Result<u64> {
    let result = db
        .prepare("DELETE FROM plugin_versions WHERE name = ?1 AND (?2 IS NULL OR version = ?2)")
        .bind(&[
            JsValue::from_str(name),
            version.map_or(JsValue::NULL, JsValue::from_str),
        ])?
        .run()
        .await?;
    changes(&result)
}
