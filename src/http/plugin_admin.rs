//! `/admin/plugins`: upload plugin versions, list them, activate one (or roll back to an
//! earlier one), delete them. Modules live in R2 under `plugins/<name>/<version>/`, the
//! versions in D1 `plugin_versions` (docs/PLUGINS.md).

use serde::Deserialize;
use serde_json::{Value, json};
use worker::{Bucket, Env, Request, Response};

use super::admin::{d1_failed, db};
use super::call::{Call, json_response, read_json};
use crate::error::{ApiError, ErrorCode};
use crate::plugins::bundle::{self, Bundle, BundleError, MAX_UPLOAD_BYTES};
use crate::store::plugins::{self, PluginVersion};

impl From<BundleError> for ApiError {
    fn from(e: BundleError) -> ApiError {
        ApiError::new(e.code(), e.message().to_string())
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if bundle::valid_plugin_name(name) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{name:?} is not a plugin name (1-64 of a-z A-Z 0-9 - _)"),
        ))
    }
}

pub(crate) fn bucket(env: &Env) -> Result<Bucket, ApiError> {
    env.bucket("ARCHIVE")
        .map_err(|e| ApiError::internal(format!("ARCHIVE binding: {e}")))
}

pub(crate) fn r2_failed(e: worker::Error) -> ApiError {
    ApiError::unavailable(format!("the bucket failed: {e}"))
}

fn unknown_plugin(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownPlugin,
        format!("no plugin is named {name:?}"),
    )
}

/// A version's modules as recorded (`[{name, kind, size}]`).
fn modules(v: &PluginVersion) -> Value {
    serde_json::from_str(&v.modules).unwrap_or_default()
}

/// A version as the admin API shows it, with its modules.
fn view(v: &PluginVersion) -> Value {
    json!({
        "name": v.name,
        "version": v.version,
        "isolate_id": bundle::isolate_id(&v.name, &v.version),
        "size": v.size,
        "main": v.main,
        "modules": modules(v),
        "created_at": v.created_at,
        "active": v.active,
    })
}

/// Reads the bundle in either wire form; `413` before reading when `Content-Length` is
/// over the limit.
async fn read_bundle(req: &mut Request) -> Result<Bundle, ApiError> {
    let too_large = |n: usize| {
        ApiError::from(BundleError::TooLarge(format!(
            "the upload is {n} bytes; at most {MAX_UPLOAD_BYTES}"
        )))
    };
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok())
        && n > MAX_UPLOAD_BYTES
    {
        return Err(too_large(n));
    }
    let media = header("content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media != "application/wasm" && media != "application/json" {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send application/wasm (one SDK-built module) or application/json ({\"main\", \"modules\": {name: base64}})",
        ));
    }
    let bytes = req.bytes().await.map_err(ApiError::unreadable_body)?;
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(too_large(bytes.len()));
    }
    Ok(if media == "application/wasm" {
        Bundle::from_wasm(bytes)?
    } else {
        Bundle::from_json(&bytes)?
    })
}

/// `PUT /admin/plugins/{name}` → `201` the new version (inactive), or `200` when the same
/// code was uploaded before. Modules go to R2 first, then the D1 row: a version is
/// listed only once all its modules are stored.
pub async fn put(c: Call<'_>) -> Result<Response, ApiError> {
    let (name, now_secs) = (c.param("name").to_string(), c.now_secs());
    let (name, env, mut req) = (name.as_str(), c.env, c.req);
    check_name(name)?;
    let bundle = read_bundle(&mut req).await?;
    let version = bundle.digest();
    let db = db(env)?;
    if let Some(existing) = plugins::find(&db, name, Some(&version))
        .await
        .map_err(d1_failed)?
    {
        return Ok(json_response(200, &view(&existing)));
    }
    let bucket = bucket(env)?;
    let prefix = bundle::prefix(name, &version);
    for part in &bundle.parts {
        bucket
            .put(format!("{prefix}{}", part.name), part.bytes.clone())
            .execute()
            .await
            .map_err(r2_failed)?;
    }
    let row = PluginVersion {
        name: name.to_string(),
        version,
        size: bundle.size() as u64,
        main: bundle.main.clone(),
        modules: serde_json::to_string(&bundle.modules())
            .map_err(|e| ApiError::internal(e.to_string()))?,
        created_at: now_secs,
        active: false,
    };
    let created = plugins::insert(&db, &row).await.map_err(d1_failed)?;
    Ok(json_response(if created { 201 } else { 200 }, &view(&row)))
}

/// `GET /admin/plugins` → `{"plugins":[{name, active_version, versions, updated_at}]}`.
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let env = c.env;
    let all = plugins::list(&db(env)?).await.map_err(d1_failed)?;
    Ok(json_response(200, &json!({ "plugins": all })))
}

/// `GET /admin/plugins/{name}` → `{name, active_version, versions: [...]}`, newest first.
pub async fn show(c: Call<'_>) -> Result<Response, ApiError> {
    let (env, name) = (c.env, c.param("name"));
    check_name(name)?;
    let versions = plugins::versions(&db(env)?, name)
        .await
        .map_err(d1_failed)?;
    if versions.is_empty() {
        return Err(unknown_plugin(name));
    }
    let active = versions
        .iter()
        .find(|v| v.active)
        .map(|v| v.version.clone());
    Ok(json_response(
        200,
        &json!({
            "name": name,
            "active_version": active,
            "versions": versions.iter().map(view).collect::<Vec<_>>(),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateInput {
    version: String,
}

/// `POST /admin/plugins/{name}/activate` `{"version"}` → `200` the version, now active
/// (any stored version: an earlier one is a rollback). Takes effect on the next webhook
/// in this isolate, within `plugins::CACHE_MS` in the others.
pub async fn activate(c: Call<'_>) -> Result<Response, ApiError> {
    let name = c.param("name").to_string();
    let (name, env, mut req) = (name.as_str(), c.env, c.req);
    check_name(name)?;
    let input: ActivateInput = read_json(&mut req).await?;
    let db = db(env)?;
    if !plugins::activate(&db, name, &input.version)
        .await
        .map_err(d1_failed)?
    {
        return Err(ApiError::new(
            ErrorCode::UnknownVersion,
            format!("plugin {name:?} has no version {:?}", input.version),
        ));
    }
    plugins::forget_cached(name);
    match plugins::find(&db, name, Some(&input.version))
        .await
        .map_err(d1_failed)?
    {
        Some(v) => Ok(json_response(200, &view(&v))),
        None => Err(unknown_plugin(name)),
    }
}

/// `DELETE /admin/plugins/{name}[?version=]` → `200 {"name","deleted":[versions]}`: every
/// version, or one that is not active (`409 version_active` for the active one). Rows go
/// first, so no webhook runs a version whose modules are being removed.
pub async fn delete(c: Call<'_>) -> Result<Response, ApiError> {
    let (env, name) = (c.env, c.param("name"));
    let url = &c.url()?;
    check_name(name)?;
    let only = url
        .query_pairs()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v.into_owned());
    let db = db(env)?;
    let versions = plugins::versions(&db, name).await.map_err(d1_failed)?;
    let doomed: Vec<&PluginVersion> = versions
        .iter()
        .filter(|v| only.as_deref().is_none_or(|o| o == v.version))
        .collect();
    match (doomed.as_slice(), &only) {
        ([], None) => return Err(unknown_plugin(name)),
        ([], Some(v)) => {
            return Err(ApiError::new(
                ErrorCode::UnknownVersion,
                format!("plugin {name:?} has no version {v:?}"),
            ));
        }
        ([one], Some(_)) if one.active => {
            return Err(ApiError::new(
                ErrorCode::VersionActive,
                "this version is active: activate another one first, or delete the whole plugin",
            ));
        }
        _ => {}
    }
    plugins::delete(&db, name, only.as_deref())
        .await
        .map_err(d1_failed)?;
    plugins::forget_cached(name);
    let bucket = bucket(env)?;
    for v in &doomed {
        let prefix = bundle::prefix(name, &v.version);
        let names = modules(v);
        for m in names.as_array().into_iter().flatten() {
            let module = m.get("name").and_then(Value::as_str).unwrap_or_default();
            bucket
                .delete(format!("{prefix}{module}"))
                .await
                .map_err(r2_failed)?;
        }
    }
    let deleted: Vec<&str> = doomed.iter().map(|v| v.version.as_str()).collect();
    Ok(json_response(
        200,
        &json!({ "name": name, "deleted": deleted }),
    ))
}
