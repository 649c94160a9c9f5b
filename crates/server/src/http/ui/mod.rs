//! The hosted pages: `/login`, `/signup`, `/verify-email`, `/forgot-password`,
//! `/reset-password`, `/account`, `/logout`. Plain HTML forms rendered on the
//! server from embedded templates; they work without JavaScript and call the
//! same services as the JSON API.

mod csrf;
mod i18n;
mod pages;

use std::sync::OnceLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use latchkey_core::Error;
use latchkey_core::password::RuleFailure;
use minijinja::{Environment, Value, context};

use super::cookie;
use super::extract::AppState;
use crate::service::{ClientInfo, Principal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/signup", get(pages::signup_page).post(pages::signup))
        .route("/verify-email", get(pages::verify_page).post(pages::verify))
        .route(
            "/forgot-password",
            get(pages::forgot_page).post(pages::forgot),
        )
        .route("/reset-password", get(pages::reset_page).post(pages::reset))
        .route("/account", get(pages::account_page))
        .route(
            "/account/password",
            axum::routing::post(pages::change_password),
        )
        .route(
            "/account/email",
            get(pages::to_account).post(pages::change_email),
        )
        .route(
            "/account/sessions/end",
            axum::routing::post(pages::end_session),
        )
        .route(
            "/account/sessions/end-others",
            get(pages::to_account).post(pages::end_other_sessions),
        )
        .route("/logout", get(pages::logout_page).post(pages::logout))
        .route("/assets/theme.css", get(theme))
}

/// The embedded page templates, by file name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "_layout.html",
        include_str!("../../../../../ui/templates/pages/_layout.html"),
    ),
    (
        "_rules.html",
        include_str!("../../../../../ui/templates/pages/_rules.html"),
    ),
    (
        "login.html",
        include_str!("../../../../../ui/templates/pages/login.html"),
    ),
    (
        "signup.html",
        include_str!("../../../../../ui/templates/pages/signup.html"),
    ),
    (
        "verify_email.html",
        include_str!("../../../../../ui/templates/pages/verify_email.html"),
    ),
    (
        "forgot_password.html",
        include_str!("../../../../../ui/templates/pages/forgot_password.html"),
    ),
    (
        "reset_password.html",
        include_str!("../../../../../ui/templates/pages/reset_password.html"),
    ),
    (
        "account.html",
        include_str!("../../../../../ui/templates/pages/account.html"),
    ),
    (
        "logout.html",
        include_str!("../../../../../ui/templates/pages/logout.html"),
    ),
    (
        "message.html",
        include_str!("../../../../../ui/templates/pages/message.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a page template does not parse");
            }
        }
        env
    })
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

/// `/assets/theme.css`: the configured accent colour (a stylesheet, since
/// the CSP allows no inline style).
async fn theme(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let accent = &app.config.ui.accent_color;
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
    pub headers: HeaderMap,
    pub lang: &'static str,
    pub csrf: String,
    pub client: ClientInfo,
    pub query: Vec<(String, String)>,
    path: String,
    set_cookies: Vec<HeaderValue>,
}

impl FromRequestParts<AppState> for Ui {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
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
        let (csrf, csrf_cookie) = csrf::token(&parts.headers, app.config.is_https());
        set_cookies.extend(csrf_cookie);
        let client = ClientInfo::from_request_parts(parts, app)
            .await
            .unwrap_or_default();
        Ok(Self {
            app: app.clone(),
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
        self.app.config.is_https()
    }

    pub fn t(&self, key: &str) -> String {
        i18n::message(self.lang, key)
    }

    /// Adds a cookie to the answer.
    pub fn set_cookie(&mut self, value: HeaderValue) {
        self.set_cookies.push(value);
    }

    /// The signed-in user, from the session cookie (pages never take a
    /// bearer token).
    pub async fn principal(&self) -> Option<Principal> {
        let token = cookie::read(&self.headers, self.https())?;
        let mut principal = self.app.authenticate_cookie(&token).await.ok()?;
        principal.client = self.client.clone();
        Some(principal)
    }

    /// Whether the form's CSRF field matches the cookie.
    pub fn csrf_ok(&self, form: &UiForm) -> bool {
        csrf::verify(&self.headers, self.https(), form.get(csrf::FIELD))
    }

    /// The 403 page for a form without a valid CSRF token.
    pub fn csrf_refused(self) -> Response {
        let title = self.t("error_csrf_title");
        let text = self.t("error_csrf");
        self.page(
            StatusCode::FORBIDDEN,
            "message.html",
            context! { title, error => text },
        )
    }

    /// The password rules the configuration enforces, in this language.
    pub fn password_rules(&self) -> Vec<String> {
        let p = &self.app.config.password;
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
                    text.replace("{n}", &self.app.config.password.min_length.to_string())
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
        let ui = &self.app.config.ui;
        let languages: Vec<Value> = i18n::LANGUAGES
            .iter()
            .map(|l| {
                context! {
                    code => *l,
                    name => i18n::message(l, "lang_name"),
                    current => *l == self.lang,
                    href => self.switch_href(l),
                }
            })
            .collect();
        let ctx = context! {
            t => i18n::messages(self.lang),
            lang => self.lang,
            languages,
            csrf => self.csrf.clone(),
            product_name => ui.product_name.clone(),
            logo_url => ui.logo_url.clone(),
            themed => !ui.accent_color.is_empty(),
            ..extra
        };
        let rendered = environment()
            .get_template(template)
            .and_then(|t| t.render(ctx));
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
        let c = &self.app.config;
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
    use super::safe_return_to;

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
