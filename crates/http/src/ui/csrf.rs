//! CSRF protection, in two kinds:
//!
//! - **Bound to the session.** When the browser holds a session cookie, the
//!   token is an HMAC-SHA256 keyed with that cookie's secret. Only the holder
//!   of the session can compute it, and a token from another session never
//!   matches. Every form that acts on a session (`/account/…`, `/logout`)
//!   accepts only this kind.
//! - **Double-submit**, for the forms that come before a session (`/login`,
//!   `/signup`, `/forgot-password`, …): a random token in an HttpOnly,
//!   SameSite=Lax cookie (`__Host-` on https) that the form repeats in a
//!   hidden field. A cross-site page can neither read the cookie nor set it,
//!   so it cannot forge the field. These forms also accept the bound kind,
//!   which is what a signed-in browser is shown.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::cookie;

/// The hidden field every form carries.
pub const FIELD: &str = "csrf";

/// What the session-bound token signs: a fixed label, so the value is
/// useful for nothing else (it is not the session token's stored hash).
const LABEL: &[u8] = b"latchkey-ui-csrf-v1";

fn name(https: bool) -> &'static str {
    if https {
        "__Host-latchkey_csrf"
    } else {
        "latchkey_csrf"
    }
}

fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Which forms a token is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Forms that act on the signed-in session: bound tokens only.
    Session,
    /// Forms that come before a session: the double-submit token, or the
    /// bound one when a session cookie is present.
    PreLogin,
}

/// The token bound to the session cookie in the request, if there is one.
fn bound(headers: &HeaderMap, https: bool) -> Option<String> {
    let secret = cookie::session_token(headers, https).filter(|s| !s.is_empty())?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    Some(URL_SAFE_NO_PAD.encode(hmac::sign(&key, LABEL).as_ref()))
}

/// The double-submit cookie's token, if the request has a sound one.
fn double_submit(headers: &HeaderMap, https: bool) -> Option<String> {
    cookie::value(headers, name(https)).filter(|t| well_formed(t))
}

/// The token to put in this page's forms, and the cookie to set (for a
/// browser that has no double-submit cookie yet).
pub fn token(headers: &HeaderMap, https: bool) -> (String, Option<HeaderValue>) {
    let (double, cookie) = match double_submit(headers, https) {
        Some(existing) => (existing, None),
        None => fresh(https),
    };
    match bound(headers, https) {
        Some(bound) => (bound, cookie),
        None => (double, cookie),
    }
}

fn fresh(https: bool) -> (String, Option<HeaderValue>) {
    let mut bytes = [0u8; 32];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // Without randomness no pre-login form can be accepted; the empty
        // token never verifies.
        tracing::error!("no randomness for a CSRF token");
        return (String::new(), None);
    }
    let fresh = URL_SAFE_NO_PAD.encode(bytes);
    let cookie = cookie::http_only(name(https), &fresh, None, https);
    (fresh, cookie)
}

fn equal(expected: &str, submitted: &str) -> bool {
    !expected.is_empty()
        && verify_slices_are_equal(expected.as_bytes(), submitted.as_bytes()).is_ok()
}

/// Whether the submitted field is a valid token for a form of `scope`.
pub fn verify(headers: &HeaderMap, https: bool, scope: Scope, submitted: &str) -> bool {
    if bound(headers, https).is_some_and(|b| equal(&b, submitted)) {
        return true;
    }
    scope == Scope::PreLogin && double_submit(headers, https).is_some_and(|d| equal(&d, submitted))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::header;

    fn with_cookies(cookies: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(cookies).unwrap());
        h
    }

    #[test]
    fn the_field_must_repeat_the_cookie_before_login() {
        let (t, cookie) = token(&HeaderMap::new(), false);
        assert!(cookie.is_some());
        assert!(well_formed(&t));
        assert!(!verify(&HeaderMap::new(), false, Scope::PreLogin, &t));
        let h = with_cookies(&format!("latchkey_csrf={t}"));
        assert!(verify(&h, false, Scope::PreLogin, &t));
        assert!(!verify(&h, false, Scope::PreLogin, ""));
        assert!(!verify(&h, false, Scope::PreLogin, &t[1..]));
        assert!(!verify(&h, true, Scope::PreLogin, &t));
        // Without a session, no session form is accepted.
        assert!(!verify(&h, false, Scope::Session, &t));
        assert_eq!(token(&h, false), (t, None));
    }

    #[test]
    fn a_signed_in_token_belongs_to_its_session() {
        let a = with_cookies(
            "latchkey_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; latchkey_session=secret-a",
        );
        let b = with_cookies(
            "latchkey_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; latchkey_session=secret-b",
        );
        let (ta, _) = token(&a, false);
        let (tb, _) = token(&b, false);
        assert!(well_formed(&ta));
        assert_ne!(ta, tb);
        assert!(verify(&a, false, Scope::Session, &ta));
        assert!(!verify(&b, false, Scope::Session, &ta));
        assert!(!verify(&a, false, Scope::Session, &tb));
        // The double-submit token opens no session form…
        let double = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify(&a, false, Scope::Session, double));
        // …but still a login form opened before signing in.
        assert!(verify(&a, false, Scope::PreLogin, double));
        assert!(verify(&a, false, Scope::PreLogin, &ta));
    }
}
