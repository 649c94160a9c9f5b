//! CSRF protection by the double-submit pattern: a random token in an
//! HttpOnly, SameSite=Lax cookie (`__Host-` on https) that every form repeats
//! in a hidden field. A cross-site page can neither read the cookie nor set
//! it, so it cannot forge the field.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The hidden field every form carries.
pub const FIELD: &str = "csrf";

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

/// The request's token, or a new one with the cookie that sets it.
pub fn token(headers: &HeaderMap, https: bool) -> (String, Option<HeaderValue>) {
    if let Some(existing) = super::read_cookie(headers, name(https)).filter(|t| well_formed(t)) {
        return (existing, None);
    }
    let mut bytes = [0u8; 32];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // Without randomness no form can be accepted; the empty token never
        // verifies.
        tracing::error!("no randomness for a CSRF token");
        return (String::new(), None);
    }
    let fresh = URL_SAFE_NO_PAD.encode(bytes);
    let secure = if https { "; Secure" } else { "" };
    let cookie = HeaderValue::from_str(&format!(
        "{}={fresh}; Path=/; HttpOnly; SameSite=Lax{secure}",
        name(https)
    ))
    .ok();
    (fresh, cookie)
}

/// Whether the submitted field matches the cookie.
pub fn verify(headers: &HeaderMap, https: bool, submitted: &str) -> bool {
    super::read_cookie(headers, name(https))
        .filter(|c| well_formed(c))
        .is_some_and(|cookie| {
            verify_slices_are_equal(cookie.as_bytes(), submitted.as_bytes()).is_ok()
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn the_field_must_repeat_the_cookie() {
        let (t, cookie) = token(&HeaderMap::new(), false);
        assert!(cookie.is_some());
        assert!(well_formed(&t));
        let mut h = HeaderMap::new();
        assert!(!verify(&h, false, &t));
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("latchkey_csrf={t}")).unwrap(),
        );
        assert!(verify(&h, false, &t));
        assert!(!verify(&h, false, ""));
        assert!(!verify(&h, false, &t[1..]));
        assert!(!verify(&h, true, &t));
        assert_eq!(token(&h, false), (t, None));
    }
}
