//! `/login`: the form, the sign-in, and the way back to the application.

use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::Error;
use minijinja::context;

use super::{HOME, notice};
use crate::cookie;
use crate::ui::{CsrfForm, PreLogin, Ui};
use latchkey_service::{App, LoginId};

pub async fn login_page(ui: Ui) -> Response {
    let return_to = ui.return_to_query();
    // Already signed in: straight back to the application.
    if ui.principal().await.is_some() {
        let to = return_to.unwrap_or_else(|| HOME.to_owned());
        return ui.redirect(&to);
    }
    let notice = notice(&ui);
    // `?email=` fills in the address (after a password reset), if it is one.
    let email = ui
        .query("email")
        .and_then(|e| App::parse_email(e).ok())
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    ui.page(
        StatusCode::OK,
        "login.html",
        context! { email, return_to, notice },
    )
}

pub async fn login(mut ui: Ui, form: CsrfForm<PreLogin>) -> Response {
    let return_to = ui.return_to(form.get("return_to"));
    let email = form.get("email").trim().to_owned();
    // The page has no second step: a user with a second factor is told so.
    let lifetimes = ui.app.auth().standard_lifetimes();
    let result = ui
        .app
        .auth()
        .login_for(
            LoginId::from_email_input(&email),
            form.get("password"),
            ui.client.clone(),
            lifetimes,
        )
        .await;
    match result {
        Ok(issued) => {
            // A new session, so a new cookie, at every login.
            ui.set_cookie(cookie::signed_in(&issued, ui.app.config()));
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
    let Some(to) = ui.return_to_query() else {
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
