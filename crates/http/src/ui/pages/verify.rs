//! `/verify-email`: the emailed link that confirms an address, and a new
//! link on request.

use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::Error;
use minijinja::context;

use super::{Flow, flow_token, forget_token, message, notice, take_token_from_url};
use crate::ui::{CsrfForm, PreLogin, Ui};
use latchkey_service::App;

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

pub async fn verify(mut ui: Ui, _checked: CsrfForm<PreLogin>) -> Response {
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
pub async fn resend(ui: Ui, form: CsrfForm<PreLogin>) -> Response {
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
    let result = async {
        ui.app
            .recovery()
            .resend_verification(App::parse_email(&email)?, &ui.client)
            .await
    }
    .await;
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
