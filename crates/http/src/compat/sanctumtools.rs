//! SanctumTools' password reset API (seed 000): `/api/forgot-password`,
//! `/api/validate-reset-token`, `/api/reset-password`, `/api/login`.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post};
use latchkey_core::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shape;
use crate::error::{ApiError, Surface};
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
struct SanctumTools;

type Failure = super::Failure<SanctumTools>;

impl Shape for SanctumTools {
    const SURFACE: Surface = Surface::SanctumTools;

    fn words(e: &Error) -> Option<&'static str> {
        Some(match e {
            Error::InvalidCredentials | Error::EmailNotVerified => "Invalid email or password",
            Error::TokenInvalid | Error::TokenExpired => "Invalid or expired token",
            Error::RateLimited { .. } | Error::TooManyAttempts { .. } => {
                "Too many attempts, try again later"
            }
            _ => return None,
        })
    }

    fn body(message: String) -> Value {
        json!({"success": false, "message": message})
    }
}

async fn forgot(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<EmailBody>, ApiError>,
) -> Result<Response, Failure> {
    let ApiJson(b) = body?;
    let email = App::parse_email(&b.email)?;
    app.recovery().forgot_password(email, &client).await?;
    Ok(Json(json!({"success": true, "message": "Check your email"})).into_response())
}

async fn validate(
    State(app): State<AppState>,
    query: Result<ApiQuery<TokenQuery>, ApiError>,
) -> Result<Response, Failure> {
    let ApiQuery(q) = query?;
    match app.recovery().validate_reset(&q.token).await {
        Ok(email) => Ok(Json(json!({"valid": true, "email": email})).into_response()),
        Err(e @ (Error::TokenInvalid | Error::TokenExpired)) => {
            let body = Json(json!({"valid": false, "message": "Invalid or expired token"}));
            Ok(ApiError::from(e).respond(SanctumTools::SURFACE, body))
        }
        Err(e) => Err(e.into()),
    }
}

async fn reset(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<ResetBody>, ApiError>,
) -> Result<Response, Failure> {
    let ApiJson(b) = body?;
    app.recovery()
        .reset_password(&b.token, &b.new_password, &client)
        .await?;
    Ok(Json(json!({"success": true, "message": "Password updated"})).into_response())
}

/// `sessionToken` is the opaque session token: it works as the session
/// cookie (set here too) and as `Authorization: Bearer` on `/api/v1`.
async fn login(
    State(app): State<AppState>,
    client: ClientInfo,
    body: Result<ApiJson<LoginBody>, ApiError>,
) -> Result<Response, Failure> {
    let ApiJson(b) = body?;
    let id = LoginId::from_email_input(&b.email);
    let lifetimes = app.auth().standard_lifetimes();
    let issued = app
        .auth()
        .login_for(id, &b.password, client, lifetimes)
        .await?;
    let token = issued
        .cookie_token
        .as_ref()
        .ok_or_else(|| Error::Internal("login without a session token".into()))?;
    let body = Json(json!({"success": true, "sessionToken": token.expose()}));
    let cookie = cookie::signed_in(&issued, app.config()).map(|c| (header::SET_COOKIE, c));
    Ok((AppendHeaders(cookie), body).into_response())
}
