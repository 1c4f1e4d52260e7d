//! Table `plugin_versions`: the versions of plugins uploaded at runtime.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1Result, wasm_bindgen::JsValue};

use super::cache::TtlCache;
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
            int(v.created_at),
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

/// How long a version read from D1 is trusted by the isolate that read it: an activation,
/// a rollback or a deletion made in another isolate reaches `wasm` steps and transforms
/// within this long, at once in the isolate that made it ([`forget_cached`];
/// docs/PLUGINS.md, "Versions and rollback").
pub const CACHE_MS: u64 = 5_000;

/// At most this many versions (active ones by name, pinned ones by name and version) are
/// held per isolate.
pub const CACHE_VERSIONS: usize = 256;

thread_local! {
    // One per isolate (wasm32 has one thread).
    static VERSIONS: RefCell<TtlCache<Rc<PluginVersion>>> =
        RefCell::new(TtlCache::new(CACHE_MS, CACHE_VERSIONS));
}

/// Drops every version of `name` from this isolate's cache (after an activation or a
/// deletion): the change takes effect on the next call in this isolate.
pub fn forget_cached(name: &str) {
    VERSIONS.with(|c| c.borrow_mut().forget(|_, v| v.name == name));
}

/// [`find`] through this isolate's cache: `read` (the D1 query) runs only when the
/// version (the active one unless `version` pins one) was not read in the last
/// [`CACHE_MS`] before `now_ms`. A plugin without that version is not held, so an upload
/// or an activation shows on the next call.
pub async fn find_cached<E, F, Fut>(
    name: &str,
    version: Option<&str>,
    now_ms: u64,
    read: F,
) -> Result<Option<Rc<PluginVersion>>, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<PluginVersion>, E>>,
{
    let key = match version {
        Some(v) => format!("{name}@{v}"),
        None => name.to_string(),
    };
    if let Some(hit) = VERSIONS.with(|c| c.borrow().get(&key, now_ms)) {
        return Ok(Some(hit));
    }
    let found = read().await?.map(Rc::new);
    if let Some(v) = &found {
        VERSIONS.with(|c| c.borrow_mut().put(&key, Rc::clone(v), now_ms));
    }
    Ok(found)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn version(name: &str, v: &str) -> PluginVersion {
        PluginVersion {
            name: name.into(),
            version: v.into(),
            size: 1,
            main: "main.js".into(),
            modules: "[]".into(),
            created_at: 0,
            active: true,
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        futures_executor::block_on(f)
    }

    /// A D1 stand-in: the active version of each plugin, counting reads.
    struct Table {
        active: RefCell<Option<PluginVersion>>,
        reads: Cell<u32>,
    }

    impl Table {
        fn new(active: Option<PluginVersion>) -> Table {
            Table {
                active: RefCell::new(active),
                reads: Cell::new(0),
            }
        }

        fn find(&self, name: &str, now_ms: u64) -> Option<String> {
            let read = || async {
                self.reads.set(self.reads.get() + 1);
                Ok::<_, ()>(self.active.borrow().clone())
            };
            run(find_cached(name, None, now_ms, read))
                .expect("read")
                .map(|v| v.version.clone())
        }
    }

    #[test]
    fn the_active_version_is_read_once_per_cache_time_and_a_change_shows_within_it() {
        let table = Table::new(Some(version("p-ttl", "v1")));
        assert_eq!(table.find("p-ttl", 1_000).as_deref(), Some("v1"));
        // Activated elsewhere: this isolate keeps v1 until CACHE_MS have passed.
        *table.active.borrow_mut() = Some(version("p-ttl", "v2"));
        assert_eq!(
            table.find("p-ttl", 1_000 + CACHE_MS - 1).as_deref(),
            Some("v1")
        );
        assert_eq!(table.reads.get(), 1);
        assert_eq!(table.find("p-ttl", 1_000 + CACHE_MS).as_deref(), Some("v2"));
        assert_eq!(table.reads.get(), 2);
    }

    #[test]
    fn an_activation_in_this_isolate_shows_on_the_next_call() {
        let table = Table::new(Some(version("p-here", "v1")));
        assert_eq!(table.find("p-here", 1_000).as_deref(), Some("v1"));
        *table.active.borrow_mut() = Some(version("p-here", "v2"));
        forget_cached("p-here");
        assert_eq!(table.find("p-here", 1_001).as_deref(), Some("v2"));
        assert_eq!(table.reads.get(), 2);
    }

    #[test]
    fn a_plugin_without_an_active_version_is_not_held() {
        let table = Table::new(None);
        for ms in [1_000, 1_001, 1_002] {
            assert_eq!(table.find("p-none", ms), None);
        }
        assert_eq!(table.reads.get(), 3);
        *table.active.borrow_mut() = Some(version("p-none", "v1"));
        assert_eq!(table.find("p-none", 1_003).as_deref(), Some("v1"));
    }

    #[test]
    fn pinned_and_active_versions_are_held_apart_and_forgotten_together() {
        let reads = Cell::new(0);
        let find = |pin: Option<&str>, now_ms: u64| {
            let read = || async {
                reads.set(reads.get() + 1);
                Ok::<_, ()>(Some(version("p-pin", pin.unwrap_or("active"))))
            };
            run(find_cached("p-pin", pin, now_ms, read))
                .expect("read")
                .map(|v| v.version.clone())
        };
        assert_eq!(find(Some("v1"), 1_000).as_deref(), Some("v1"));
        assert_eq!(find(None, 1_000).as_deref(), Some("active"));
        assert_eq!(find(Some("v1"), 1_001).as_deref(), Some("v1"));
        assert_eq!(find(None, 1_001).as_deref(), Some("active"));
        assert_eq!(reads.get(), 2);
        forget_cached("p-pin");
        find(Some("v1"), 1_002);
        find(None, 1_002);
        assert_eq!(reads.get(), 4);
    }
}
