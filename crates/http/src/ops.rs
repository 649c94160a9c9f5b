//! Operations: health, readiness, metrics, keys and API documentation.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use super::Json;
use super::dto::StatusBody;
use super::extract::AppState;

/// What other origins' scripts may call (CORS): health, keys, this document.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/health", get(api_health))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/api/openapi.json", get(openapi))
}

/// For operators and the browsable reference.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/docs", get(docs))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "`{\"status\":\"healthy\"}`", body = StatusBody)))]
pub async fn health() -> Json<StatusBody> {
    Json(StatusBody { status: "healthy" })
}

/// Liveness, under the API's prefix (Cohuron reads it here): the same as
/// `/health`.
#[utoipa::path(get, path = "/api/v1/health", tag = "operations", responses((status = 200, description = "`{\"status\":\"healthy\"}`", body = StatusBody)))]
pub async fn api_health() -> Json<StatusBody> {
    health().await
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "`{\"status\":\"ready\"}`", body = StatusBody),
              (status = 503, description = "the store does not answer: `{\"status\":\"unavailable\"}`", body = StatusBody)))]
pub async fn ready(State(app): State<AppState>) -> Response {
    match app.ready().await {
        Ok(()) => Json(StatusBody { status: "ready" }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(StatusBody {
                    status: "unavailable",
                }),
            )
                .into_response()
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "the Prometheus text format", content_type = "text/plain")))]
pub async fn metrics() -> Response {
    let body = crate::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

/// The public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations", responses((status = 200, description = "a JSON Web Key Set", content_type = "application/json")))]
pub async fn jwks(State(app): State<AppState>) -> Response {
    let mut response = Json(app.jwks().as_ref().clone()).into_response();
    // Public data; caches may keep it briefly.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "this OpenAPI document", content_type = "application/json")))]
pub async fn openapi() -> Json<Value> {
    Json(openapi_value())
}

pub fn openapi_value() -> Value {
    serde_json::to_value(super::openapi::document()).unwrap_or_default()
}

/// A browsable reference, rendered on the server from the OpenAPI document.
pub async fn docs() -> Response {
    let mut env = minijinja::Environment::new();
    let rendered = env
        .add_template("api-docs.html", include_str!("../../../ui/templates/api-docs.html"))
        .and_then(|()| env.get_template("api-docs.html"))
        .and_then(|t| t.render(minijinja::context! { api => minijinja::Value::from(minijinja::value::Serde(openapi_value())) }));
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the API reference");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
