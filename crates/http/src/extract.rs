//! Extractors: strict JSON bodies, the signed-in caller, the client's details.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use latchkey_core::Error;
use latchkey_core::session::bound_user_agent;
use serde::de::DeserializeOwned;

use super::cookie;
use super::error::ApiError;
use latchkey_service::config::Config;
use latchkey_service::{App, ClientInfo, Principal};

/// The router's state: the application, shared by every request.
#[derive(Debug, Clone)]
pub struct AppState(pub App);

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// Whether the request's body is of the media type `mime` (parameters such
/// as `charset` aside).
pub fn has_content_type(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
}

/// A JSON body: `application/json` only, at most 64 KiB, every field of the
/// declared type (a string is a string, never an array or an object), no
/// duplicate or unknown keys.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_content_type(req.headers(), "application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the body could not be read".into())
            }
        })?;
        // serde's derives take an array for a struct, field by field in
        // order (`["a@example.com", "password"]`); a body is an object. The
        // bodies' fields are strings, never nested structs, so the top
        // level is the one place an array could stand in for an object.
        let first = bytes
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        if first != Some(&b'{') {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }
}

/// Query parameters, strictly: unknown or repeated ones are a 400 problem.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::BadRequest(format!("query: {e}")))
    }
}

/// The caller: a bearer access token, else the session cookie.
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let mut principal = authenticate(parts, app).await?;
        principal.client = ClientInfo::from_request_parts(parts, app)
            .await
            .unwrap_or_default();
        Ok(principal)
    }
}

/// The principal a request's bearer token or session cookie names.
async fn authenticate(parts: &Parts, app: &AppState) -> Result<Principal, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(Error::Unauthenticated)?
            .trim();
        // A JWS has dots. An opaque token is a session token, a bearer
        // token only as SanctumTools' `sessionToken`, so only with its
        // routes on.
        if token.contains('.') {
            return Ok(app.sessions().authenticate_bearer(token).await?);
        }
        if app.config().compat("sanctumtools") {
            return Ok(app.sessions().authenticate_cookie(token).await?);
        }
        return Err(Error::Unauthenticated.into());
    }
    if let Some(token) = cookie::session_token(&parts.headers, app.config().is_https()) {
        refuse_cross_site(parts, app.config())?;
        return Ok(app.sessions().authenticate_cookie(&token).await?);
    }
    Err(Error::Unauthenticated.into())
}

/// A browser sends the session cookie with every request to us, also one
/// that a page elsewhere makes without a preflight (a form, or `fetch` with
/// `text/plain`). So a change the cookie authenticates must not come from
/// another site: refused when the browser says it is `cross-site` or
/// `same-site` (a sibling host), or when its `Origin` is neither ours nor a
/// configured CORS origin. A configured origin may (its JSON requests are
/// preflighted, and CORS lets only it through). Reading is no change, and
/// CORS decides who may read the answer.
fn refuse_cross_site(parts: &Parts, config: &Config) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    // An `Origin` that is not text matches nothing.
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or_default());
    let is_cors_origin = origin.is_some_and(|o| {
        config
            .cors_origins
            .iter()
            .any(|c| c.trim_end_matches('/').eq_ignore_ascii_case(o))
    });
    if let Some(origin) = origin
        && !is_cors_origin
        && !url::Url::parse(&config.public_url).is_ok_and(|u| {
            u.origin()
                .ascii_serialization()
                .eq_ignore_ascii_case(origin)
        })
    {
        return Err(ApiError::CrossSite);
    }
    let fetch_site = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) && !is_cors_origin {
        return Err(ApiError::CrossSite);
    }
    Ok(())
}

/// The client's address: the connection's peer, or, when the peer is a
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not
/// itself a trusted proxy. Anyone else's `X-Forwarded-For` is ignored. An
/// IPv4-mapped IPv6 address (`::ffff:5.5.5.5`) is the IPv4 address it
/// carries, so one client is one address however it is written.
impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical());
        let trusted = |ip: &IpAddr| app.trusted_proxies().iter().any(|net| net.contains(ip));
        let ip = peer.map(|peer| {
            if !trusted(&peer) {
                return peer;
            }
            let hops: Vec<&str> = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect();
            hops.into_iter()
                .rev()
                .map_while(|hop| hop.parse::<IpAddr>().ok().map(|ip| ip.to_canonical()))
                .find(|hop| !trusted(hop))
                .unwrap_or(peer)
        });
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(bound_user_agent);
        let request_id = parts
            .extensions
            .get::<super::middleware::RequestId>()
            .map(|r| r.0.clone());
        Ok(ClientInfo {
            ip: ip.map(|ip| ip.to_string()),
            user_agent,
            request_id,
        })
    }
}
