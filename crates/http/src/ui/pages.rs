//! The page handlers: each reads a form, calls one service method, and shows
//! the outcome (or the error) as a page. No SQL and no rules live here.

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use latchkey_core::Error;
use latchkey_core::clock::rfc3339;
use minijinja::{Value, context};

use super::display::{device, when};
use super::{Ui, UiForm, read_cookie, safe_return_to};
use crate::cookie;
use latchkey_service::{App, LoginId, Principal};

/// Where signed-in users go when no (acceptable) `return_to` was given.
const HOME: &str = "/account";

/// Notices a redirect may ask a page to show, by `?notice=`.
const NOTICES: &[&str] = &[
    "password_changed",
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
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        flow.cookie_name(https)
    ))
    .ok()
}

/// The token from the flow's cookie.
fn flow_token(ui: &Ui, flow: Flow) -> Option<String> {
    read_cookie(&ui.headers, flow.cookie_name(ui.https())).filter(|t| !t.is_empty())
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
    if let Some(c) = flow_cookie(flow, ui.https(), &token, 3600) {
        ui.set_cookie(c);
    }
    true
}

fn forget_token(ui: &mut Ui, flow: Flow) {
    if let Some(c) = flow_cookie(flow, ui.https(), "", 0) {
        ui.set_cookie(c);
    }
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

// ---- login ----

pub async fn login_page(ui: Ui) -> Response {
    let c = &ui.app.config();
    let return_to = ui
        .query("return_to")
        .and_then(|r| safe_return_to(r, &c.public_url, &c.ui.return_to_origins));
    // Already signed in: straight back to the application.
    if ui.principal().await.is_some() {
        let to = return_to.unwrap_or_else(|| HOME.to_owned());
        return ui.redirect(&to);
    }
    let notice = notice(&ui);
    ui.page(
        StatusCode::OK,
        "login.html",
        context! { email => "", return_to, notice },
    )
}

pub async fn login(mut ui: Ui, form: UiForm) -> Response {
    if !ui.csrf_ok(&form) {
        return ui.csrf_refused();
    }
    let c = &ui.app.config();
    let return_to = safe_return_to(
        form.get("return_to"),
        &c.public_url,
        &c.ui.return_to_origins,
    );
    let email = form.get("email").trim().to_owned();
    let result = ui
        .app
        .auth()
        .login(
            LoginId::from_email_input(&email),
            form.get("password"),
            ui.client.clone(),
        )
        .await;
    match result {
        Ok(issued) => {
            // A new session, so a new cookie, at every login.
            if let Some(value) = issued.cookie_token.as_ref().and_then(|t| {
                cookie::set(
                    t.expose(),
                    ui.app.config().session.absolute_timeout_secs,
                    ui.https(),
                )
            }) {
                ui.set_cookie(value);
            }
            match return_to {
                // Another origin: by a page of ours, not a redirect, since
                // browsers hold a form's redirects to the CSP's
                // `form-action 'self'` and would block it.
                Some(to) if !to.starts_with('/') => {
                    let query = serde_urlencoded::to_string([("return_to", to.as_str())])
                        .unwrap_or_default();
                    ui.redirect(&format!("/login/continue?{query}"))
                }
                Some(to) => ui.redirect(&to),
                None => ui.redirect(HOME),
            }
        }
        Err(e) => {
            // Not yet confirmed (said only after the right password): offer
            // a new link.
            let resend = matches!(e, Error::EmailNotVerified);
            let (status, error, errors) = ui.describe(&e);
            ui.page(
                status,
                "login.html",
                context! { email, return_to, error, errors, resend },
            )
        }
    }
}

/// After signing in, the way back to an application on another origin: a
/// page that moves on at once (a `refresh`, which needs no script) and
/// has a link for anyone whose browser does not.
pub async fn login_continue(ui: Ui) -> Response {
    let c = &ui.app.config();
    let Some(to) = ui
        .query("return_to")
        .and_then(|r| safe_return_to(r, &c.public_url, &c.ui.return_to_origins))
    else {
        return ui.redirect(HOME);
    };
    if ui.principal().await.is_none() {
        let query = serde_urlencoded::to_string([("return_to", to.as_str())]).unwrap_or_default();
        return ui.redirect(&format!("/login?{query}"));
    }
    let title = ui.t("continue_title");
    let text = ui.t("continue_text");
    let link = context! { href => to.clone(), text => ui.t("continue_link") };
    ui.page(
        StatusCode::OK,
        "message.html",
        context! { title, text, link, refresh => to },
    )
}

// ---- sign-up ----

pub async fn signup_page(ui: Ui) -> Response {
    let rules = ui.password_rules();
    ui.page(
        StatusCode::OK,
        "signup.html",
        context! { email => "", rules },
    )
}

pub async fn signup(ui: Ui, form: UiForm) -> Response {
    if !ui.csrf_ok(&form) {
        return ui.csrf_refused();
    }
    let email = form.get("email").trim().to_owned();
    let result = match App::parse_email(&email) {
        Ok(parsed) => {
            ui.app
                .auth()
                .signup(parsed, None, form.get("password"), &ui.client)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => message(
            ui,
            StatusCode::OK,
            "signup_done_title",
            "signup_done",
            Some(("/login", "back_to_login")),
        ),
        Err(e) => {
            let (status, error, errors) = ui.describe(&e);
            let rules = ui.password_rules();
            ui.page(
                status,
                "signup.html",
                context! { email, rules, error, errors },
            )
        }
    }
}

// ---- email verification ----

pub async fn verify_page(mut ui: Ui) -> Response {
    if take_token_from_url(&mut ui, Flow::Verify) {
        return ui.redirect(Flow::Verify.path());
    }
    let has_token = flow_token(&ui, Flow::Verify).is_some();
    let notice = notice(&ui);
    ui.page(
        StatusCode::OK,
        "verify_email.html",
        context! { has_token, notice, email => "" },
    )
}

pub async fn verify(mut ui: Ui, form: UiForm) -> Response {
    if !ui.csrf_ok(&form) {
        return ui.csrf_refused();
    }
    let Some(token) = flow_token(&ui, Flow::Verify) else {
        return ui.page(
            StatusCode::BAD_REQUEST,
            "verify_email.html",
            context! { has_token => false, email => "" },
        );
    };
    match ui.app.recovery().verify_email(&token, &ui.client).await {
        Ok(()) => {
            forget_token(&mut ui, Flow::Verify);
            message(
                ui,
                StatusCode::OK,
                "verify_done_title",
                "verify_done",
                Some(("/login", "back_to_login")),
            )
        }
        Err(e) if matches!(e, Error::TokenInvalid | Error::TokenExpired) => {
            // A spent or broken link: say so, and offer a new one.
            forget_token(&mut ui, Flow::Verify);
            let (status, error, errors) = ui.describe(&e);
            ui.page(
                status,
                "verify_email.html",
                context! { has_token => false, error, errors, email => "" },
            )
        }
        Err(e) => ui.error_page(&e),
    }
}

/// Sends a new verification link: to the address in the form, or to the
/// signed-in user's own. The answer is the same whether or not the address
/// belongs to an account that still needs one.
pub async fn resend(ui: Ui, form: UiForm) -> Response {
    if !ui.csrf_ok(&form) {
        return ui.csrf_refused();
    }
    let mut email = form.get("email").trim().to_owned();
    if email.is_empty()
        && let Some(principal) = ui.principal().await
    {
        email = principal
            .user
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default();
    }
    let result = match App::parse_email(&email) {
        Ok(parsed) => {
            ui.app
                .recovery()
                .resend_verification(parsed, &ui.client)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) if form.get("from") == "account" => ui.redirect("/account?notice=verification_sent"),
        Ok(()) => ui.redirect("/verify-email?notice=verification_sent"),
        Err(e) => {
            let (status, error, errors) = ui.describe(&e);
            ui.page(
                status,
                "verify_email.html",
                context! { has_token => false, error, errors, email },
            )
        }
    }
}

// ---- forgotten password ----

pub async fn forgot_page(ui: Ui) -> Response {
    ui.page(
        StatusCode::OK,
        "forgot_password.html",
        context! { email => "" },
    )
}

pub async fn forgot(ui: Ui, form: UiForm) -> Response {
    if !ui.csrf_ok(&form) {
        return ui.csrf_refused();
    }
    let email = form.get("email").trim().to_owned();
    let result = match App::parse_email(&email) {
        Ok(parsed) => ui.app.recovery().forgot_password(parsed, &ui.client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => message(ui, StatusCode::OK, "forgot_done_title", "forgot_done", None),
        Err(e) => {
            let (status, error, errors) = ui.describe(&e);
            ui.page(
                status,
                "forgot_password.html",
                context! { email, error, errors },
            )
        }
    }
}

// ---- password reset ----

/// The reset form for the account the token belongs to, or the reason
/// there is none.
async fn reset_form(mut ui: Ui, status: StatusCode, extra: Value) -> Response {
    let Some(token) = flow_token(&ui, Flow::Reset) else {
        return message(
            ui,
            StatusCode::OK,
            "reset_title",
            "reset_no_token",
            Some(("/forgot-password", "forgot_title")),
        );
    };
    match ui.app.recovery().validate_reset(&token).await {
        Ok(email) => {
            let rules = ui.password_rules();
            ui.page(
                status,
                "reset_password.html",
                context! { email, rules, ..extra },
            )
        }
        Err(e) => {
            forget_token(&mut ui, Flow::Reset);
            let (status, error, _) = ui.describe(&e);
            let title = ui.t("reset_title");
            let link = context! { href => "/forgot-password", text => ui.t("reset_new_link") };
            ui.page(status, "message.html", context! { title, error, link })
        }
    }
}

pub async fn reset_page(mut ui: Ui) -> Response {
    if take_token_from_url(&mut ui, Flow::Reset) {
        return ui.redirect(Flow::Reset.path());
    }
    reset_form(ui, StatusCode::OK, context! {}).await
}

pub async fn reset(mut ui: Ui, form: UiForm) -> Response {
    if !ui.csrf_ok(&form) {
        return ui.csrf_refused();
    }
    let Some(token) = flow_token(&ui, Flow::Reset) else {
        return reset_form(ui, StatusCode::BAD_REQUEST, context! {}).await;
    };
    match ui
        .app
        .recovery()
        .reset_password(&token, form.get("new_password"), &ui.client)
        .await
    {
        Ok(()) => {
            forget_token(&mut ui, Flow::Reset);
            // Every session has ended, this browser's too.
            ui.set_cookie(cookie::clear(ui.https()));
            message(
                ui,
                StatusCode::OK,
                "reset_done_title",
                "reset_done",
                Some(("/login", "back_to_login")),
            )
        }
        Err(e) => {
            let (status, error, errors) = ui.describe(&e);
            reset_form(ui, status, context! { error, errors }).await
        }
    }
}

// ---- account ----

fn to_login(ui: Ui) -> Response {
    ui.redirect("/login?return_to=%2Faccount")
}

async fn account_view(ui: Ui, principal: &Principal, status: StatusCode, extra: Value) -> Response {
    let sessions = match ui.app.sessions().list(principal).await {
        Ok(s) => s,
        Err(e) => return ui.error_page(&e),
    };
    let events = match ui.app.account().my_events(principal.user.id).await {
        Ok(e) => e,
        Err(e) => return ui.error_page(&e),
    };
    let unknown = ui.t("unknown");
    let on = ui.t("device_on");
    let lang = ui.lang;
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|s| {
            context! {
                id => s.id.to_string(),
                current => s.id == principal.session.id,
                created => rfc3339(s.created_at),
                created_text => when(s.created_at, lang),
                last_seen => rfc3339(s.last_seen_at),
                last_seen_text => when(s.last_seen_at, lang),
                ip => s.ip.clone().unwrap_or_else(|| unknown.clone()),
                device => s.user_agent.as_deref().map_or_else(|| unknown.clone(), |ua| device(ua, &on)),
                user_agent => s.user_agent.clone().unwrap_or_else(|| unknown.clone()),
            }
        })
        .collect();
    let events: Vec<Value> = events
        .iter()
        .map(|r| {
            let e = &r.event;
            context! {
                at => rfc3339(e.at),
                at_text => when(e.at, lang),
                kind => ui.t_or(&format!("event_{}", e.kind), || e.kind.replace('_', " ")),
                result => ui.t_or(&format!("result_{}", e.result), || e.result.replace('_', " ")),
                ok => e.result == "success",
                ip => e.ip.clone().unwrap_or_default(),
            }
        })
        .collect();
    let user = &principal.user;
    let user = context! {
        email => user.email.as_ref().map(|e| e.as_str().to_owned()),
        username => user.username.as_ref().map(|u| u.to_string()),
        verified => user.email_verified,
        created => rfc3339(user.created_at),
        created_text => when(user.created_at, lang),
    };
    let notice = notice(&ui);
    let rules = ui.password_rules();
    ui.page(
        status,
        "account.html",
        context! { user, sessions, events, notice, rules, ..extra },
    )
}

/// A GET on one of the account forms' targets: the account page.
pub async fn to_account(ui: Ui) -> Response {
    ui.redirect(HOME)
}

pub async fn account_page(ui: Ui) -> Response {
    let Some(principal) = ui.principal().await else {
        return to_login(ui);
    };
    account_view(ui, &principal, StatusCode::OK, context! {}).await
}

/// The CSRF check (the token bound to this session), then the signed-in
/// user, for every account form.
async fn account_form(ui: Ui, form: &UiForm) -> Result<(Ui, Principal), Response> {
    if !ui.session_csrf_ok(form) {
        return Err(ui.csrf_refused());
    }
    match ui.principal().await {
        Some(p) => Ok((ui, p)),
        None => Err(to_login(ui)),
    }
}

pub async fn change_password(ui: Ui, form: UiForm) -> Response {
    let (ui, principal) = match account_form(ui, &form).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    match ui
        .app
        .account()
        .change_password(
            &principal,
            form.get("current_password"),
            form.get("new_password"),
        )
        .await
    {
        Ok(()) => ui.redirect("/account?notice=password_changed"),
        Err(e) => {
            let (status, error, errors) = ui.describe(&e);
            let password_error = context! { error, errors };
            account_view(ui, &principal, status, context! { password_error }).await
        }
    }
}

pub async fn change_email(ui: Ui, form: UiForm) -> Response {
    let (ui, principal) = match account_form(ui, &form).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let new_email = form.get("new_email").trim().to_owned();
    let result = match App::parse_email(&new_email) {
        Ok(parsed) => {
            ui.app
                .account()
                .request_email_change(&principal, parsed, form.get("current_password"))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ui.redirect("/account?notice=email_change_sent"),
        Err(e) => {
            let (status, error, errors) = ui.describe(&e);
            let email_error = context! { error, errors };
            account_view(ui, &principal, status, context! { email_error, new_email }).await
        }
    }
}

pub async fn end_session(ui: Ui, form: UiForm) -> Response {
    let (ui, principal) = match account_form(ui, &form).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    match ui
        .app
        .sessions()
        .end_session(&principal, form.get("session"))
        .await
    {
        Ok(()) => ui.redirect("/account?notice=session_ended"),
        Err(e) => ui.error_page(&e),
    }
}

pub async fn end_other_sessions(ui: Ui, form: UiForm) -> Response {
    let (ui, principal) = match account_form(ui, &form).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    match ui.app.sessions().end_other_sessions(&principal).await {
        Ok(()) => ui.redirect("/account?notice=others_ended"),
        Err(e) => ui.error_page(&e),
    }
}

// ---- logout ----

pub async fn logout_page(ui: Ui) -> Response {
    if ui.principal().await.is_none() {
        return ui.redirect("/login");
    }
    ui.page(StatusCode::OK, "logout.html", context! {})
}

pub async fn logout(mut ui: Ui, form: UiForm) -> Response {
    // Without a session cookie there is nothing to sign out of.
    if !ui.has_session_cookie() {
        return ui.redirect("/login");
    }
    if !ui.session_csrf_ok(&form) {
        return ui.csrf_refused();
    }
    if let Some(principal) = ui.principal().await
        && let Err(e) = ui.app.sessions().logout(&principal).await
    {
        return ui.error_page(&e);
    }
    ui.set_cookie(cookie::clear(ui.https()));
    ui.redirect("/login?notice=signed_out")
}
