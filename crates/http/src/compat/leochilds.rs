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
use serde_json::{Value, json};

use super::Shape;
use crate::Json;
use crate::error::{ApiError, Surface};
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
struct Leochilds;

type Failure = super::Failure<Leochilds>;

impl Shape for Leochilds {
    const SURFACE: Surface = Surface::Leochilds;

    fn words(e: &Error) -> Option<&'static str> {
        Some(match e {
            Error::InvalidCredentials | Error::EmailNotVerified => "Invalid credentials",
            Error::Unauthenticated => "Unauthorized",
            Error::UsernameTaken => "User already exists",
            Error::RateLimited { .. } | Error::TooManyAttempts { .. } => "Too many requests",
            _ => return None,
        })
    }

    fn body(message: String) -> Value {
        json!({"error": message})
    }
}

async fn signup(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<Credentials>, ApiError>,
) -> Result<Response, Failure> {
    let ApiJson(c) = body?;
    let username = App::parse_username(&c.username)?;
    let user = app
        .auth()
        .signup_with_username(username, &c.password, &client)
        .await?;
    let body = Json(json!({
        "message": "User created",
        "username": user.username.as_ref().map(|u| u.as_str()),
    }));
    Ok((StatusCode::CREATED, body).into_response())
}

async fn login(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<Credentials>, ApiError>,
) -> Result<Response, Failure> {
    let ApiJson(c) = body?;
    let id = LoginId::from_username_input(&c.username);
    // The token is the session: it lasts 24 hours, idle or not.
    let lifetimes = Lifetimes {
        access_ttl_secs: TOKEN_SECS,
        session_secs: TOKEN_SECS,
        idle_secs: Some(TOKEN_SECS),
    };
    let issued = app
        .auth()
        .login_for(id, &c.password, client, lifetimes)
        .await?;
    Ok(Json(json!({"token": issued.access_token})).into_response())
}

async fn user(principal: Result<Principal, ApiError>) -> Result<Response, Failure> {
    let p = principal?;
    Ok(Json(json!({
        "username": p.user.username.as_ref().map(|u| u.as_str()),
        "email": p.user.email_str(),
        "createdAt": rfc3339(p.user.created_at),
    }))
    .into_response())
}
