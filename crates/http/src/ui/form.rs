//! The hosted pages' form bodies, and the CSRF check every form passes
//! before its handler runs.

use std::marker::PhantomData;
use std::ops::Deref;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};

use super::Ui;
use super::csrf::{self, Scope};
use crate::extract::{AppState, has_content_type};

/// A form body (`application/x-www-form-urlencoded`). Anything else reads
/// as an empty form, which fails the CSRF check like a forged one.
#[derive(Debug, Default)]
pub struct UiForm(Vec<(String, String)>);

impl UiForm {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for UiForm {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_content_type(req.headers(), "application/x-www-form-urlencoded") {
            return Ok(Self::default());
        }
        let Ok(bytes) = Bytes::from_request(req, state).await else {
            return Ok(Self::default());
        };
        Ok(Self(
            serde_urlencoded::from_bytes(&bytes).unwrap_or_default(),
        ))
    }
}

/// Which CSRF token a form takes (see `csrf`), as a type.
pub trait CsrfScope {
    const SCOPE: Scope;
}

/// Forms that come before a session: `/login`, `/signup`, `/forgot-password`…
#[derive(Debug)]
pub struct PreLogin;

impl CsrfScope for PreLogin {
    const SCOPE: Scope = Scope::PreLogin;
}

/// Forms that act on the signed-in session: `/account/…`, `/logout`.
#[derive(Debug)]
pub struct Session;

impl CsrfScope for Session {
    const SCOPE: Scope = Scope::Session;
}

/// A form that carries a valid CSRF token for `S`; without one the handler
/// does not run and the answer is the 403 page.
#[derive(Debug)]
pub struct CsrfForm<S> {
    form: UiForm,
    scope: PhantomData<S>,
}

impl<S> Deref for CsrfForm<S> {
    type Target = UiForm;

    fn deref(&self) -> &UiForm {
        &self.form
    }
}

/// The 403 page for a form without a valid CSRF token.
pub struct CsrfRefused(Response);

impl IntoResponse for CsrfRefused {
    fn into_response(self) -> Response {
        self.0
    }
}

impl<S: CsrfScope> FromRequest<AppState> for CsrfForm<S> {
    type Rejection = CsrfRefused;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let mut kept = parts.clone();
        let Ok(form) = UiForm::from_request(Request::from_parts(parts, body), app).await;
        let https = app.config().is_https();
        if csrf::verify(&kept.headers, https, S::SCOPE, form.get(csrf::FIELD)) {
            return Ok(Self {
                form,
                scope: PhantomData,
            });
        }
        Err(CsrfRefused(
            match Ui::from_request_parts(&mut kept, app).await {
                Ok(ui) => ui.csrf_refused(),
                Err(status) => status.into_response(),
            },
        ))
    }
}
