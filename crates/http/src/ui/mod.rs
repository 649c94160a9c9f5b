//! The hosted pages: `/login`, `/signup`, `/verify-email`, `/forgot-password`,
//! `/reset-password`, `/account`, `/logout`. Plain HTML forms rendered on the
//! server from embedded templates; they work without JavaScript and call the
//! same services as the JSON API.

mod csrf;
mod display;
mod i18n;
mod pages;
mod theme;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use latchkey_core::Error;
use latchkey_core::password::RuleFailure;
use minijinja::{Value, context};

use self::csrf::Scope;
pub use self::theme::Pages;
use super::cookie;
use super::extract::AppState;
use latchkey_service::config::{Config, ConfigError, invalid};
use latchkey_service::{ClientInfo, Principal};

/// The pages, from the theme directory if one is configured: every
/// override loads and every page renders, or the error names the file.
pub fn pages(config: &Config) -> Result<Pages, ConfigError> {
    match &config.ui.theme_dir {
        Some(dir) => Pages::load(Some(dir)).map_err(|e| invalid("ui.theme_dir", e)),
        None => Ok(Pages::embedded()),
    }
}

pub fn router(pages: Pages) -> Router<AppState> {
    Router::new()
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/login/continue", get(pages::login_continue))
        .route("/signup", get(pages::signup_page).post(pages::signup))
        .route("/verify-email", get(pages::verify_page).post(pages::verify))
        .route(
            "/forgot-password",
            get(pages::forgot_page).post(pages::forgot),
        )
        .route("/reset-password", get(pages::reset_page).post(pages::reset))
        .route("/account", get(pages::account_page))
        .route("/account/password", post(pages::change_password))
        .route(
            "/account/email",
            get(pages::to_account).post(pages::change_email),
        )
        .route("/account/sessions/end", post(pages::end_session))
        .route(
            "/account/sessions/end-others",
            get(pages::to_account).post(pages::end_other_sessions),
        )
        .route("/verify-email/resend", post(pages::resend))
        .route("/logout", get(pages::logout_page).post(pages::logout))
        .route("/assets/latchkey.css", get(stylesheet))
        .route("/assets/theme.css", get(accent))
        .route("/assets/theme/{name}", get(theme_asset))
        .layer(Extension(Arc::new(pages)))
}

/// The value of one cookie in the request.
pub(crate) fn read_cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.to_owned())
}

/// `/assets/latchkey.css`: the stylesheet, the theme's if it has one (the
/// API reference at `/docs` uses it too).
async fn stylesheet(Extension(pages): Extension<Arc<Pages>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        pages.stylesheet().to_owned(),
    )
        .into_response()
}

/// `/assets/theme/<name>`: an image from the theme directory.
async fn theme_asset(
    Extension(pages): Extension<Arc<Pages>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    match pages.asset(&name) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            asset.bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `/assets/theme.css`: the configured accent colour (a stylesheet, since
/// the CSP allows no inline style).
async fn accent(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let accent = &app.config().ui.accent_color;
    let css = if accent.is_empty() {
        String::new()
    } else {
        // Validated at start-up as #rgb or #rrggbb.
        format!(
            ":root {{ --accent: {accent}; }}\n@media (prefers-color-scheme: dark) {{ :root {{ --accent: {accent}; }} }}\n"
        )
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        css,
    )
        .into_response()
}

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
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
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

    /// Adds a cookie to the answer.
    pub fn set_cookie(&mut self, value: HeaderValue) {
        self.set_cookies.push(value);
    }

    /// The signed-in user, from the session cookie (pages never take a
    /// bearer token).
    pub async fn principal(&self) -> Option<Principal> {
        let token = cookie::read(&self.headers, self.https())?;
        let mut principal = self.app.sessions().authenticate_cookie(&token).await.ok()?;
        principal.client = self.client.clone();
        Some(principal)
    }

    /// Whether the form carries a CSRF token for a form that comes before
    /// signing in (the double-submit cookie's, or the session's).
    pub fn csrf_ok(&self, form: &UiForm) -> bool {
        csrf::verify(
            &self.headers,
            self.https(),
            Scope::PreLogin,
            form.get(csrf::FIELD),
        )
    }

    /// Whether the form carries the CSRF token bound to this browser's
    /// session (for every form that acts on the session).
    pub fn session_csrf_ok(&self, form: &UiForm) -> bool {
        csrf::verify(
            &self.headers,
            self.https(),
            Scope::Session,
            form.get(csrf::FIELD),
        )
    }

    /// Whether the browser holds a session cookie (valid or not).
    pub fn has_session_cookie(&self) -> bool {
        cookie::read(&self.headers, self.https()).is_some_and(|c| !c.is_empty())
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
        let (status, key) = match e {
            Error::InvalidCredentials | Error::Unauthenticated | Error::SessionEnded => {
                (StatusCode::UNAUTHORIZED, "error_credentials")
            }
            Error::EmailNotVerified => (StatusCode::FORBIDDEN, "error_not_verified"),
            Error::CurrentPasswordWrong => (StatusCode::BAD_REQUEST, "error_current_password"),
            Error::WeakPassword(failures) => {
                return (
                    StatusCode::BAD_REQUEST,
                    self.t("weak_password"),
                    self.rule_failures(failures),
                );
            }
            Error::TokenInvalid | Error::InvalidRefreshToken => {
                (StatusCode::BAD_REQUEST, "error_token_invalid")
            }
            Error::TokenExpired | Error::RefreshTokenReused => {
                (StatusCode::GONE, "error_token_expired")
            }
            Error::Invalid { field, .. } if field.contains("email") => {
                (StatusCode::BAD_REQUEST, "error_email_invalid")
            }
            Error::Invalid { .. } => (StatusCode::BAD_REQUEST, "error_invalid"),
            Error::EmailTaken | Error::UsernameTaken => (StatusCode::CONFLICT, "error_email_taken"),
            Error::NotFound => (StatusCode::NOT_FOUND, "error_not_found"),
            Error::RateLimited { .. } | Error::TooManyAttempts { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "error_try_later")
            }
            Error::Overloaded { .. } | Error::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "error_try_later")
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error on a page");
                (StatusCode::INTERNAL_SERVER_ERROR, "error_internal")
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
        let c = &self.app.config();
        let return_to = self
            .query("return_to")
            .and_then(|r| safe_return_to(r, &c.public_url, &c.ui.return_to_origins));
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

/// Where `/login` may send the user afterwards: a path on this server, or a
/// URL on a configured origin (or this server's own). Anything else is
/// refused, so `/login` is no open redirect.
pub fn safe_return_to(raw: &str, public_url: &str, allowed: &[String]) -> Option<String> {
    if raw.is_empty() || raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if raw.starts_with('/') {
        return (!raw.starts_with("//")).then(|| raw.to_owned());
    }
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let own = url::Url::parse(public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    (origin == own || allowed.iter().any(|a| a.trim_end_matches('/') == origin))
        .then(|| url.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::i18n::Catalogue;
    use super::safe_return_to;
    use latchkey_core::audit::AuditKind as K;

    /// Every kind, listed by a match with no catch-all: a new kind does not
    /// compile until it is named here, and then needs its messages.
    fn every_audit_kind() -> Vec<K> {
        let all = vec![
            K::Registration,
            K::EmailVerification,
            K::LoginSucceeded,
            K::LoginFailed,
            K::Logout,
            K::SessionCreated,
            K::SessionEnded,
            K::SessionExpired,
            K::RefreshTokenReuse,
            K::PasswordChanged,
            K::PasswordResetRequested,
            K::PasswordResetCompleted,
            K::EmailChangeRequested,
            K::EmailChanged,
            K::Lockout,
            K::Unlock,
            K::AccountDisabled,
            K::AccountEnabled,
            K::KeysRotated,
        ];
        for k in &all {
            match k {
                K::Registration
                | K::EmailVerification
                | K::LoginSucceeded
                | K::LoginFailed
                | K::Logout
                | K::SessionCreated
                | K::SessionEnded
                | K::SessionExpired
                | K::RefreshTokenReuse
                | K::PasswordChanged
                | K::PasswordResetRequested
                | K::PasswordResetCompleted
                | K::EmailChangeRequested
                | K::EmailChanged
                | K::Lockout
                | K::Unlock
                | K::AccountDisabled
                | K::AccountEnabled
                | K::KeysRotated => {}
            }
        }
        all
    }

    #[test]
    fn every_audit_event_and_result_has_a_name() {
        let c = Catalogue::load(None).unwrap();
        for k in every_audit_kind() {
            let key = format!("event_{}", k.as_str());
            assert!(c.has(&key), "{key}");
            assert_ne!(c.message("de", &key), c.message("en", &key), "{key}");
        }
        // The results the services write (the login failure reasons and
        // the rest).
        for result in [
            "success",
            "wrong_password",
            "unknown_account",
            "password_too_long",
            "disabled",
            "email_not_verified",
            "locked",
            "rate_limited",
            "overloaded",
            "error",
            "email_taken",
            "session_ended",
        ] {
            assert!(c.has(&format!("result_{result}")), "{result}");
        }
    }

    #[test]
    fn return_to_is_a_local_path_or_a_configured_origin() {
        let allowed = vec!["https://app.example.com".to_owned()];
        let ok = |raw: &str| safe_return_to(raw, "https://id.example.com", &allowed);
        assert_eq!(ok("/account").as_deref(), Some("/account"));
        assert_eq!(
            ok("https://app.example.com/x?y=1").as_deref(),
            Some("https://app.example.com/x?y=1")
        );
        assert!(ok("https://id.example.com/account").is_some());
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "https://app.example.com.evil.example/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "https://user@app.example.com/",
            "account",
            "",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }
}
