//! The page handlers, one file a capability: each reads a form, calls one
//! service method, and shows the outcome (or the error) as a page. No SQL
//! and no rules live here. This file holds what several of them share.

mod account;
mod login;
mod logout;
mod recovery;
mod signup;
mod verify;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::context;

pub use self::account::{
    account_page, change_email, change_password, end_other_sessions, end_session, to_account,
};
pub use self::login::{login, login_continue, login_page};
pub use self::logout::{logout, logout_page};
pub use self::recovery::{forgot, forgot_page, reset, reset_page};
pub use self::signup::{signup, signup_page};
pub use self::verify::{resend, verify, verify_page};
use crate::cookie;
use crate::ui::Ui;

/// Where signed-in users go when no (acceptable) `return_to` was given.
const HOME: &str = "/account";

/// Notices a redirect may ask a page to show, by `?notice=`.
const NOTICES: &[&str] = &[
    "password_changed",
    "password_reset",
    "email_change_sent",
    "session_ended",
    "others_ended",
    "signed_out",
    "verification_sent",
];

fn notice(ui: &Ui) -> Option<String> {
    let asked = ui.query("notice")?;
    NOTICES
        .iter()
        .find(|n| **n == asked)
        .map(|n| ui.t(&format!("notice_{n}")))
}

// ---- emailed tokens, moved out of the URL into a short-lived cookie ----

#[derive(Clone, Copy)]
enum Flow {
    Verify,
    Reset,
}

impl Flow {
    fn cookie_name(self, https: bool) -> &'static str {
        match (self, https) {
            (Self::Verify, true) => "__Host-latchkey_verify",
            (Self::Verify, false) => "latchkey_verify",
            (Self::Reset, true) => "__Host-latchkey_reset",
            (Self::Reset, false) => "latchkey_reset",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::Verify => "/verify-email",
            Self::Reset => "/reset-password",
        }
    }
}

fn flow_cookie(flow: Flow, https: bool, value: &str, max_age: i64) -> Option<HeaderValue> {
    cookie::http_only(flow.cookie_name(https), value, Some(max_age), https)
}

/// The token from the flow's cookie.
fn flow_token(ui: &Ui, flow: Flow) -> Option<String> {
    cookie::value(&ui.headers, flow.cookie_name(ui.https())).filter(|t| !t.is_empty())
}

/// On arrival with `?token=`: keeps the token in an HttpOnly cookie and
/// says so; the caller then sends the browser to the same page without it,
/// so the token stays out of the history, the logs and any `Referer`.
fn take_token_from_url(ui: &mut Ui, flow: Flow) -> bool {
    let Some(token) = ui.query("token") else {
        return false;
    };
    // A token is URL-safe base64; anything else cannot be one.
    let token: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(256)
        .collect();
    ui.set_cookie(flow_cookie(flow, ui.https(), &token, 3600));
    true
}

fn forget_token(ui: &mut Ui, flow: Flow) {
    ui.set_cookie(flow_cookie(flow, ui.https(), "", 0));
}

fn message(
    ui: Ui,
    status: StatusCode,
    title_key: &str,
    text_key: &str,
    link: Option<(&str, &str)>,
) -> Response {
    let title = ui.t(title_key);
    let text = ui.t(text_key);
    let link = link.map(|(href, key)| context! { href, text => ui.t(key) });
    ui.page(status, "message.html", context! { title, text, link })
}
