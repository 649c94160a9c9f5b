//! The one place where errors become HTTP. Every surface takes its status
//! (and its `Retry-After`) from here: the API answers with RFC 9457 problem
//! documents with a stable `type` per error; the hosted pages and the
//! compatibility routes choose only the body. A 500 says nothing; its detail
//! goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::Error;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
    /// The body is not the JSON this endpoint takes.
    BadRequest(String),
    UnsupportedMediaType,
    PayloadTooLarge,
    RouteNotFound,
    MethodNotAllowed,
    /// A change authenticated by the session cookie, asked for by another
    /// site (see `extract.rs`).
    CrossSite,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

impl From<latchkey_store::StoreError> for ApiError {
    fn from(e: latchkey_store::StoreError) -> Self {
        Self::Domain(e.into())
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:latchkey:problem:<code>`, stable for each kind of error.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For invalid input: the field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a weak password: each rule that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub errors: Option<Vec<latchkey_core::password::RuleFailure>>,
}

impl ApiError {
    /// The problem document for this error on the API.
    fn problem(&self) -> Problem {
        let (code, title) = match self {
            Self::Domain(e) => (e.code(), e.to_string()),
            Self::BadRequest(_) => ("malformed-request", "the request body is not valid".into()),
            Self::UnsupportedMediaType => (
                "unsupported-media-type",
                "the body must be application/json".into(),
            ),
            Self::PayloadTooLarge => ("payload-too-large", "the body is larger than 64 KiB".into()),
            Self::RouteNotFound => ("not-found", "no such resource".into()),
            Self::MethodNotAllowed => (
                "method-not-allowed",
                "this resource does not take that method".into(),
            ),
            Self::CrossSite => (
                "cross-site-request",
                "a change made with the session cookie must come from this site".into(),
            ),
        };
        let mut problem = Problem {
            kind: format!("urn:latchkey:problem:{code}"),
            title,
            status: self.status(Surface::Api).as_u16(),
            detail: None,
            field: None,
            errors: None,
        };
        match self {
            Self::Domain(Error::Invalid { field, message }) => {
                problem.field = Some((*field).into());
                problem.detail = Some(message.clone());
            }
            Self::Domain(Error::WeakPassword(rules)) => {
                problem.detail = Some(
                    rules
                        .iter()
                        .map(|r| format!("the password {}", r.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                problem.errors = Some(rules.clone());
            }
            Self::Domain(Error::Internal(detail)) => {
                tracing::error!(%detail, "internal error");
                problem.title = "internal error".into();
            }
            Self::BadRequest(detail) => problem.detail = Some(detail.clone()),
            _ => {}
        }
        problem
    }
}

/// Who answers an error. Each surface has its own body; the status is the
/// API's except where a surface has always answered otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/api/v1` (problem documents).
    Api,
    /// The hosted pages.
    Page,
    /// SanctumTools' routes (`{"success": false, "message": …}`).
    SanctumTools,
    /// leochilds.uk's routes (`{"error": …}`).
    Leochilds,
}

/// The status of an error on a surface: the API's, but for the exceptions
/// named here.
pub fn status_for(surface: Surface, e: &Error) -> StatusCode {
    match (surface, e) {
        // The account page shows a wrong current password as a mistake in
        // the form it was typed in, like any other field: 400, not the
        // API's 403 (tests/api/ui.rs, the account page test).
        (Surface::Page, Error::CurrentPasswordWrong) => StatusCode::BAD_REQUEST,
        // SanctumTools answered a spent or expired reset link like a broken
        // one: 400 "Invalid or expired token", not the API's 410
        // (tests/api/compat.rs, the SanctumTools reset flow).
        (Surface::SanctumTools, Error::TokenExpired) => StatusCode::BAD_REQUEST,
        _ => status_of(e),
    }
}

/// The API's status of each error.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Invalid { .. }
        | Error::WeakPassword(_)
        | Error::TokenInvalid
        | Error::InvalidCode => StatusCode::BAD_REQUEST,
        Error::TokenExpired => StatusCode::GONE,
        Error::InvalidCredentials
        | Error::Unauthenticated
        | Error::SessionEnded
        | Error::InvalidRefreshToken
        | Error::RefreshTokenReused => StatusCode::UNAUTHORIZED,
        Error::EmailNotVerified
        | Error::CurrentPasswordWrong
        | Error::ReauthenticationRequired
        | Error::SecondFactorRequired => StatusCode::FORBIDDEN,
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::UsernameTaken | Error::EmailTaken => StatusCode::CONFLICT,
        Error::RateLimited { .. } | Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Overloaded { .. } | Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// When to try again, in seconds, for an error that is only for now.
fn retry_after(e: &Error) -> Option<u64> {
    match e {
        Error::Overloaded { retry_after_secs } => Some(u64::from(*retry_after_secs)),
        Error::RateLimited { retry_after_secs } | Error::TooManyAttempts { retry_after_secs } => {
            Some((*retry_after_secs).max(1))
        }
        Error::Unavailable => Some(5),
        _ => None,
    }
}

impl ApiError {
    /// This error's status on `surface`.
    pub fn status(&self, surface: Surface) -> StatusCode {
        match self {
            Self::Domain(e) => status_for(surface, e),
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::CrossSite => StatusCode::FORBIDDEN,
        }
    }

    /// This error answered on `surface` with that surface's `body`: the
    /// status, and `Retry-After` where the error is only for now.
    pub fn respond(&self, surface: Surface, body: impl IntoResponse) -> Response {
        let mut response = (self.status(surface), body).into_response();
        if let Self::Domain(e) = self
            && let Some(secs) = retry_after(e)
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let content_type = [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )];
        let mut response = self.respond(Surface::Api, (content_type, body));
        if matches!(self, Self::Domain(Error::Unauthenticated)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
