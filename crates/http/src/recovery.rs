//! Email verification, password reset and email change.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Json;
use super::dto::StatusBody;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AppState};
use super::openapi::RateLimited;
use latchkey_service::{App, ClientInfo, Principal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/email/verify", post(verify))
        .route("/api/v1/email/verify/resend", post(resend))
        .route("/api/v1/email/change", post(change_email))
        .route("/api/v1/password/forgot", post(forgot))
        .route("/api/v1/password/reset/validate", get(validate))
        .route("/api/v1/password/reset", post(reset))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub token: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    pub new_email: String,
    pub current_password: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The token from the emailed link.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValidBody {
    pub valid: bool,
    pub email: String,
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(StatusBody { status: "accepted" }),
    )
        .into_response()
}

/// Confirm an email address with the token from the emailed link.
#[utoipa::path(post, path = "/api/v1/email/verify", tag = "email", request_body = TokenRequest,
    responses((status = 200, description = "`{\"status\":\"verified\"}`", body = StatusBody),
              (status = 400, description = "malformed body, or an unknown token", body = Problem),
              (status = 410, description = "the link was used or has expired", body = Problem)))]
pub async fn verify(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Json<StatusBody>, ApiError> {
    app.recovery().verify_email(&req.token, &client).await?;
    Ok(Json(StatusBody { status: "verified" }))
}

/// Send a new verification link. Always 202.
#[utoipa::path(post, path = "/api/v1/email/verify/resend", tag = "email", request_body = EmailRequest,
    responses((status = 202, description = "`{\"status\":\"accepted\"}`", body = StatusBody),
              (status = 400, description = "malformed body or address", body = Problem),
              (status = 429, response = RateLimited)))]
pub async fn resend(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<Response, ApiError> {
    app.recovery()
        .resend_verification(App::parse_email(&req.email)?, &client)
        .await?;
    Ok(accepted())
}

/// Ask for a password reset link. Always 202; mail goes only to an existing
/// account's stored address.
#[utoipa::path(post, path = "/api/v1/password/forgot", tag = "email", request_body = EmailRequest,
    responses((status = 202, description = "`{\"status\":\"accepted\"}`", body = StatusBody),
              (status = 400, description = "malformed body or address", body = Problem),
              (status = 429, response = RateLimited)))]
pub async fn forgot(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<Response, ApiError> {
    app.recovery()
        .forgot_password(App::parse_email(&req.email)?, &client)
        .await?;
    Ok(accepted())
}

/// Check a reset link before showing the new-password form.
#[utoipa::path(get, path = "/api/v1/password/reset/validate", tag = "email", params(TokenQuery),
    responses((status = 200, description = "the link is good, for this address", body = ValidBody),
              (status = 400, description = "no token, another parameter, or an unknown token", body = Problem),
              (status = 410, description = "the link was used or has expired", body = Problem)))]
pub async fn validate(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<ValidBody>, ApiError> {
    let email = app.recovery().validate_reset(&q.token).await?;
    Ok(Json(ValidBody { valid: true, email }))
}

/// Set a new password with a reset link; every session of the user ends.
#[utoipa::path(post, path = "/api/v1/password/reset", tag = "email", request_body = ResetRequest,
    responses((status = 204, description = "changed; every session ended"),
              (status = 400, description = "malformed body, an unknown token, or a weak or reused password", body = Problem),
              (status = 410, description = "the link was used or has expired", body = Problem)))]
pub async fn reset(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    app.recovery()
        .reset_password(&req.token, &req.new_password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the email address: a link goes to the new address, a notice to the old.
#[utoipa::path(post, path = "/api/v1/email/change", tag = "email", request_body = ChangeEmailRequest,
    responses((status = 202, description = "`{\"status\":\"accepted\"}`", body = StatusBody),
              (status = 400, description = "malformed body or address", body = Problem),
              (status = 403, description = "the current password is wrong, or a cookie request from another site", body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn change_email(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ChangeEmailRequest>,
) -> Result<Response, ApiError> {
    let new_email = App::parse_email(&req.new_email)?;
    app.account()
        .request_email_change(&principal, new_email, &req.current_password)
        .await?;
    Ok(accepted())
}
