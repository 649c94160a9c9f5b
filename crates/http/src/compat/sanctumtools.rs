//! SanctumTools' password reset API (seed 000): `/api/forgot-password`,
//! `/api/validate-reset-token`, `/api/reset-password`, `/api/login`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use latchkey_core::Error;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, AppState};
use crate::{Json, cookie};
use latchkey_service::{App, ClientInfo, LoginId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/forgot-password", post(forgot))
        .route("/api/validate-reset-token", get(validate))
        .route("/api/reset-password", post(reset))
        .route("/api/login", post(login))
}

#[derive(Debug, Deserialize)]
struct EmailBody {
    email: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetBody {
    token: String,
    new_password: String,
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: String,
}

#[derive(Debug, Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

/// SanctumTools' error shape: `{"success": false, "message": …}`.
fn failure(e: impl Into<ApiError>) -> Response {
    let (status, message) = match e.into() {
        ApiError::Domain(Error::InvalidCredentials | Error::EmailNotVerified) => (
            StatusCode::UNAUTHORIZED,
            "Invalid email or password".to_owned(),
        ),
        ApiError::Domain(Error::TokenInvalid | Error::TokenExpired) => (
            StatusCode::BAD_REQUEST,
            "Invalid or expired token".to_owned(),
        ),
        ApiError::Domain(Error::WeakPassword(rules)) => (
            StatusCode::BAD_REQUEST,
            rules
                .iter()
                .map(|r| format!("Password {}", r.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        ApiError::Domain(Error::Invalid { message, .. }) => (StatusCode::BAD_REQUEST, message),
        ApiError::Domain(
            Error::RateLimited { retry_after_secs } | Error::TooManyAttempts { retry_after_secs },
        ) => {
            let body =
                Json(json!({"success": false, "message": "Too many attempts, try again later"}));
            let retry = [(
                axum::http::header::RETRY_AFTER,
                retry_after_secs.max(1).to_string(),
            )];
            return (StatusCode::TOO_MANY_REQUESTS, retry, body).into_response();
        }
        ApiError::BadRequest(_) | ApiError::UnsupportedMediaType | ApiError::PayloadTooLarge => {
            (StatusCode::BAD_REQUEST, "Invalid request".to_owned())
        }
        // Everything else keeps the standard problem answer (503, 500…).
        other => return other.into_response(),
    };
    (status, Json(json!({"success": false, "message": message}))).into_response()
}

async fn forgot(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<EmailBody>, ApiError>,
) -> Response {
    let result = async {
        let ApiJson(b) = body?;
        let email = App::parse_email(&b.email)?;
        app.recovery().forgot_password(email, &client).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => Json(json!({"success": true, "message": "Check your email"})).into_response(),
        Err(e) => failure(e),
    }
}

async fn validate(
    State(app): State<AppState>,
    query: Result<ApiQuery<TokenQuery>, ApiError>,
) -> Response {
    let ApiQuery(q) = match query {
        Ok(q) => q,
        Err(e) => return failure(e),
    };
    match app.recovery().validate_reset(&q.token).await {
        Ok(email) => Json(json!({"valid": true, "email": email})).into_response(),
        Err(Error::TokenInvalid | Error::TokenExpired) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"valid": false, "message": "Invalid or expired token"})),
        )
            .into_response(),
        Err(e) => failure(e),
    }
}

async fn reset(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<ResetBody>, ApiError>,
) -> Response {
    let ApiJson(b) = match body {
        Ok(b) => b,
        Err(e) => return failure(e),
    };
    match app
        .recovery()
        .reset_password(&b.token, &b.new_password, &client)
        .await
    {
        Ok(()) => Json(json!({"success": true, "message": "Password updated"})).into_response(),
        Err(e) => failure(e),
    }
}

/// `sessionToken` is the opaque session token: it works as the session
/// cookie (set here too) and as `Authorization: Bearer` on `/api/v1`.
async fn login(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<LoginBody>, ApiError>,
) -> Response {
    let ApiJson(b) = match body {
        Ok(b) => b,
        Err(e) => return failure(e),
    };
    let id = LoginId::from_email_input(&b.email);
    match app.auth().login(id, &b.password, client).await {
        Ok(issued) => {
            let Some(token) = issued.cookie_token.as_ref() else {
                return failure(Error::Internal("login without a session token".into()));
            };
            let mut response =
                Json(json!({"success": true, "sessionToken": token.expose()})).into_response();
            if let Some(value) = cookie::set(
                token.expose(),
                app.config().session.absolute_timeout_secs,
                app.config().is_https(),
            ) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => failure(e),
    }
}
