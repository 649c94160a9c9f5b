//! The hosted pages over plain HTTP (no browser): forms, cookies, CSRF,
//! redirects and the emailed links, with every page checked by string.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp};

/// A browser without JavaScript: a cookie jar, no automatic redirects.
struct Browser<'a> {
    t: &'a TestApp,
    client: reqwest::Client,
    jar: BTreeMap<String, String>,
    accept_language: Option<&'static str>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The hidden CSRF field of the page's first form.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a CSRF field") + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// The text of the page's error box.
    fn error(&self) -> String {
        let start = self
            .body
            .find("class=\"lk-error\"")
            .unwrap_or_else(|| panic!("no error on the page: {}", self.body));
        let end = self.body[start..].find("</div>").unwrap();
        self.body[start..start + end].to_owned()
    }

    fn assert_safe_html(&self) {
        let ct = self.headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/html"), "{ct}");
        let csp = self.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(self.headers["referrer-policy"], "no-referrer");
        assert_eq!(self.headers["cache-control"], "no-store");
        for inline in ["<script", "style=", "onclick", "<style"] {
            assert!(!self.body.contains(inline), "{inline} in {}", self.body);
        }
    }
}

impl<'a> Browser<'a> {
    fn new(t: &'a TestApp) -> Self {
        Self {
            t,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("ui-test-browser")
                .build()
                .unwrap(),
            jar: BTreeMap::new(),
            accept_language: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn cookie(&self, name: &str) -> Option<&String> {
        self.jar.get(name)
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request.header("cookie", self.cookie_header());
        if let Some(lang) = self.accept_language {
            request = request.header("accept-language", lang);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        for c in headers.get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), v.to_owned());
            }
        }
        let body = r.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(self.t.url(path));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let request = self
            .client
            .post(self.t.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// GETs `path`, then posts its form with the page's CSRF token.
    async fn submit(&mut self, path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let csrf = page.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }

    async fn log_in(&mut self, email: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

async fn sign_up_verify_log_in_see_account_and_log_out(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let mut b = Browser::new(&t);
    let page = b.get("/signup").await;
    page.assert_safe_html();
    assert!(page.body.contains("autocomplete=\"new-password\""));
    assert!(page.body.contains("at least 8 characters") || page.body.contains("at least"));
    let csrf = page.csrf();
    // A weak password names the rule it fails.
    let weak = b
        .post(
            "/signup",
            &[
                ("csrf", &csrf),
                ("email", "ada@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.error().contains("at least"), "{}", weak.error());
    let done = b
        .post(
            "/signup",
            &[
                ("csrf", &csrf),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Check your email"));

    // Not yet verified: the right password still does not sign in.
    let early = b.log_in("ada@example.com", PASSWORD).await;
    assert_eq!(early.status, StatusCode::FORBIDDEN);
    assert!(b.cookie("latchkey_session").is_none());

    // The emailed link lands on /verify-email and loses its token at once.
    let mail = t.smtp.wait_for("ada@example.com", 1).await.remove(0);
    let link = mail.link();
    let path = link.strip_prefix(&t.base).unwrap();
    assert!(path.starts_with("/verify-email?token="), "{path}");
    let arrival = b.get(path).await;
    assert_eq!(arrival.status, StatusCode::SEE_OTHER);
    assert_eq!(arrival.location(), "/verify-email");
    let verify = b.get("/verify-email").await;
    verify.assert_safe_html();
    assert!(!verify.body.contains(&mail.token()));
    let csrf = verify.csrf();
    let verified = b.post("/verify-email", &[("csrf", &csrf)]).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert!(verified.body.contains("Email address confirmed"));
    assert!(b.cookie("latchkey_verify").is_none());

    // Log in through the form: a session cookie, then the account page.
    let login = b.log_in("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    assert_eq!(login.location(), "/account");
    let first_cookie = b
        .cookie("latchkey_session")
        .cloned()
        .expect("a session cookie");
    assert!(
        login
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("latchkey_session=")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Lax"))
    );
    // Signed in, /login goes straight on; a login form opened before
    // still works, and gets a new cookie.
    let signed_in = b.get("/login").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), "/account");
    let csrf = b.cookie("latchkey_csrf").cloned().unwrap();
    let again = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_ne!(b.cookie("latchkey_session"), Some(&first_cookie));

    // A second device.
    let mut other = Browser::new(&t);
    assert_eq!(
        other.log_in("ada@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    let account = b.get("/account").await;
    account.assert_safe_html();
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("ada@example.com"));
    assert!(account.body.contains("This device"));
    assert!(account.body.contains("ui-test-browser"));
    assert!(account.body.contains("Sign out everywhere else"));
    assert!(
        account.body.contains(">Signed in</td>"),
        "the events list the logins by name"
    );
    // Three sessions are open (two of this browser, one of the other).
    assert_eq!(account.body.matches("name=\"session\"").count(), 3);

    let csrf = account.csrf();
    let ended = b
        .post("/account/sessions/end-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(ended.location(), "/account?notice=others_ended");
    let account = b.get("/account?notice=others_ended").await;
    assert!(
        account
            .body
            .contains("Every other session has been signed out.")
    );
    assert_eq!(account.body.matches("name=\"session\"").count(), 1);
    let gone = other.get("/account").await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert!(gone.location().starts_with("/login"));

    // Log out: a confirmation page, then a POST.
    let confirm = b.get("/logout").await;
    assert_eq!(confirm.status, StatusCode::OK);
    let csrf = confirm.csrf();
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/login?notice=signed_out");
    assert!(b.cookie("latchkey_session").is_none());
    let after = b.get("/login?notice=signed_out").await;
    assert!(after.body.contains("You have been signed out."));
    let account = b.get("/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER);
    // The old cookie no longer works either.
    b.jar.insert("latchkey_session".into(), first_cookie);
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
}

async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("ada@example.com").await;
    let mut b = Browser::new(&t);
    assert_eq!(
        b.log_in("ada@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let new_password = "a brand new passphrase";
    for form in [
        vec![
            ("current_password", PASSWORD),
            ("new_password", new_password),
        ],
        vec![
            ("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ("current_password", PASSWORD),
            ("new_password", new_password),
        ],
    ] {
        let page = b.post("/account/password", &form).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        page.assert_safe_html();
        assert!(page.body.contains("This form has expired"), "{}", page.body);
    }
    // A cross-site form carries no cookie of ours at all.
    let mut stranger = Browser::new(&t);
    let page = stranger
        .post(
            "/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(stranger.cookie("latchkey_session").is_none());
    let page = b.post("/logout", &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Nothing changed: the old password works, the session is still open.
    t.login("ada@example.com", PASSWORD).await;
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    // A JSON body is no form either.
    let r = t
        .client
        .post(t.url("/account/password"))
        .header("cookie", b.cookie_header())
        .json(&json!({"csrf": "x", "current_password": PASSWORD, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    t.login("ada@example.com", PASSWORD).await;
}

async fn return_to_goes_only_to_configured_origins(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.ui.return_to_origins = vec!["https://app.example.com".into()];
    })
    .await
    else {
        return;
    };
    t.user("ada@example.com").await;
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "https://app.example.com.evil.example/",
        "javascript:alert(1)",
    ] {
        let mut b = Browser::new(&t);
        let page = b
            .get(&format!("/login?return_to={}", urlencode(evil)))
            .await;
        assert!(!page.body.contains("evil"), "{}", page.body);
        let csrf = page.csrf();
        let r = b
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("return_to", evil),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), "/account", "{evil}");
        // Signed in, /login sends the user on at once, still not to evil.
        let again = b
            .get(&format!("/login?return_to={}", urlencode(evil)))
            .await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        assert_eq!(again.location(), "/account");
        let direct = b
            .get(&format!("/login/continue?return_to={}", urlencode(evil)))
            .await;
        assert_eq!(direct.status, StatusCode::SEE_OTHER);
        assert_eq!(direct.location(), "/account");
    }
    for good in [
        "https://app.example.com/welcome?x=1",
        "/account?notice=signed_out",
    ] {
        let mut b = Browser::new(&t);
        let page = b
            .get(&format!("/login?return_to={}", urlencode(good)))
            .await;
        assert!(page.body.contains("name=\"return_to\""));
        let csrf = page.csrf();
        let r = b
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("return_to", good),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        if good.starts_with('/') {
            assert_eq!(r.location(), good);
        } else {
            // Another origin: by a page that moves on by itself, since a
            // browser holds a form's redirects to `form-action 'self'`.
            let continue_at = format!("/login/continue?return_to={}", urlencode(good));
            assert_eq!(r.location(), continue_at);
            let page = b.get(&continue_at).await;
            assert_eq!(page.status, StatusCode::OK);
            page.assert_safe_html();
            assert!(
                page.body.contains("http-equiv=\"refresh\""),
                "{}",
                page.body
            );
            assert!(
                page.body
                    .contains("&#x2f;&#x2f;app.example.com&#x2f;welcome"),
                "{}",
                page.body
            );
        }
        let again = b
            .get(&format!("/login?return_to={}", urlencode(good)))
            .await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        assert_eq!(again.location(), good);
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn wrong_password_and_unknown_account_read_the_same(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("ada@example.com").await;
    let mut b = Browser::new(&t);
    let wrong = b.log_in("ada@example.com", "not the password").await;
    let unknown = b.log_in("nobody@example.com", "not the password").await;
    let garbage = b.log_in("not an address", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(garbage.status, wrong.status);
    assert_eq!(wrong.error(), unknown.error());
    assert_eq!(wrong.error(), garbage.error());
    assert!(
        wrong
            .error()
            .contains("The email address or password is wrong.")
    );
    wrong.assert_safe_html();
    assert!(b.cookie("latchkey_session").is_none());
    // In German too.
    b.accept_language = Some("de-DE,de;q=0.9,en;q=0.5");
    let de = b.log_in("ada@example.com", "nicht das Passwort").await;
    assert!(de.body.contains("<html lang=\"de\">"));
    assert!(
        de.error()
            .contains("E-Mail-Adresse oder Passwort ist falsch.")
    );
    // The switcher wins over Accept-Language and is remembered.
    let switch = b.get("/login?return_to=%2Faccount").await;
    assert!(
        switch.body.contains("?lang=en&amp;return_to=%2Faccount"),
        "{}",
        switch.body
    );
    let en = b.get("/login?lang=en").await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert_eq!(b.cookie("latchkey_lang").map(String::as_str), Some("en"));
    let still = b.get("/signup").await;
    assert!(still.body.contains("Create an account"));
}

async fn the_reset_link_loses_its_token_then_sets_a_new_password(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("ada@example.com").await;
    let (_, api_cookie) = t.login("ada@example.com", PASSWORD).await;
    let mut b = Browser::new(&t);
    let sent = b
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("email", "ada@example.com")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("Check your email"));
    // An unknown address reads the same.
    let unknown = b
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(unknown.body.replace("nobody", "ada"), sent.body);

    let mail = t.smtp.wait_for("ada@example.com", 1).await.remove(0);
    let token = mail.token();
    let path = mail.link().strip_prefix(&t.base).unwrap().to_owned();
    assert!(path.starts_with("/reset-password?token="), "{path}");
    let arrival = b.get(&path).await;
    assert_eq!(arrival.status, StatusCode::SEE_OTHER);
    assert_eq!(arrival.location(), "/reset-password");
    assert_eq!(arrival.headers["referrer-policy"], "no-referrer");
    let cookie = arrival
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("latchkey_reset="))
        .expect("the token moves into a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Max-Age=3600"),
        "{cookie}"
    );

    let form = b.get("/reset-password").await;
    form.assert_safe_html();
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("ada@example.com"));
    assert!(!form.body.contains(&token));
    assert!(form.body.contains("autocomplete=\"new-password\""));
    let csrf = form.csrf();
    let weak = b
        .post(
            "/reset-password",
            &[("csrf", &csrf), ("new_password", "short")],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.error().contains("at least"), "{}", weak.error());
    let new_password = "a brand new passphrase";
    let done = b
        .post(
            "/reset-password",
            &[("csrf", &csrf), ("new_password", new_password)],
        )
        .await;
    // On to the sign-in form, the address filled in, not signed in.
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location(),
        "/login?notice=password_reset&email=ada%40example.com"
    );
    assert!(b.cookie("latchkey_reset").is_none());
    assert!(b.cookie("latchkey_session").is_none());
    let login = b.get(done.location()).await;
    login.assert_safe_html();
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login
            .body
            .contains("Your password has been changed and every session has been signed out"),
        "{}",
        login.body
    );
    assert!(
        login.body.contains("value=\"ada@example.com\""),
        "{}",
        login.body
    );
    let csrf = login.csrf();
    let signed_in = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ada@example.com"),
                ("password", new_password),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/account");
    // Only an address is filled in.
    let odd = Browser::new(&t)
        .get("/login?email=%22%3E%3Cscript%3E")
        .await;
    assert!(!odd.body.contains("<script"), "{}", odd.body);
    // The sessions from before have ended.
    let (name, value) = api_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap();
    let mut before = Browser::new(&t);
    before.jar.insert(name.to_owned(), value.to_owned());
    let r = before.get("/account").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/login"));
    // The link is spent.
    assert_eq!(b.get(&path).await.status, StatusCode::SEE_OTHER);
    let spent = b.get("/reset-password").await;
    assert_eq!(spent.status, StatusCode::GONE);
    assert!(
        spent.body.contains("expired or was already used"),
        "{}",
        spent.body
    );
    // Without any token: a message, no form.
    let mut fresh = Browser::new(&t);
    let none = fresh.get("/reset-password").await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(!none.body.contains("new_password"));
}

async fn the_account_page_changes_the_password_and_shows_errors(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("ada@example.com").await;
    let mut b = Browser::new(&t);
    assert_eq!(
        b.get("/account").await.location(),
        "/login?return_to=%2Faccount"
    );
    b.log_in("ada@example.com", PASSWORD).await;
    let wrong = b
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", "wrong one!"),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.error().contains("The current password is wrong."));
    let ok = b
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location(), "/account?notice=password_changed");
    t.login("ada@example.com", "a brand new passphrase").await;
    let bad_email = b
        .submit(
            "/account",
            "/account/email",
            &[
                ("new_email", "not an address"),
                ("current_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(bad_email.status, StatusCode::BAD_REQUEST);
    assert!(bad_email.error().contains("valid email address"));
    let changed = b
        .submit(
            "/account",
            "/account/email",
            &[
                ("new_email", "new@example.com"),
                ("current_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(changed.location(), "/account?notice=email_change_sent");
    t.smtp.wait_for("new@example.com", 1).await;

    // Sign out another device by its own button.
    let mut phone = Browser::new(&t);
    let r = phone
        .log_in("ada@example.com", "a brand new passphrase")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let account = b.get("/account").await;
    let other: Vec<&str> = account
        .body
        .split("<li class=\"lk-session")
        .skip(1)
        .filter(|item| !item.starts_with(" lk-current") && item.contains("ui-test-browser"))
        .collect();
    assert_eq!(other.len(), 1, "{}", account.body);
    let marker = "name=\"session\" value=\"";
    let start = other[0].find(marker).unwrap() + marker.len();
    let id = other[0][start..].split('"').next().unwrap();
    let csrf = account.csrf();
    let ended = b
        .post("/account/sessions/end", &[("csrf", &csrf), ("session", id)])
        .await;
    assert_eq!(ended.location(), "/account?notice=session_ended");
    assert_eq!(phone.get("/account").await.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    // Someone else's or a made-up session: a message, not a crash.
    let csrf = b.get("/account").await.csrf();
    let missing = b
        .post(
            "/account/sessions/end",
            &[("csrf", &csrf), ("session", "nope")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.error().contains("Not found."));
}

/// A logo on another https origin, and the `return_to` origins, are the
/// only additions to the pages' Content-Security-Policy.
async fn the_page_policy_admits_only_the_configured_origins(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.ui.logo_url = "https://cdn.example.com/acme.svg".into();
        c.ui.return_to_origins = vec!["https://app.example.com".into()];
    })
    .await
    else {
        return;
    };
    let mut b = Browser::new(&t);
    let page = b.get("/login").await;
    page.assert_safe_html();
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("img-src 'self' https://cdn.example.com;"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self' https://app.example.com;"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
}

async fn branding_comes_from_configuration(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.ui.product_name = "Acme ID".into();
        c.ui.accent_color = "#aa3300".into();
        c.ui.logo_url = "/assets/acme.svg".into();
    })
    .await
    else {
        return;
    };
    let mut b = Browser::new(&t);
    let page = b.get("/signup").await;
    page.assert_safe_html();
    assert!(page.body.contains("Acme ID"));
    assert!(page.body.contains("theme.css\">"));
    // (minijinja writes `/` in attributes as `&#x2f;`.)
    assert!(page.body.contains("acme.svg\" alt=\"\""));
    let css = b.get("/assets/theme.css").await;
    assert_eq!(css.headers["content-type"], "text/css");
    assert!(css.body.contains("--accent: #aa3300"));
}

/// The token of one session's forms does not open another session's: each
/// is bound to its own session cookie.
async fn a_csrf_token_from_another_session_is_refused(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("ada@example.com").await;
    t.user("bob@example.com").await;
    let mut a = Browser::new(&t);
    let mut b = Browser::new(&t);
    let mut a2 = Browser::new(&t);
    a.log_in("ada@example.com", PASSWORD).await;
    b.log_in("bob@example.com", PASSWORD).await;
    a2.log_in("ada@example.com", PASSWORD).await;
    let a_token = a.get("/account").await.csrf();
    let b_token = b.get("/account").await.csrf();
    let a2_token = a2.get("/account").await.csrf();
    assert_ne!(a_token, b_token);
    // Same user, other device: still another session, another token.
    assert_ne!(a_token, a2_token);
    // Signed in, the token is not the double-submit cookie's.
    assert_ne!(Some(&a_token), a.cookie("latchkey_csrf"));

    let new_password = "a brand new passphrase";
    for (victim, token) in [(&mut b, &a_token), (&mut a2, &a_token)] {
        let page = victim
            .post(
                "/account/password",
                &[
                    ("csrf", token.as_str()),
                    ("current_password", PASSWORD),
                    ("new_password", new_password),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
        assert!(page.body.contains("This form has expired"));
        let page = victim
            .post("/account/sessions/end-others", &[("csrf", token.as_str())])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        let page = victim.post("/logout", &[("csrf", token.as_str())]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
    }
    // The double-submit token opens no session form either.
    let double = a.cookie("latchkey_csrf").cloned().unwrap();
    let page = a
        .post(
            "/account/password",
            &[
                ("csrf", double.as_str()),
                ("current_password", PASSWORD),
                ("new_password", new_password),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Nothing changed: every password and session is as it was.
    t.login("ada@example.com", PASSWORD).await;
    t.login("bob@example.com", PASSWORD).await;
    for browser in [&mut a, &mut b, &mut a2] {
        assert_eq!(browser.get("/account").await.status, StatusCode::OK);
    }
    // Each session's own token works.
    let own = a
        .post(
            "/account/password",
            &[
                ("csrf", a_token.as_str()),
                ("current_password", PASSWORD),
                ("new_password", new_password),
            ],
        )
        .await;
    assert_eq!(own.status, StatusCode::SEE_OTHER, "{}", own.body);
}

/// An unconfirmed account asks for a new link from the sign-in page, from
/// `/verify-email`, or (when it may sign in) from its account page.
async fn a_new_verification_link_can_be_asked_for(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let mut b = Browser::new(&t);
    let done = b
        .submit(
            "/signup",
            "/signup",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    t.smtp.wait_for("ada@example.com", 1).await;

    // The right password, not yet confirmed: the page offers a new link.
    let early = b.log_in("ada@example.com", PASSWORD).await;
    assert_eq!(early.status, StatusCode::FORBIDDEN);
    assert!(early.body.contains("action=\"/verify-email/resend\""));
    let csrf = early.csrf();
    let sent = b
        .post(
            "/verify-email/resend",
            &[("csrf", &csrf), ("email", "ada@example.com")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(sent.location(), "/verify-email?notice=verification_sent");
    let notice = b.get(sent.location()).await;
    notice.assert_safe_html();
    assert!(
        notice.body.contains("we have sent a new link"),
        "{}",
        notice.body
    );
    let mails = t.smtp.wait_for("ada@example.com", 2).await;
    // An unknown address reads the same, and sends nothing.
    let unknown = b
        .submit(
            "/verify-email",
            "/verify-email/resend",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(unknown.location(), "/verify-email?notice=verification_sent");
    // Without a token, /verify-email is the resend form.
    let page = b.get("/verify-email").await;
    assert!(page.body.contains("autocomplete=\"email\""));
    assert!(page.body.contains("Send a new confirmation link"));
    // Without the CSRF token: refused.
    let forged = b
        .post("/verify-email/resend", &[("email", "ada@example.com")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // The newest link confirms the address.
    let path = mails[1].link().strip_prefix(&t.base).unwrap().to_owned();
    b.get(&path).await;
    let csrf = b.get("/verify-email").await.csrf();
    let verified = b.post("/verify-email", &[("csrf", &csrf)]).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert!(t.smtp.to("nobody@example.com").is_empty());
}

async fn an_unconfirmed_account_asks_for_a_link_from_its_page(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| c.require_verified_email = false).await else {
        return;
    };
    let mut b = Browser::new(&t);
    b.submit(
        "/signup",
        "/signup",
        &[("email", "ada@example.com"), ("password", PASSWORD)],
    )
    .await;
    t.smtp.wait_for("ada@example.com", 1).await;
    assert_eq!(
        b.log_in("ada@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let account = b.get("/account").await;
    assert!(account.body.contains("Email not confirmed"));
    let sent = b
        .submit("/account", "/verify-email/resend", &[("from", "account")])
        .await;
    assert_eq!(sent.location(), "/account?notice=verification_sent");
    t.smtp.wait_for("ada@example.com", 2).await;
}

/// Security events on /account have names, in the page's language.
async fn account_events_are_named_in_the_pages_language(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("ada@example.com").await;
    let mut b = Browser::new(&t);
    b.log_in("ada@example.com", "not the password").await;
    b.log_in("ada@example.com", PASSWORD).await;
    let en = b.get("/account").await;
    for name in [
        ">Signed in</td>",
        ">Sign-in failed</td>",
        "Wrong password",
        "Success",
    ] {
        assert!(en.body.contains(name), "{name}: {}", en.body);
    }
    assert!(!en.body.contains("login_succeeded"));
    let de = b.get("/account?lang=de").await;
    for name in [
        ">Angemeldet</td>",
        ">Anmeldung fehlgeschlagen</td>",
        "Falsches Passwort",
        "Erfolgreich",
    ] {
        assert!(de.body.contains(name), "{name}: {}", de.body);
    }
}

/// Links past their lifetime show the same page as spent ones, and offer
/// a new one.
async fn expired_links_say_so_and_offer_a_new_one(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("ada@example.com").await;
    let mut b = Browser::new(&t);
    b.submit(
        "/forgot-password",
        "/forgot-password",
        &[("email", "ada@example.com")],
    )
    .await;
    let mail = t.smtp.wait_for("ada@example.com", 1).await.remove(0);
    let path = mail.link().strip_prefix(&t.base).unwrap().to_owned();
    t.advance(t.app.config().email.reset_ttl_secs + 1).await;
    b.get(&path).await;
    let expired = b.get("/reset-password").await;
    assert_eq!(expired.status, StatusCode::GONE, "{}", expired.body);
    expired.assert_safe_html();
    assert!(expired.error().contains("has expired"));
    assert!(
        expired.body.contains("href=\"&#x2f;forgot-password\""),
        "{}",
        expired.body
    );

    let mut fresh = Browser::new(&t);
    fresh
        .submit(
            "/signup",
            "/signup",
            &[("email", "bob@example.com"), ("password", PASSWORD)],
        )
        .await;
    let mail = t.smtp.wait_for("bob@example.com", 1).await.remove(0);
    let path = mail.link().strip_prefix(&t.base).unwrap().to_owned();
    t.advance(t.app.config().email.verification_ttl_secs + 1)
        .await;
    fresh.get(&path).await;
    let csrf = fresh.get("/verify-email").await.csrf();
    let expired = fresh.post("/verify-email", &[("csrf", &csrf)]).await;
    assert_eq!(expired.status, StatusCode::GONE, "{}", expired.body);
    assert!(expired.error().contains("has expired"));
    assert!(expired.body.contains("action=\"/verify-email/resend\""));
}

/// A theme directory replaces templates, the stylesheet and messages by
/// file name.
async fn a_theme_directory_overrides_pages_and_stylesheet(backend: Backend) {
    let theme = tempfile::tempdir().unwrap();
    std::fs::write(
        theme.path().join("login.html"),
        "{% extends \"_layout.html\" %}{% block title %}{{ t.login_title }}{% endblock %}\
         {% block content %}<h1 class=\"acme\">{{ t.login_title }}</h1>\
         <form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"csrf\" value=\"{{ csrf }}\"></form>\
         {% endblock %}",
    )
    .unwrap();
    std::fs::write(theme.path().join("latchkey.css"), "body { color: #123456 }").unwrap();
    std::fs::write(
        theme.path().join("messages.json"),
        r#"{"en": {"login_title": "Welcome back to Acme"}}"#,
    )
    .unwrap();
    std::fs::write(
        theme.path().join("acme.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    std::fs::write(theme.path().join("notes.txt"), "not served").unwrap();
    let dir = theme.path().to_owned();
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.ui.theme_dir = Some(dir);
        c.ui.logo_url = "/assets/theme/acme.svg".into();
    })
    .await
    else {
        return;
    };
    let mut b = Browser::new(&t);
    let login = b.get("/login").await;
    login.assert_safe_html();
    assert!(
        login
            .body
            .contains("<h1 class=\"acme\">Welcome back to Acme</h1>"),
        "{}",
        login.body
    );
    // The pages the theme leaves alone are the embedded ones.
    let signup = b.get("/signup").await;
    assert!(signup.body.contains("Create an account"));
    assert!(
        signup
            .body
            .contains("Already have an account? <a href=\"/login\">Welcome back to Acme</a>"),
        "{}",
        signup.body
    );
    let css = b.get("/assets/latchkey.css").await;
    assert_eq!(css.headers["content-type"], "text/css");
    assert_eq!(css.body, "body { color: #123456 }");
    // The theme's images are served beside it, for the logo.
    assert!(signup.body.contains("acme.svg\" alt=\"\""));
    let logo = b.get("/assets/theme/acme.svg").await;
    assert_eq!(logo.status, StatusCode::OK);
    assert_eq!(logo.headers["content-type"], "image/svg+xml");
    assert!(logo.body.starts_with("<svg"));
    for missing in [
        "notes.txt",
        "login.html",
        "latchkey.css",
        "..%2Fsecret.svg",
        "nope.png",
    ] {
        let r = b.get(&format!("/assets/theme/{missing}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
    }
}

fn a_broken_theme_stops_start_up_naming_the_file() {
    use latchkey_http::Config;
    let theme = tempfile::tempdir().unwrap();
    let check = |expect: &str| {
        let mut config = Config::default();
        config.ui.theme_dir = Some(theme.path().to_owned());
        config.validate().unwrap();
        let e = latchkey_http::check(&config).unwrap_err().to_string();
        assert!(e.contains("ui.theme_dir"), "{e}");
        assert!(e.contains(expect), "{e}");
    };
    std::fs::write(theme.path().join("account.html"), "{% for %}").unwrap();
    check("account.html");
    // Parses, but uses what no page has.
    std::fs::write(theme.path().join("account.html"), "{{ nothing.here }}").unwrap();
    check("account.html");
    std::fs::remove_file(theme.path().join("account.html")).unwrap();
    std::fs::write(theme.path().join("signin.html"), "hello").unwrap();
    check("signin.html");
    std::fs::remove_file(theme.path().join("signin.html")).unwrap();
    std::fs::write(
        theme.path().join("messages.json"),
        r#"{"en": {"login_titel": "x"}}"#,
    )
    .unwrap();
    check("login_titel");
    std::fs::remove_file(theme.path().join("messages.json")).unwrap();
    let mut config = Config::default();
    config.ui.theme_dir = Some(theme.path().join("missing"));
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ui.theme_dir")
    );
    // An empty theme (or one with only images) is fine.
    std::fs::write(theme.path().join("logo.svg"), "<svg/>").unwrap();
    let mut config = Config::default();
    config.ui.theme_dir = Some(theme.path().to_owned());
    config.validate().unwrap();
    latchkey_http::check(&config).unwrap();
}

fn ui_configuration_errors_name_their_key() {
    use latchkey_http::Config;
    type Tweak = fn(&mut Config);
    let cases: [(&str, Tweak); 4] = [
        ("ui.accent_color", |c| c.ui.accent_color = "red; }".into()),
        ("ui.logo_url", |c| {
            c.ui.logo_url = "//evil.example/logo.png".into()
        }),
        ("ui.return_to_origins", |c| {
            c.ui.return_to_origins = vec!["https://app.example.com/path".into()]
        }),
        ("ui.product_name", |c| c.ui.product_name = " ".into()),
    ];
    for (key, tweak) in cases {
        let mut config = Config::default();
        tweak(&mut config);
        let e = config.validate().unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    }
    let mut ok = Config::default();
    ok.ui.accent_color = "#abc".into();
    ok.ui.logo_url = "https://cdn.example.com/logo.svg".into();
    ok.ui.return_to_origins = vec!["https://app.example.com".into()];
    ok.validate().unwrap();
}

crate::on_both_backends!(
    sign_up_verify_log_in_see_account_and_log_out,
    a_form_without_its_csrf_token_is_refused_and_changes_nothing,
    return_to_goes_only_to_configured_origins,
    wrong_password_and_unknown_account_read_the_same,
    the_reset_link_loses_its_token_then_sets_a_new_password,
    the_account_page_changes_the_password_and_shows_errors,
    branding_comes_from_configuration,
    the_page_policy_admits_only_the_configured_origins,
    a_csrf_token_from_another_session_is_refused,
    a_new_verification_link_can_be_asked_for,
    an_unconfirmed_account_asks_for_a_link_from_its_page,
    account_events_are_named_in_the_pages_language,
    expired_links_say_so_and_offer_a_new_one,
    a_theme_directory_overrides_pages_and_stylesheet,
);

crate::tests![
    sync a_broken_theme_stops_start_up_naming_the_file,
    sync ui_configuration_errors_name_their_key,
];
