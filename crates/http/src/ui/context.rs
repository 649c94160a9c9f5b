//! `Ui`, what every page handler starts from: the application, the
//! language, the CSRF token, the client's details and the cookies the answer
//! sets; and how a page, an error or a redirect is answered.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::Error;
use latchkey_core::password::RuleFailure;
use minijinja::{Value, context};

use super::theme::Pages;
use super::{csrf, i18n, safe_return_to};
use crate::cookie;
use crate::error::{Surface, status_for};
use crate::extract::AppState;
use latchkey_service::{ClientInfo, Principal};

/// What every page needs: the app, the language, the CSRF token, the
/// client's details, and the cookies the answer must set.
pub struct Ui {
    pub app: AppState,
    pages: Arc<Pages>,
    pub headers: HeaderMap,
    pub lang: &'static str,
    pub csrf: String,
    pub client: ClientInfo,
    pub query: Vec<(String, String)>,
    path: String,
    set_cookies: Vec<HeaderValue>,
}

impl FromRequestParts<AppState> for Ui {
    type Rejection = StatusCode;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The router always adds the pages; without them there is no page.
        let pages = parts
            .extensions
            .get::<Arc<Pages>>()
            .cloned()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
        let asked = query
            .iter()
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.as_str());
        let (lang, switched) = i18n::choose(&parts.headers, asked);
        let mut set_cookies = Vec::new();
        if switched {
            set_cookies.extend(i18n::cookie(lang));
        }
        let (csrf, csrf_cookie) = csrf::token(&parts.headers, app.config().is_https());
        set_cookies.extend(csrf_cookie);
        let client = ClientInfo::from_request_parts(parts, app)
            .await
            .unwrap_or_default();
        Ok(Self {
            app: app.clone(),
            pages,
            headers: parts.headers.clone(),
            lang,
            csrf,
            client,
            query,
            path: parts.uri.path().to_owned(),
            set_cookies,
        })
    }
}

impl Ui {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn https(&self) -> bool {
        self.app.config().is_https()
    }

    pub fn t(&self, key: &str) -> String {
        self.pages.catalogue.message(self.lang, key)
    }

    /// A message the catalogue may lack (an audit event added since): the
    /// catalogue's text, or `fallback`.
    pub fn t_or(&self, key: &str, fallback: impl FnOnce() -> String) -> String {
        if self.pages.catalogue.has(key) {
            self.t(key)
        } else {
            fallback()
        }
    }

    /// Adds a cookie (if any) to the answer.
    pub fn set_cookie(&mut self, value: impl Into<Option<HeaderValue>>) {
        self.set_cookies.extend(value.into());
    }

    /// Where to send the user after signing in, if `raw` is an acceptable
    /// place (see `safe_return_to`).
    pub fn return_to(&self, raw: &str) -> Option<String> {
        let c = &self.app.config();
        safe_return_to(raw, &c.public_url, &c.ui.return_to_origins)
    }

    /// The acceptable `?return_to=` of this request, if any.
    pub fn return_to_query(&self) -> Option<String> {
        self.query("return_to").and_then(|r| self.return_to(r))
    }

    /// The signed-in user, from the session cookie (pages never take a
    /// bearer token).
    pub async fn principal(&self) -> Option<Principal> {
        let token = cookie::session_token(&self.headers, self.https())?;
        let mut principal = self.app.sessions().authenticate_cookie(&token).await.ok()?;
        principal.client = self.client.clone();
        Some(principal)
    }

    /// Whether the browser holds a session cookie (valid or not).
    pub fn has_session_cookie(&self) -> bool {
        cookie::session_token(&self.headers, self.https()).is_some_and(|c| !c.is_empty())
    }

    /// The 403 page for a form without a valid CSRF token.
    pub fn csrf_refused(self) -> Response {
        let title = self.t("error_csrf_title");
        let text = self.t("error_csrf");
        let link = if self.has_session_cookie() {
            context! { href => "/account", text => self.t("logout_cancel") }
        } else {
            context! { href => "/login", text => self.t("back_to_login") }
        };
        self.page(
            StatusCode::FORBIDDEN,
            "message.html",
            context! { title, error => text, link },
        )
    }

    /// The password rules the configuration enforces, in this language.
    pub fn password_rules(&self) -> Vec<String> {
        let p = &self.app.config().password;
        let mut rules = vec![
            self.t("rule_min_length")
                .replace("{n}", &p.min_length.to_string()),
        ];
        for (on, key) in [
            (p.require_uppercase, "rule_uppercase"),
            (p.require_lowercase, "rule_lowercase"),
            (p.require_digit, "rule_digit"),
            (p.require_symbol, "rule_symbol"),
            (true, "rule_contains_email"),
        ] {
            if on {
                rules.push(self.t(key));
            }
        }
        rules
    }

    fn rule_failures(&self, failures: &[RuleFailure]) -> Vec<String> {
        failures
            .iter()
            .map(|f| {
                let key = format!("rule_{}", f.rule.as_str());
                let text = self.t(&key);
                if text == key {
                    f.message.clone()
                } else {
                    text.replace("{n}", &self.app.config().password.min_length.to_string())
                }
            })
            .collect()
    }

    /// An error as a status, a message and (for a weak password) the rules
    /// that failed. Nothing here tells an unknown account from a wrong
    /// password: the service already gives both the same error.
    pub fn describe(&self, e: &Error) -> (StatusCode, String, Vec<String>) {
        let status = status_for(Surface::Page, e);
        let key = match e {
            Error::InvalidCredentials | Error::Unauthenticated | Error::SessionEnded => {
                "error_credentials"
            }
            Error::EmailNotVerified => "error_not_verified",
            Error::CurrentPasswordWrong => "error_current_password",
            Error::WeakPassword(failures) => {
                return (
                    status,
                    self.t("weak_password"),
                    self.rule_failures(failures),
                );
            }
            Error::TokenInvalid | Error::InvalidRefreshToken | Error::InvalidCode => {
                "error_token_invalid"
            }
            Error::ReauthenticationRequired => "error_credentials",
            Error::SecondFactorRequired => "error_second_factor",
            Error::TokenExpired | Error::RefreshTokenReused => "error_token_expired",
            Error::Invalid { field, .. } if field.contains("email") => "error_email_invalid",
            Error::Invalid { .. } => "error_invalid",
            Error::EmailTaken | Error::UsernameTaken => "error_email_taken",
            Error::NotFound => "error_not_found",
            Error::RateLimited { .. }
            | Error::TooManyAttempts { .. }
            | Error::Overloaded { .. }
            | Error::Unavailable => "error_try_later",
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error on a page");
                "error_internal"
            }
        };
        (status, self.t(key), Vec::new())
    }

    /// A page for an error that leaves nothing else to show.
    pub fn error_page(self, e: &Error) -> Response {
        let (status, error, errors) = self.describe(e);
        let title = self.t("error_title");
        self.page(status, "message.html", context! { title, error, errors })
    }

    /// Renders `template` inside the layout, with the common context.
    pub fn page(self, status: StatusCode, template: &str, extra: Value) -> Response {
        let ui = &self.app.config().ui;
        let languages: Vec<Value> = i18n::LANGUAGES
            .iter()
            .map(|l| {
                context! {
                    code => *l,
                    name => self.pages.catalogue.message(l, "lang_name"),
                    current => *l == self.lang,
                    href => self.switch_href(l),
                }
            })
            .collect();
        let ctx = context! {
            t => self.pages.catalogue.messages(self.lang),
            lang => self.lang,
            languages,
            csrf => self.csrf.clone(),
            product_name => ui.product_name.clone(),
            logo_url => ui.logo_url.clone(),
            themed => !ui.accent_color.is_empty(),
            ..extra
        };
        let rendered = self.pages.render(template, ctx);
        let (status, body) = match rendered {
            Ok(html) => (status, html),
            Err(e) => {
                tracing::error!(template, error = %e, "cannot render a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>Internal error.</p>".to_owned(),
                )
            }
        };
        let mut response = (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response();
        self.finish(&mut response);
        response
    }

    /// This page in another language, keeping `return_to`.
    fn switch_href(&self, lang: &str) -> String {
        let return_to = self.return_to_query();
        let mut query = vec![("lang", lang)];
        if let Some(r) = return_to.as_deref() {
            query.push(("return_to", r));
        }
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        format!("{}?{query}", self.path)
    }

    /// A 303 to `location` (after a form, or to move a token out of the URL).
    pub fn redirect(self, location: &str) -> Response {
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(location) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.finish(&mut response);
        response
    }

    fn finish(self, response: &mut Response) {
        for c in self.set_cookies {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
    }
}
