//! The browser's session cookie: HttpOnly, SameSite=Lax, and on https
//! `Secure` with the `__Host-` prefix (no Domain, Path=/).

use axum::http::{HeaderMap, HeaderValue, header};

fn name(https: bool) -> &'static str {
    if https {
        "__Host-latchkey_session"
    } else {
        "latchkey_session"
    }
}

pub fn set(token: &str, max_age_secs: i64, https: bool) -> Option<HeaderValue> {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
        name(https)
    ))
    .ok()
}

pub fn clear(https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        name(https)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session token from the request's cookies, if there is one.
pub fn read(headers: &HeaderMap, https: bool) -> Option<String> {
    let wanted = name(https);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.to_owned())
}
