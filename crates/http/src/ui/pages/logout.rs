//! `/logout`: a confirmation page, and the form that signs this browser
//! out.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;

use crate::cookie;
use crate::ui::{CsrfForm, CsrfRefused, Session, Ui};

pub async fn logout_page(ui: Ui) -> Response {
    if ui.principal().await.is_none() {
        return ui.redirect("/login");
    }
    ui.page(StatusCode::OK, "logout.html", context! {})
}

/// Ends this browser's session. The form carries only its CSRF token.
pub async fn logout(mut ui: Ui, form: Result<CsrfForm<Session>, CsrfRefused>) -> Response {
    // Without a session cookie there is nothing to sign out of.
    if !ui.has_session_cookie() {
        return ui.redirect("/login");
    }
    if let Err(refused) = form {
        return refused.into_response();
    }
    if let Some(principal) = ui.principal().await
        && let Err(e) = ui.app.sessions().logout(&principal).await
    {
        return ui.error_page(&e);
    }
    ui.set_cookie(cookie::clear(ui.https()));
    ui.redirect("/login?notice=signed_out")
}
