//! `/account`: the signed-in user's profile, sessions and security events,
//! and the forms that change the password or the address and end sessions.

use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::clock::rfc3339;
use minijinja::{Value, context};

use super::{HOME, notice};
use crate::ui::display::{device, when};
use crate::ui::{CsrfForm, Session, Ui};
use latchkey_service::{App, Principal};

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

/// The signed-in user, for every account form (whose CSRF token, bound to
/// this session, `CsrfForm` has checked); without one, the login page.
async fn signed_in(ui: Ui) -> Result<(Ui, Principal), Response> {
    match ui.principal().await {
        Some(p) => Ok((ui, p)),
        None => Err(to_login(ui)),
    }
}

pub async fn change_password(ui: Ui, form: CsrfForm<Session>) -> Response {
    let (ui, principal) = match signed_in(ui).await {
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

pub async fn change_email(ui: Ui, form: CsrfForm<Session>) -> Response {
    let (ui, principal) = match signed_in(ui).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let new_email = form.get("new_email").trim().to_owned();
    let password = form.get("current_password");
    let result = async {
        let new = App::parse_email(&new_email)?;
        ui.app
            .account()
            .request_email_change(&principal, new, password)
            .await
    }
    .await;
    match result {
        Ok(()) => ui.redirect("/account?notice=email_change_sent"),
        Err(e) => {
            let (status, error, errors) = ui.describe(&e);
            let email_error = context! { error, errors };
            account_view(ui, &principal, status, context! { email_error, new_email }).await
        }
    }
}

pub async fn end_session(ui: Ui, form: CsrfForm<Session>) -> Response {
    let (ui, principal) = match signed_in(ui).await {
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

pub async fn end_other_sessions(ui: Ui, _checked: CsrfForm<Session>) -> Response {
    let (ui, principal) = match signed_in(ui).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    match ui.app.sessions().end_other_sessions(&principal).await {
        Ok(()) => ui.redirect("/account?notice=others_ended"),
        Err(e) => ui.error_page(&e),
    }
}
