//! The domain's errors. Each has a stable code; the server maps them to HTTP
//! in exactly one place.

use crate::password::RuleFailure;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the password does not meet the policy")]
    WeakPassword(Vec<RuleFailure>),
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("the current password is wrong")]
    CurrentPasswordWrong,
    #[error("the email address has not been verified")]
    EmailNotVerified,
    #[error("authentication is required")]
    Unauthenticated,
    #[error("the session has ended")]
    SessionEnded,
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; the session has been ended")]
    RefreshTokenReused,
    #[error("the link or token is not valid")]
    TokenInvalid,
    #[error("the link or token has expired or was already used")]
    TokenExpired,
    #[error("the email address belongs to another account")]
    EmailTaken,
    #[error("not found")]
    NotFound,
    #[error("the username is taken")]
    UsernameTaken,
    #[error("too many requests; retry later")]
    RateLimited { retry_after_secs: u64 },
    #[error("too many failed attempts; retry later")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("the server is busy; retry shortly")]
    Overloaded { retry_after_secs: u32 },
    #[error("the code is wrong, was already used or has expired")]
    InvalidCode,
    #[error(
        "this account has a second factor; finish signing in through the API or an authenticator"
    )]
    SecondFactorRequired,
    #[error("this needs a recent sign-in; authenticate again")]
    ReauthenticationRequired,
    #[error("the store is unavailable")]
    Unavailable,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable code that ends the problem `type` URI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid-request",
            Self::WeakPassword(_) => "weak-password",
            Self::InvalidCredentials => "invalid-credentials",
            Self::CurrentPasswordWrong => "current-password-wrong",
            Self::EmailNotVerified => "email-not-verified",
            Self::Unauthenticated => "unauthenticated",
            Self::SessionEnded => "session-ended",
            Self::InvalidRefreshToken => "invalid-refresh-token",
            Self::RefreshTokenReused => "refresh-token-reused",
            Self::TokenInvalid => "invalid-token",
            Self::TokenExpired => "token-expired",
            Self::EmailTaken => "email-taken",
            Self::NotFound => "not-found",
            Self::UsernameTaken => "username-taken",
            Self::RateLimited { .. } => "rate-limited",
            Self::TooManyAttempts { .. } => "too-many-attempts",
            Self::Overloaded { .. } => "overloaded",
            Self::InvalidCode => "invalid-code",
            Self::ReauthenticationRequired => "reauthentication-required",
            Self::SecondFactorRequired => "second-factor-required",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}
