//! leochilds.uk's auth API (seed 002): username accounts, `/auth/signup`,
//! `/auth/login` returning a 24-hour JWT, `/auth/user` with that token.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use latchkey_core::Error;
use latchkey_core::clock::rfc3339;
use serde::Deserialize;
use serde_json::json;

use crate::Json;
use crate::error::ApiError;
use crate::extract::{ApiJson, AppState};
use latchkey_service::{App, ClientInfo, Lifetimes, LoginId, Principal};

/// The seed's tokens last 24 hours (`expiresIn: '24h'`).
const TOKEN_SECS: i64 = 24 * 3600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/login", post(login))
        .route("/auth/user", get(user))
}

#[derive(Debug, Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// leochilds.uk's error shape: `{"error": …}`.
fn failure(e: impl Into<ApiError>) -> Response {
    let (status, message) = match e.into() {
        ApiError::Domain(Error::InvalidCredentials | Error::EmailNotVerified) => {
            (StatusCode::UNAUTHORIZED, "Invalid credentials".to_owned())
        }
        ApiError::Domain(Error::Unauthenticated) => {
            (StatusCode::UNAUTHORIZED, "Unauthorized".to_owned())
        }
        ApiError::Domain(Error::UsernameTaken) => {
            (StatusCode::CONFLICT, "User already exists".to_owned())
        }
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
            let retry = [(
                axum::http::header::RETRY_AFTER,
                retry_after_secs.max(1).to_string(),
            )];
            return (
                StatusCode::TOO_MANY_REQUESTS,
                retry,
                Json(json!({"error": "Too many requests"})),
            )
                .into_response();
        }
        ApiError::BadRequest(_) | ApiError::UnsupportedMediaType | ApiError::PayloadTooLarge => {
            (StatusCode::BAD_REQUEST, "Invalid request".to_owned())
        }
        other => return other.into_response(),
    };
    (status, Json(json!({"error": message}))).into_response()
}

async fn signup(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<Credentials>, ApiError>,
) -> Response {
    let result = async {
        let ApiJson(c) = body?;
        let username = App::parse_username(&c.username)?;
        Ok::<_, ApiError>(
            app.auth()
                .signup_with_username(username, &c.password, &client)
                .await?,
        )
    }
    .await;
    match result {
        Ok(user) => (
            StatusCode::CREATED,
            Json(json!({
                "message": "User created",
                "username": user.username.as_ref().map(|u| u.as_str()),
            })),
        )
            .into_response(),
        Err(e) => failure(e),
    }
}

async fn login(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<Credentials>, ApiError>,
) -> Response {
    let ApiJson(c) = match body {
        Ok(b) => b,
        Err(e) => return failure(e),
    };
    let id = LoginId::from_username_input(&c.username);
    // The token is the session: it lasts 24 hours, idle or not.
    let lifetimes = Lifetimes {
        access_ttl_secs: TOKEN_SECS,
        session_secs: TOKEN_SECS,
        idle_secs: Some(TOKEN_SECS),
    };
    match app
        .auth()
        .login_for(id, &c.password, client, lifetimes)
        .await
    {
        Ok(issued) => Json(json!({"token": issued.access_token})).into_response(),
        Err(e) => failure(e),
    }
}

async fn user(principal: Result<Principal, ApiError>) -> Response {
    match principal {
        Ok(p) => Json(json!({
            "username": p.user.username.as_ref().map(|u| u.as_str()),
            "email": p.user.email_str(),
            "createdAt": rfc3339(p.user.created_at),
        }))
        .into_response(),
        Err(e) => failure(e),
    }
}
