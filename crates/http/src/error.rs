//! The one place where errors become HTTP: RFC 9457 problem documents with a
//! stable `type` per error. A 500 says nothing; its detail goes to the log.

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
    fn parts(self) -> (StatusCode, &'static str, String, Problem) {
        let (status, code, title) = match &self {
            Self::Domain(e) => (status_of(e), e.code(), e.to_string()),
            Self::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "the request body is not valid".into(),
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be application/json".into(),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the body is larger than 64 KiB".into(),
            ),
            Self::RouteNotFound => (
                StatusCode::NOT_FOUND,
                "not-found",
                "no such resource".into(),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this resource does not take that method".into(),
            ),
        };
        let mut problem = Problem {
            kind: format!("urn:latchkey:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: None,
            field: None,
            errors: None,
        };
        match self {
            Self::Domain(Error::Invalid { field, message }) => {
                problem.field = Some(field.into());
                problem.detail = Some(message);
            }
            Self::Domain(Error::WeakPassword(rules)) => {
                problem.detail = Some(
                    rules
                        .iter()
                        .map(|r| format!("the password {}", r.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                problem.errors = Some(rules);
            }
            Self::Domain(Error::Internal(detail)) => {
                tracing::error!(%detail, "internal error");
                problem.title = "internal error".into();
            }
            Self::BadRequest(detail) => problem.detail = Some(detail),
            _ => {}
        }
        (status, code, problem.title.clone(), problem)
    }
}

fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Invalid { .. } | Error::WeakPassword(_) | Error::TokenInvalid => {
            StatusCode::BAD_REQUEST
        }
        Error::TokenExpired => StatusCode::GONE,
        Error::InvalidCredentials
        | Error::Unauthenticated
        | Error::SessionEnded
        | Error::InvalidRefreshToken
        | Error::RefreshTokenReused => StatusCode::UNAUTHORIZED,
        Error::EmailNotVerified | Error::CurrentPasswordWrong => StatusCode::FORBIDDEN,
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::UsernameTaken | Error::EmailTaken => StatusCode::CONFLICT,
        Error::RateLimited { .. } | Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Overloaded { .. } | Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            Self::Domain(Error::Overloaded { retry_after_secs }) => {
                Some(u64::from(*retry_after_secs))
            }
            Self::Domain(
                Error::RateLimited { retry_after_secs }
                | Error::TooManyAttempts { retry_after_secs },
            ) => Some((*retry_after_secs).max(1)),
            Self::Domain(Error::Unavailable) => Some(5),
            _ => None,
        };
        let unauthenticated = matches!(&self, Self::Domain(Error::Unauthenticated));
        let (status, _, _, problem) = self.parts();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
