//! The HTTP API of an agent that is only a client: every request goes to a server
//! over the RPC port, which answers it with its own router, as if it had been asked
//! directly. Streamed answers (`logs -f`) arrive whole, when they end.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use caravan_rpc::{ErrorKind, RpcError};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use super::rpc_api::RpcServerApi;

/// The RPC method that carries a forwarded HTTP request.
pub(crate) const HTTP_METHOD: &str = "http";
/// The largest body forwarded either way.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Longer than the longest blocking query (`?wait=` is capped at 10 minutes).
const TIMEOUT: Duration = Duration::from_secs(11 * 60);

/// Headers that describe the content, the only ones that travel.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "x-nomad-index",
    "x-nomad-knownleader",
    "x-nomad-lastcontact",
    "x-consul-index",
];

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireRequest {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn kept(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// The client-only agent's router: one fallback that forwards everything.
pub(crate) fn router(servers: RpcServerApi) -> axum::Router {
    axum::Router::new().fallback(move |req: Request| {
        let servers = servers.clone();
        async move { forward(&servers, req).await }
    })
}

async fn forward(servers: &RpcServerApi, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response(),
    };
    let wire = WireRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: kept(&parts.headers),
        body,
    };
    match servers
        .raw_call::<_, WireResponse>(HTTP_METHOD, &wire, TIMEOUT)
        .await
    {
        Ok(resp) => {
            let mut out = Response::new(Body::from(resp.body));
            *out.status_mut() =
                StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
            for (name, value) in resp.headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(value.as_str()),
                ) {
                    out.headers_mut().insert(n, v);
                }
            }
            out
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no server answered: {e}"),
        )
            .into_response(),
    }
}

/// A server's side: answers a forwarded request with its own router.
pub(crate) async fn answer(
    router: &Arc<OnceLock<axum::Router>>,
    wire: WireRequest,
) -> Result<WireResponse, RpcError> {
    let router = router
        .get()
        .cloned()
        .ok_or_else(|| RpcError::new(ErrorKind::Unavailable, "the HTTP API is not up yet"))?;
    let method = Method::from_bytes(wire.method.as_bytes())
        .map_err(|e| RpcError::new(ErrorKind::BadRequest, e.to_string()))?;
    let mut builder = axum::http::Request::builder().method(method).uri(&wire.uri);
    for (name, value) in &wire.headers {
        builder = builder.header(name, value);
    }
    let req = builder
        .body(Body::from(wire.body))
        .map_err(|e| RpcError::new(ErrorKind::BadRequest, e.to_string()))?;
    let resp = router
        .oneshot(req)
        .await
        .map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))?;
    let (parts, body) = resp.into_parts();
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))?;
    Ok(WireResponse {
        status: parts.status.as_u16(),
        headers: kept(&parts.headers),
        body: body.to_vec(),
    })
}
