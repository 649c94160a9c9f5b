//! Sign-up, login, refresh, logout.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::post;
use latchkey_core::Error;

use super::dto::{LoginRequest, RefreshRequest, SignupRequest, StatusBody, TokenResponse};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, AppState};
use super::openapi::RateLimited;
use super::{Json, cookie};
use latchkey_service::{App, ClientInfo, LoginId, LoginOutcome, Principal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/signup", post(signup))
        .route("/api/v1/login", post(login))
        .route("/api/v1/token/refresh", post(refresh))
        .route("/api/v1/logout", post(logout))
}

/// Create an account. The answer is the same whether or not the address
/// already has one.
#[utoipa::path(post, path = "/api/v1/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 202, description = "`{\"status\":\"pending_verification\"}`, for a new and a registered address alike", body = StatusBody),
              (status = 400, description = "malformed body, invalid address or username, or a weak password", body = Problem),
              (status = 409, description = "the username is taken", body = Problem),
              (status = 429, response = RateLimited)))]
pub async fn signup(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    let email = App::parse_email(&req.email)?;
    let username = req
        .username
        .as_deref()
        .map(App::parse_username)
        .transpose()?;
    app.auth()
        .signup(email, username, &req.password, &client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StatusBody {
            status: "pending_verification",
        }),
    )
        .into_response())
}

/// Sign in with an email or a username and a password.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "tokens, the session and the user; the session cookie is set. For a user with a second factor instead `{\"mfa_required\":true,\"mfa_token\":…,\"factors\":[…]}` and no session: finish at `POST /api/v1/login/mfa`", body = TokenResponse),
              (status = 400, description = "malformed body, or not exactly one of `email` and `username`", body = Problem),
              (status = 401, description = "wrong password, unknown or disabled account (the same answer)", body = Problem),
              (status = 403, description = "correct password, email not verified", body = Problem),
              (status = 429, response = RateLimited)))]
pub async fn login(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let id = match (req.email.as_deref(), req.username.as_deref()) {
        (Some(e), None) => LoginId::from_email_input(e),
        (None, Some(u)) => LoginId::from_username_input(u),
        _ => return Err(Error::invalid("email", "give either email or username").into()),
    };
    let issued = match app.auth().login(id, &req.password, client).await? {
        LoginOutcome::SignedIn(issued) => issued,
        LoginOutcome::SecondFactorRequired { mfa_token } => {
            return Ok(Json(super::mfa::challenge(&mfa_token)).into_response());
        }
    };
    Ok(signed_in(&issued, app.config()))
}

/// The answer to a finished login (one step or two): the tokens, and the
/// session cookie.
pub(crate) fn signed_in(
    issued: &latchkey_service::Issued,
    config: &latchkey_service::Config,
) -> Response {
    let cookie = cookie::signed_in(issued, config).map(|c| (header::SET_COOKIE, c));
    (AppendHeaders(cookie), Json(TokenResponse::from(issued))).into_response()
}

/// Exchange a refresh token for new tokens. Each refresh token works once.
#[utoipa::path(post, path = "/api/v1/token/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "a new access and refresh token; the one given is spent", body = TokenResponse),
              (status = 401, description = "unknown, spent or replayed refresh token, or the session ended", body = Problem),
              (status = 429, response = RateLimited)))]
pub async fn refresh(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let issued = app.sessions().refresh(&req.refresh_token, &client).await?;
    Ok(Json(TokenResponse::from(&issued)))
}

/// End the current session and its refresh token.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204, description = "the session ended; the cookie is cleared")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn logout(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    app.sessions().logout(&principal).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie::clear(app.config().is_https()));
    Ok(response)
}
