//! Cookies: the one reader of the request's cookies, the one writer of the
//! server's own (HttpOnly, SameSite=Lax, and on https `Secure`), and the
//! browser's session cookie, which on https takes the `__Host-` prefix (no
//! Domain, Path=/).

use axum::http::{HeaderMap, HeaderValue, header};
use latchkey_service::Issued;
use latchkey_service::config::Config;

fn name(https: bool) -> &'static str {
    if https {
        "__Host-latchkey_session"
    } else {
        "latchkey_session"
    }
}

/// The value of the cookie `wanted` in the request, if it has one.
pub fn value(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.to_owned())
}

/// `Set-Cookie` for one of the server's own cookies: HttpOnly, SameSite=Lax,
/// for every path, `Secure` on https; a session cookie without `max_age`.
pub fn http_only(
    name: &str,
    value: &str,
    max_age_secs: Option<i64>,
    https: bool,
) -> Option<HeaderValue> {
    let max_age = max_age_secs
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{max_age}{secure}"
    ))
    .ok()
}

/// The session cookie for the session a login started, for as long as the
/// session may last (none when the login issued no session token).
pub fn signed_in(issued: &Issued, config: &Config) -> Option<HeaderValue> {
    let token = issued.cookie_token.as_ref()?;
    let https = config.is_https();
    http_only(
        name(https),
        token.expose(),
        Some(config.session.absolute_timeout_secs),
        https,
    )
}

/// Ends the browser's session cookie.
pub fn clear(https: bool) -> HeaderValue {
    http_only(name(https), "", Some(0), https).unwrap_or_else(|| HeaderValue::from_static(""))
}

/// The session token from the request's cookies, if there is one.
pub fn session_token(headers: &HeaderMap, https: bool) -> Option<String> {
    value(headers, name(https))
}
