//! The password policy over HTTP: breached passwords, reuse, personal
//! parts, composition rules; each failure named in the problem's `errors`.

use std::io::Write as _;
use std::path::PathBuf;

use latchkey_core::{Email, NewUser};
use latchkey_service::breached::sha1_hex;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, problem};

/// Made by bcrypt (cost 5) from [`BCRYPT_PASSWORD`], as an import keeps it.
const BCRYPT: &str = "$2b$05$fSUO/oLSH1DIYrWopIN59OVc8PWwwZgKQChMAmyedJQAxNdLemoPW";
const BCRYPT_PASSWORD: &str = "correct horse battery staple";

const BREACHED: &[&str] = &["password123", "iloveyou!", "123456", "qwertyuiop"];

/// A small Pwned Passwords file (sorted SHA-1, CR LF) with [`BREACHED`]
/// and some filler.
fn pwned_list(dir: &std::path::Path) -> PathBuf {
    let mut lines: Vec<String> = BREACHED
        .iter()
        .map(|p| p.to_string())
        .chain((0..200).map(|i| format!("filler-{i}")))
        .map(|p| format!("{}:{}", sha1_hex(p.as_bytes()), p.len() * 1000))
        .collect();
    lines.sort();
    let path = dir.join("pwned-passwords-sha1-ordered-by-hash.txt");
    let mut f = std::fs::File::create(&path).unwrap();
    for line in lines {
        write!(f, "{line}\r\n").unwrap();
    }
    path
}

/// The names of the failed rules in a weak-password problem.
async fn weak(r: reqwest::Response) -> Vec<String> {
    let body = problem(r, StatusCode::BAD_REQUEST, "weak-password").await;
    let errors = body["errors"].as_array().unwrap();
    for e in errors {
        assert!(!e["message"].as_str().unwrap().is_empty(), "{body}");
    }
    errors
        .iter()
        .map(|e| e["rule"].as_str().unwrap().to_owned())
        .collect()
}

async fn signup(t: &TestApp, email: &str, password: &str) -> reqwest::Response {
    t.post(
        "/api/v1/signup",
        json!({"email": email, "password": password}),
    )
    .await
}

async fn change(t: &TestApp, token: &str, current: &str, new: &str) -> reqwest::Response {
    t.post_bearer(
        "/api/v1/password/change",
        token,
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

/// Asks for a reset link and returns the token of the new one.
async fn reset_token(t: &TestApp, email: &str) -> String {
    let resets = |t: &TestApp| -> Vec<String> {
        t.smtp
            .to(email)
            .into_iter()
            .filter(|m| m.subject().starts_with("Reset your"))
            .map(|m| m.token())
            .collect()
    };
    let before = resets(t).len();
    let r = t
        .post("/api/v1/password/forgot", json!({"email": email}))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    for _ in 0..300 {
        let got = resets(t);
        if got.len() > before {
            return got[got.len() - 1].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no reset mail for {email}");
}

async fn reset(t: &TestApp, token: &str, new: &str) -> reqwest::Response {
    t.post(
        "/api/v1/password/reset",
        json!({"token": token, "new_password": new}),
    )
    .await
}

async fn breached_passwords_are_refused_with_the_rule_named(backend: Backend) {
    let lists = tempfile::tempdir().unwrap();
    let file = pwned_list(lists.path());
    let Some(t) = TestApp::spawn_with(backend, |c| c.breached.file = Some(file)).await else {
        return;
    };
    let r = signup(&t, "breach@example.com", "password123").await;
    assert_eq!(weak(r).await, ["breached"]);
    // Every failed rule is named at once.
    let r = signup(&t, "breach@example.com", "123456").await;
    assert_eq!(weak(r).await, ["min_length", "breached"]);
    // NFKC: a full-width spelling is the same password.
    let r = signup(&t, "breach@example.com", "ｐａｓｓｗｏｒｄ１２３").await;
    assert_eq!(weak(r).await, ["breached"]);
    let r = signup(&t, "breach@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // The same list guards a change and a reset.
    t.user("known@example.com").await;
    let (session, _) = t.login("known@example.com", PASSWORD).await;
    let token = session["access_token"].as_str().unwrap();
    let r = change(&t, token, PASSWORD, "qwertyuiop").await;
    assert_eq!(weak(r).await, ["breached"]);
    let reset_with = reset_token(&t, "known@example.com").await;
    let r = reset(&t, &reset_with, "iloveyou!").await;
    assert_eq!(weak(r).await, ["breached"]);
    assert_eq!(
        reset(&t, &reset_with, "a fresh unbreached one")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

async fn an_unreachable_range_api_fails_closed_with_503(backend: Backend) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.breached.range_url = format!("http://127.0.0.1:{port}");
        c.breached.timeout_ms = 500;
        c.breached.fail_closed = true;
    })
    .await
    else {
        return;
    };
    let r = signup(&t, "closed@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    // A password refused anyway still gets its 400 and rules.
    let r = signup(&t, "closed@example.com", "short").await;
    assert_eq!(weak(r).await, ["min_length"]);
}

async fn reused_passwords_are_refused_at_change_and_reset(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("reuse@example.com").await;
    let (session, _) = t.login("reuse@example.com", PASSWORD).await;
    let token = session["access_token"].as_str().unwrap();
    // The current password is one of the last five.
    let r = change(&t, token, PASSWORD, PASSWORD).await;
    let body = problem(r, StatusCode::BAD_REQUEST, "weak-password").await;
    assert_eq!(body["errors"][0]["rule"], "reused", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "must not be one of your last 5 passwords"
    );
    // A wrong current password is told first, and says nothing of history.
    let r = change(&t, token, "not my password", PASSWORD).await;
    problem(r, StatusCode::FORBIDDEN, "current-password-wrong").await;
    let second = "second secret password";
    assert_eq!(
        change(&t, token, PASSWORD, second).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = change(&t, token, second, PASSWORD).await;
    assert_eq!(weak(r).await, ["reused"]);
    // At reset, without the current password, the same.
    let link = reset_token(&t, "reuse@example.com").await;
    assert_eq!(weak(reset(&t, &link, PASSWORD).await).await, ["reused"]);
    assert_eq!(weak(reset(&t, &link, second).await).await, ["reused"]);
    // A refused password leaves the link usable.
    let third = "third secret password";
    assert_eq!(
        reset(&t, &link, third).await.status(),
        StatusCode::NO_CONTENT
    );
    t.login("reuse@example.com", third).await;
}

async fn history_keeps_only_the_configured_number(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| c.password.history = 2).await else {
        return;
    };
    t.user("window@example.com").await;
    let (session, _) = t.login("window@example.com", PASSWORD).await;
    let token = session["access_token"].as_str().unwrap();
    let (p1, p2) = ("first new password", "second new password");
    assert_eq!(
        change(&t, token, PASSWORD, p1).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        change(&t, token, p1, p2).await.status(),
        StatusCode::NO_CONTENT
    );
    // The last two (p2 current, p1 before it) are refused; older ones are not.
    let r = change(&t, token, p2, p1).await;
    let body = problem(r, StatusCode::BAD_REQUEST, "weak-password").await;
    assert_eq!(
        body["errors"][0]["message"],
        "must not be one of your last 2 passwords"
    );
    assert_eq!(
        change(&t, token, p2, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn history_off_allows_reuse(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| c.password.history = 0).await else {
        return;
    };
    t.user("nohistory@example.com").await;
    let (session, _) = t.login("nohistory@example.com", PASSWORD).await;
    let token = session["access_token"].as_str().unwrap();
    assert_eq!(
        change(&t, token, PASSWORD, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn an_imported_legacy_hash_counts_as_history(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let email = "imported@example.com";
    t.app
        .store()
        .create_user(
            NewUser {
                email: Some(Email::parse(email).unwrap()),
                username: None,
                password_hash: BCRYPT.into(),
                email_verified: true,
                custom_claims: serde_json::Map::new(),
            },
            t.now(),
        )
        .await
        .unwrap();
    let link = reset_token(&t, email).await;
    let r = reset(&t, &link, BCRYPT_PASSWORD).await;
    assert_eq!(weak(r).await, ["reused"], "the stored bcrypt hash");
    assert_eq!(
        reset(&t, &link, "an argon2 era password").await.status(),
        StatusCode::NO_CONTENT
    );
    let link = reset_token(&t, email).await;
    let r = reset(&t, &link, BCRYPT_PASSWORD).await;
    assert_eq!(weak(r).await, ["reused"], "the bcrypt hash, now in history");
}

async fn the_email_local_part_and_username_are_refused(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| c.compat = vec!["leochilds".into()]).await
    else {
        return;
    };
    let r = signup(&t, "Grace.Hopper@example.com", "i am grace.HOPPER!").await;
    let body = problem(r, StatusCode::BAD_REQUEST, "weak-password").await;
    assert_eq!(body["errors"][0]["rule"], "contains_email", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("must not contain the part of your email address before the @"),
        "{body}"
    );
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "rear@example.com", "username": "Admiral",
                   "password": "admiral of the fleet"}),
        )
        .await;
    assert_eq!(weak(r).await, ["contains_username"]);
    // The username-only sign-up (leochilds.uk) refuses it too, in its shape.
    let r = t
        .post(
            "/auth/signup",
            json!({"username": "commodore", "password": "xCommodore-1983"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("username"),
        "{body}"
    );
    // A local part under three characters is not looked for.
    let r = signup(&t, "al@example.com", "always alert").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // At change, the account's own address counts.
    t.user("ada.lovelace@example.com").await;
    let (session, _) = t.login("ada.lovelace@example.com", PASSWORD).await;
    let token = session["access_token"].as_str().unwrap();
    let r = change(&t, token, PASSWORD, "Ada.Lovelace-1815").await;
    assert_eq!(weak(r).await, ["contains_email"]);
}

async fn composition_rules_apply_when_configured(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.password.require_uppercase = true;
        c.password.require_lowercase = true;
        c.password.require_digit = true;
        c.password.require_symbol = true;
    })
    .await
    else {
        return;
    };
    let r = signup(&t, "cog@example.com", "alllowercase").await;
    assert_eq!(weak(r).await, ["uppercase", "digit", "symbol"]);
    let r = signup(&t, "cog@example.com", "ALL-UPPER-CASE").await;
    assert_eq!(weak(r).await, ["lowercase", "digit"]);
    let r = signup(&t, "cog@example.com", "Sh0rt!").await;
    assert_eq!(weak(r).await, ["min_length"]);
    let r = signup(&t, "cog@example.com", "Complete-Passw0rd").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

async fn composition_rules_are_off_by_default(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let r = signup(&t, "plain@example.com", "alllowercase").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

crate::on_both_backends!(
    breached_passwords_are_refused_with_the_rule_named,
    an_unreachable_range_api_fails_closed_with_503,
    reused_passwords_are_refused_at_change_and_reset,
    history_keeps_only_the_configured_number,
    history_off_allows_reuse,
    an_imported_legacy_hash_counts_as_history,
    the_email_local_part_and_username_are_refused,
    composition_rules_apply_when_configured,
    composition_rules_are_off_by_default,
);
