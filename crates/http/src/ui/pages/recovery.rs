//! `/forgot-password` and `/reset-password`: a reset link by mail, and the
//! new password it allows.

use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};

use super::{Flow, flow_token, forget_token, message, take_token_from_url};
use crate::cookie;
use crate::ui::{CsrfForm, PreLogin, Ui};
use latchkey_service::App;

pub async fn forgot_page(ui: Ui) -> Response {
    ui.page(
        StatusCode::OK,
        "forgot_password.html",
        context! { email => "" },
    )
}

pub async fn forgot(ui: Ui, form: CsrfForm<PreLogin>) -> Response {
    let email = form.get("email").trim().to_owned();
    let result = async {
        ui.app
            .recovery()
            .forgot_password(App::parse_email(&email)?, &ui.client)
            .await
    }
    .await;
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

pub async fn reset(mut ui: Ui, form: CsrfForm<PreLogin>) -> Response {
    let Some(token) = flow_token(&ui, Flow::Reset) else {
        return reset_form(ui, StatusCode::BAD_REQUEST, context! {}).await;
    };
    // The address to fill in on the sign-in form afterwards (the link is
    // spent once the reset is done).
    let email = ui.app.recovery().validate_reset(&token).await.ok();
    match ui
        .app
        .recovery()
        .reset_password(&token, form.get("new_password"), &ui.client)
        .await
    {
        Ok(()) => {
            forget_token(&mut ui, Flow::Reset);
            // Every session has ended, this browser's too; signing in again
            // is the user's to do, on the sign-in form with the address
            // filled in.
            ui.set_cookie(cookie::clear(ui.https()));
            let mut query = vec![("notice", "password_reset")];
            if let Some(email) = email.as_deref().filter(|e| !e.is_empty()) {
                query.push(("email", email));
            }
            let query = serde_urlencoded::to_string(query).unwrap_or_default();
            ui.redirect(&format!("/login?{query}"))
        }
        Err(e) => {
            let (status, error, errors) = ui.describe(&e);
            reset_form(ui, status, context! { error, errors }).await
        }
    }
}
