//! `/v1/kv/:key`: Consul's key/value store. Reads take `?recurse`, `?keys` (with
//! `?separator`) and `?raw` and block on the KV table; writes take `?flags` and
//! `?cas` and answer `true` or `false`. Sessions (`?acquire`, `?release`) do not
//! exist yet and are refused.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use caravan_state::{KvEntry, Table};
use serde::Serialize;

use super::respond::{self, check_query};
use crate::query::QueryOptions;
use crate::{Api, ApiError, base64};

/// The largest value Consul accepts.
const MAX_VALUE_BYTES: usize = 512 * 1024;

/// A key as Consul's KV reads show it (`api.KVPair`): the value in base64.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct KvPair<'a> {
    lock_index: u64,
    key: &'a str,
    flags: u64,
    /// Base64; `null` for an empty value, as Go writes a nil `[]byte`.
    value: Option<String>,
    create_index: u64,
    modify_index: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    session: &'a str,
}

impl<'a> KvPair<'a> {
    fn of(entry: &'a KvEntry) -> Self {
        Self {
            lock_index: entry.lock_index,
            key: &entry.key,
            flags: entry.flags,
            value: (!entry.value.is_empty()).then(|| base64::encode(&entry.value)),
            create_index: entry.create_index,
            modify_index: entry.modify_index,
            session: &entry.session,
        }
    }
}

pub(super) async fn get_root(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    read(api, String::new(), q).await
}

pub(super) async fn get(
    State(api): State<Api>,
    Path(key): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    read(api, key, q).await
}

/// `GET /v1/kv/:key`: one key as `[{...}]`, or with `?raw` its bare value; with
/// `?recurse` every key under it; with `?keys` (and `?separator`) only the key names.
/// 404 (with the index) when nothing matches.
async fn read(api: Api, key: String, q: QueryOptions) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let keys = q.flag("keys")?;
    let recurse = q.flag("recurse")?;
    let raw = q.flag("raw")?;
    let snap = respond::snapshot(&api, &[Table::Kv], &q).await;
    let index = snap.index(Table::Kv);
    if keys {
        let separator = q.get("separator").unwrap_or_default();
        let names = snap.kv_keys(&key, separator);
        if names.is_empty() {
            return Ok(respond::not_found(&api, index));
        }
        return respond::json(&api, index, &names, &q);
    }
    if recurse {
        let pairs: Vec<KvPair<'_>> = snap.kv_list(&key).map(KvPair::of).collect();
        if pairs.is_empty() {
            return Ok(respond::not_found(&api, index));
        }
        return respond::json(&api, index, &pairs, &q);
    }
    let Some(entry) = snap.kv_get(&key) else {
        return Ok(respond::not_found(&api, index));
    };
    if raw {
        let mut response = Response::new(Body::from(entry.value.clone()));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        respond::with_query_headers(&api, index, &mut response);
        return Ok(response);
    }
    respond::json(&api, index, &[KvPair::of(entry)], &q)
}

pub(super) async fn put_root(
    State(api): State<Api>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    write(api, String::new(), q, bytes).await
}

pub(super) async fn put(
    State(api): State<Api>,
    Path(key): Path<String>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    write(api, key, q, bytes).await
}

/// `PUT /v1/kv/:key[?flags=][&cas=]`: the body is the value. Answers `true`, or
/// `false` when the `cas` index did not hold (0: the key exists already).
async fn write(api: Api, key: String, q: QueryOptions, bytes: Bytes) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    for session in ["acquire", "release"] {
        if q.get(session).is_some() {
            return Err(ApiError::bad_request(format!(
                "?{session} needs sessions, which are not supported yet"
            )));
        }
    }
    if key.is_empty() {
        return Err(ApiError::bad_request("Missing key name"));
    }
    if bytes.len() > MAX_VALUE_BYTES {
        return Ok((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body(value) too large, max size: {MAX_VALUE_BYTES} bytes"),
        )
            .into_response());
    }
    let flags = q.number("flags")?.unwrap_or(0);
    let cas = q.number("cas")?;
    let write = api.server.kv_set(&key, bytes.to_vec(), flags, cas).await?;
    respond::plain_json(&write.applied, &q)
}

pub(super) async fn delete_root(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    remove(api, String::new(), q).await
}

pub(super) async fn delete(
    State(api): State<Api>,
    Path(key): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    remove(api, key, q).await
}

/// `DELETE /v1/kv/:key[?recurse][&cas=]`: answers `true`, or `false` when the `cas`
/// index did not hold.
async fn remove(api: Api, key: String, q: QueryOptions) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let recurse = q.flag("recurse")?;
    let cas = q.number("cas")?;
    let write = api.server.kv_delete(&key, recurse, cas).await?;
    respond::plain_json(&write.applied, &q)
}
