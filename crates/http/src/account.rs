//! The signed-in user's own account: profile, sessions, password.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};

use super::Json;
use super::dto::{
    ChangePasswordRequest, ReauthenticateRequest, SessionBody, SessionList, UserBody,
};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, AppState};
use latchkey_service::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/events", get(my_events))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/sessions/{id}", delete(end_session))
        .route("/api/v1/password/change", post(change_password))
        .route("/api/v1/reauthenticate", post(reauthenticate))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    responses((status = 200, description = "the user", body = UserBody)), security(("bearer" = []), ("cookie" = [])))]
pub async fn me(principal: Principal) -> Json<UserBody> {
    Json(UserBody::from(&principal.user))
}

/// One of the user's security events.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EventBody {
    pub at: String,
    pub event: String,
    pub result: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub events: Vec<EventBody>,
}

/// The user's latest security events, newest first.
#[utoipa::path(get, path = "/api/v1/me/events", tag = "account",
    responses((status = 200, description = "newest first", body = EventList)), security(("bearer" = []), ("cookie" = [])))]
pub async fn my_events(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<EventList>, ApiError> {
    let events = app.account().my_events(principal.user.id).await?;
    Ok(Json(EventList {
        events: events
            .into_iter()
            .map(|r| EventBody {
                at: latchkey_core::clock::rfc3339(r.event.at),
                event: r.event.kind,
                result: r.event.result,
                ip: r.event.ip,
                user_agent: r.event.user_agent,
            })
            .collect(),
    }))
}

/// The user's open sessions, newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "account",
    responses((status = 200, description = "newest first; `current` marks this one", body = SessionList)), security(("bearer" = []), ("cookie" = [])))]
pub async fn sessions(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = app.sessions().list(&principal).await?;
    Ok(Json(SessionList {
        sessions: sessions
            .iter()
            .map(|s| SessionBody::new(s, principal.session.id))
            .collect(),
    }))
}

/// End one of the user's sessions.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "account",
    params(("id" = String, Path, description = "session id")),
    responses((status = 204, description = "the session ended"),
               (status = 404, description = "no such session of this user", body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn end_session(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.sessions().end_session(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give the password again: for the next 5 minutes this session may make
/// changes that need a recent login (second factors).
#[utoipa::path(post, path = "/api/v1/reauthenticate", tag = "account", request_body = ReauthenticateRequest,
    responses((status = 204, description = "the session counts as recently authenticated"),
              (status = 403, description = "the password is wrong, or a cookie request from another site", body = Problem),
              (status = 429, response = super::openapi::RateLimited)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn reauthenticate(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ReauthenticateRequest>,
) -> Result<StatusCode, ApiError> {
    app.account()
        .reauthenticate(&principal, &req.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password; every other session ends.
#[utoipa::path(post, path = "/api/v1/password/change", tag = "account", request_body = ChangePasswordRequest,
    responses((status = 204, description = "changed; every other session ended"),
              (status = 400, description = "malformed body, or a weak or reused password", body = Problem),
              (status = 403, description = "the current password is wrong, or a cookie request from another site", body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn change_password(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    app.account()
        .change_password(&principal, &req.current_password, &req.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
