//! The hosted pages: `/login`, `/signup`, `/verify-email`, `/forgot-password`,
//! `/reset-password`, `/account`, `/logout`. Plain HTML forms rendered on the
//! server from embedded templates; they work without JavaScript and call the
//! same services as the JSON API.

mod assets;
mod context;
mod csrf;
mod display;
mod form;
mod i18n;
mod pages;
mod theme;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};

use self::assets::{accent, stylesheet, theme_asset};
pub use self::context::Ui;
pub use self::form::{CsrfForm, CsrfRefused, PreLogin, Session};
pub use self::theme::Pages;
use super::extract::AppState;
use latchkey_service::config::{Config, ConfigError, invalid};

/// The pages, from the theme directory if one is configured: every
/// override loads and every page renders, or the error names the file.
pub fn pages(config: &Config) -> Result<Pages, ConfigError> {
    match &config.ui.theme_dir {
        Some(dir) => Pages::load(Some(dir)).map_err(|e| invalid("ui.theme_dir", e)),
        None => Ok(Pages::embedded()),
    }
}

pub fn router(pages: Pages) -> Router<AppState> {
    Router::new()
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/login/continue", get(pages::login_continue))
        .route("/signup", get(pages::signup_page).post(pages::signup))
        .route("/verify-email", get(pages::verify_page).post(pages::verify))
        .route(
            "/forgot-password",
            get(pages::forgot_page).post(pages::forgot),
        )
        .route("/reset-password", get(pages::reset_page).post(pages::reset))
        .route("/account", get(pages::account_page))
        .route("/account/password", post(pages::change_password))
        .route(
            "/account/email",
            get(pages::to_account).post(pages::change_email),
        )
        .route("/account/sessions/end", post(pages::end_session))
        .route(
            "/account/sessions/end-others",
            get(pages::to_account).post(pages::end_other_sessions),
        )
        .route("/verify-email/resend", post(pages::resend))
        .route("/logout", get(pages::logout_page).post(pages::logout))
        .route("/assets/latchkey.css", get(stylesheet))
        .route("/assets/theme.css", get(accent))
        .route("/assets/theme/{name}", get(theme_asset))
        .layer(Extension(Arc::new(pages)))
}

/// Where `/login` may send the user afterwards: a path on this server, or a
/// URL on a configured origin (or this server's own). Anything else is
/// refused, so `/login` is no open redirect.
pub fn safe_return_to(raw: &str, public_url: &str, allowed: &[String]) -> Option<String> {
    if raw.is_empty() || raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if raw.starts_with('/') {
        return (!raw.starts_with("//")).then(|| raw.to_owned());
    }
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let own = url::Url::parse(public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    (origin == own || allowed.iter().any(|a| a.trim_end_matches('/') == origin))
        .then(|| url.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::i18n::Catalogue;
    use super::safe_return_to;
    use latchkey_core::audit::AuditKind as K;

    /// Every kind, listed by a match with no catch-all: a new kind does not
    /// compile until it is named here, and then needs its messages.
    fn every_audit_kind() -> Vec<K> {
        let all = vec![
            K::Registration,
            K::EmailVerification,
            K::LoginSucceeded,
            K::LoginFailed,
            K::Logout,
            K::SessionCreated,
            K::SessionEnded,
            K::SessionExpired,
            K::RefreshTokenReuse,
            K::PasswordChanged,
            K::PasswordResetRequested,
            K::PasswordResetCompleted,
            K::EmailChangeRequested,
            K::EmailChanged,
            K::Lockout,
            K::Unlock,
            K::AccountDisabled,
            K::AccountEnabled,
            K::KeysRotated,
            K::MfaEnrolled,
            K::MfaRemoved,
            K::MfaVerified,
            K::MfaFailed,
            K::RecoveryCodeUsed,
        ];
        for k in &all {
            match k {
                K::Registration
                | K::EmailVerification
                | K::LoginSucceeded
                | K::LoginFailed
                | K::Logout
                | K::SessionCreated
                | K::SessionEnded
                | K::SessionExpired
                | K::RefreshTokenReuse
                | K::PasswordChanged
                | K::PasswordResetRequested
                | K::PasswordResetCompleted
                | K::EmailChangeRequested
                | K::EmailChanged
                | K::Lockout
                | K::Unlock
                | K::AccountDisabled
                | K::AccountEnabled
                | K::KeysRotated
                | K::MfaEnrolled
                | K::MfaRemoved
                | K::MfaVerified
                | K::MfaFailed
                | K::RecoveryCodeUsed => {}
            }
        }
        all
    }

    #[test]
    fn every_audit_event_and_result_has_a_name() {
        let c = Catalogue::load(None).unwrap();
        for k in every_audit_kind() {
            let key = format!("event_{}", k.as_str());
            assert!(c.has(&key), "{key}");
            assert_ne!(c.message("de", &key), c.message("en", &key), "{key}");
        }
        // The results the services write (the login failure reasons and
        // the rest).
        for result in [
            "success",
            "wrong_password",
            "unknown_account",
            "password_too_long",
            "disabled",
            "email_not_verified",
            "locked",
            "rate_limited",
            "overloaded",
            "error",
            "email_taken",
            "session_ended",
        ] {
            assert!(c.has(&format!("result_{result}")), "{result}");
        }
    }

    #[test]
    fn return_to_is_a_local_path_or_a_configured_origin() {
        let allowed = vec!["https://app.example.com".to_owned()];
        let ok = |raw: &str| safe_return_to(raw, "https://id.example.com", &allowed);
        assert_eq!(ok("/account").as_deref(), Some("/account"));
        assert_eq!(
            ok("https://app.example.com/x?y=1").as_deref(),
            Some("https://app.example.com/x?y=1")
        );
        assert!(ok("https://id.example.com/account").is_some());
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "https://app.example.com.evil.example/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "https://user@app.example.com/",
            "account",
            "",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }
}
