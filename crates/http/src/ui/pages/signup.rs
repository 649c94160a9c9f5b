//! `/signup`: the form and the new account.

use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::message;
use crate::ui::{CsrfForm, PreLogin, Ui};
use latchkey_service::App;

pub async fn signup_page(ui: Ui) -> Response {
    let rules = ui.password_rules();
    ui.page(
        StatusCode::OK,
        "signup.html",
        context! { email => "", rules },
    )
}

pub async fn signup(ui: Ui, form: CsrfForm<PreLogin>) -> Response {
    let email = form.get("email").trim().to_owned();
    let password = form.get("password");
    let result = async {
        ui.app
            .auth()
            .signup(App::parse_email(&email)?, None, password, &ui.client)
            .await
    }
    .await;
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
