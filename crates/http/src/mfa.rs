//! Second factors: TOTP enrolment, the user's factors, and the second step
//! of a login.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use latchkey_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Json;
use super::dto::TokenResponse;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, AppState};
use super::openapi::RateLimited;
use latchkey_service::{FactorKind, Principal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/mfa", get(factors))
        .route("/api/v1/me/mfa/totp", post(enrol_totp))
        .route("/api/v1/me/mfa/totp/confirm", post(confirm_totp))
        .route(
            "/api/v1/me/mfa/recovery-codes",
            post(regenerate_recovery_codes),
        )
        .route("/api/v1/me/mfa/{id}", delete(remove_factor))
        .route("/api/v1/login/mfa", post(login_mfa))
}

/// A TOTP factor just enrolled; the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    pub id: String,
    /// The shared secret, base32.
    pub secret: String,
    pub otpauth_uri: String,
    /// `otpauth_uri` as a QR code, an SVG document.
    pub qr_svg: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    pub id: String,
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmTotpResponse {
    /// Ten single-use codes, only when this is the user's first factor;
    /// shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FactorBody {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// False while pending confirmation.
    pub confirmed: bool,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FactorList {
    pub factors: Vec<FactorBody>,
    pub recovery_codes_left: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaRequest {
    pub mfa_token: String,
    /// `totp` or `recovery_code`.
    pub factor: String,
    pub code: String,
}

/// The answer to a password login of a user with a second factor.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Always true.
    pub mfa_required: bool,
    /// For `POST /api/v1/login/mfa` only: single use, 5 minutes.
    pub mfa_token: String,
    pub factors: Vec<&'static str>,
}

/// The user's second factors (never a secret).
#[utoipa::path(get, path = "/api/v1/me/mfa", tag = "mfa",
    responses((status = 200, description = "the factors, pending ones included", body = FactorList)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn factors(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<FactorList>, ApiError> {
    let overview = app.mfa().overview(principal.user.id).await?;
    Ok(Json(FactorList {
        factors: overview
            .factors
            .into_iter()
            .map(|f| FactorBody {
                id: f.id,
                kind: f.kind,
                name: f.name,
                confirmed: f.confirmed_at.is_some(),
                created_at: latchkey_core::clock::rfc3339(f.created_at),
                last_used_at: f.last_used_at.map(latchkey_core::clock::rfc3339),
            })
            .collect(),
        recovery_codes_left: overview.recovery_codes_left,
    }))
}

/// Start enrolling an authenticator app. Needs a login in the last 5 minutes.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "mfa",
    responses((status = 200, description = "the pending factor and its secret", body = TotpEnrolment),
              (status = 403, description = "`reauthentication-required`: the login is older than 5 minutes", body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn enrol_totp(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<TotpEnrolment>, ApiError> {
    let e = app.mfa().enrol_totp(&principal).await?;
    Ok(Json(TotpEnrolment {
        id: e.id,
        secret: e.secret_base32,
        otpauth_uri: e.otpauth_uri,
        qr_svg: e.qr_svg,
    }))
}

/// Confirm a pending authenticator with a code from it. Needs a login in
/// the last 5 minutes.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "mfa", request_body = ConfirmTotpRequest,
    responses((status = 200, description = "confirmed; the first factor comes with recovery codes", body = ConfirmTotpResponse),
              (status = 400, description = "malformed body, or `invalid-code`", body = Problem),
              (status = 403, description = "`reauthentication-required`: the login is older than 5 minutes", body = Problem),
              (status = 404, description = "no such pending factor", body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn confirm_totp(
    State(app): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ConfirmTotpRequest>,
) -> Result<Json<ConfirmTotpResponse>, ApiError> {
    let codes = app
        .mfa()
        .confirm_totp(&principal, &req.id, &req.code)
        .await?;
    Ok(Json(ConfirmTotpResponse {
        recovery_codes: codes.map(|c| c.iter().map(|c| c.expose().to_owned()).collect()),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, shown this once.
    pub recovery_codes: Vec<String>,
}

/// Remove a second factor. Needs a login in the last 5 minutes.
#[utoipa::path(delete, path = "/api/v1/me/mfa/{id}", tag = "mfa",
    params(("id" = String, Path, description = "the factor's id")),
    responses((status = 204, description = "removed; with the last confirmed factor the recovery codes go too"),
              (status = 403, description = "`reauthentication-required`: the login is older than 5 minutes", body = Problem),
              (status = 404, description = "no such factor of this user", body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn remove_factor(
    State(app): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.mfa().remove(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the recovery codes; the old ones stop working. Needs a login in
/// the last 5 minutes.
#[utoipa::path(post, path = "/api/v1/me/mfa/recovery-codes", tag = "mfa",
    responses((status = 200, description = "the new set", body = RecoveryCodes),
              (status = 403, description = "`reauthentication-required`: the login is older than 5 minutes", body = Problem),
              (status = 404, description = "the user has no confirmed second factor", body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn regenerate_recovery_codes(
    State(app): State<AppState>,
    principal: Principal,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let codes = app.mfa().regenerate_recovery_codes(&principal).await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    }))
}

/// The second step of a login: the `mfa_token` from `POST /api/v1/login`
/// and a code. The token is spent by any attempt.
#[utoipa::path(post, path = "/api/v1/login/mfa", tag = "auth", request_body = LoginMfaRequest,
    responses((status = 200, description = "as a login: tokens, the session and the user; the session cookie is set", body = TokenResponse),
              (status = 400, description = "malformed body, unknown `factor`, or `invalid-code`: a wrong or spent code, or an unknown, spent or expired token", body = Problem),
              (status = 429, response = RateLimited)))]
pub async fn login_mfa(
    State(app): State<AppState>,
    client: latchkey_service::ClientInfo,
    ApiJson(req): ApiJson<LoginMfaRequest>,
) -> Result<Response, ApiError> {
    let kind = FactorKind::parse(&req.factor)
        .ok_or_else(|| Error::invalid("factor", "totp or recovery_code"))?;
    let lifetimes = app.auth().standard_lifetimes();
    let issued = app
        .mfa()
        .complete_login(&req.mfa_token, kind, &req.code, client, lifetimes)
        .await?;
    Ok(super::auth::signed_in(&issued, app.config()))
}

/// The body of a login that needs a second step.
pub fn challenge(mfa_token: &latchkey_core::token::SecretToken) -> MfaChallenge {
    MfaChallenge {
        mfa_required: true,
        mfa_token: mfa_token.expose().to_owned(),
        factors: vec!["totp", "recovery_code"],
    }
}
