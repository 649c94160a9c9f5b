//! The signed-in user's own account.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, problem};

async fn me_works_with_a_bearer_token_or_the_cookie(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("me@example.com").await;
    let (login, cookie) = t.login("me@example.com", PASSWORD).await;
    let r = t
        .get_bearer("/api/v1/me", login["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["email"], "me@example.com");
    assert_eq!(me["email_verified"], true);
    assert!(me.get("password_hash").is_none());
    assert!(!me.to_string().contains("$argon2"));
    let pair = cookie.split(';').next().unwrap();
    let r = t
        .client
        .get(t.url("/api/v1/me"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = t.client.get(t.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer");
    problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = t
        .client
        .get(t.url("/api/v1/me"))
        .header(
            "cookie",
            "latchkey_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn a_user_lists_and_ends_their_own_sessions(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("s@example.com").await;
    t.user("other@example.com").await;
    let (phone, _) = t
        .client
        .post(t.url("/api/v1/login"))
        .header("user-agent", "Phone/1.0")
        .json(&json!({"email": "s@example.com", "password": PASSWORD}))
        .send()
        .await
        .map(|r| (r, ()))
        .unwrap();
    let phone: Value = phone.json().await.unwrap();
    let (laptop, _) = t.login("s@example.com", PASSWORD).await;
    let laptop_token = laptop["access_token"].as_str().unwrap();
    let list: Value = t
        .get_bearer("/api/v1/sessions", laptop_token)
        .await
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], laptop["session_id"]);
    let phone_entry = sessions
        .iter()
        .find(|s| s["id"] == phone["session_id"])
        .unwrap();
    assert_eq!(phone_entry["user_agent"], "Phone/1.0");
    assert_eq!(phone_entry["ip"], "127.0.0.1");
    // Another user cannot end it.
    let (other, _) = t.login("other@example.com", PASSWORD).await;
    let path = format!("/api/v1/sessions/{}", phone["session_id"].as_str().unwrap());
    let r = t
        .delete_bearer(&path, other["access_token"].as_str().unwrap())
        .await;
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
    // Its owner can, and the phone's tokens stop working at once.
    assert_eq!(
        t.delete_bearer(&path, laptop_token).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = t
        .get_bearer("/api/v1/me", phone["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = t
        .post(
            "/api/v1/token/refresh",
            json!({"refresh_token": phone["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.delete_bearer(&path, laptop_token).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = t
        .delete_bearer("/api/v1/sessions/not-a-uuid", laptop_token)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn changing_the_password_ends_every_other_session(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("pw@example.com").await;
    let (other, _) = t.login("pw@example.com", PASSWORD).await;
    let (this, _) = t.login("pw@example.com", PASSWORD).await;
    let token = this["access_token"].as_str().unwrap();
    let r = t
        .post_bearer(
            "/api/v1/password/change",
            token,
            json!({"current_password": "nope nope", "new_password": "brand new password"}),
        )
        .await;
    problem(r, StatusCode::FORBIDDEN, "current-password-wrong").await;
    let r = t
        .post_bearer(
            "/api/v1/password/change",
            token,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    problem(r, StatusCode::BAD_REQUEST, "weak-password").await;
    // Nothing changed so far.
    assert_eq!(
        t.get_bearer("/api/v1/me", other["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    let r = t
        .post_bearer(
            "/api/v1/password/change",
            token,
            json!({"current_password": PASSWORD, "new_password": "brand new password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        t.get_bearer("/api/v1/me", token).await.status(),
        StatusCode::OK
    );
    let r = t
        .get_bearer("/api/v1/me", other["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "pw@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    t.login("pw@example.com", "brand new password").await;
}

/// Issue 11, item 15: a cookie-authenticated change refuses what a browser
/// marks as cross-site, or an `Origin` that is neither ours nor a configured
/// CORS origin, even as a "simple" request that needs no preflight
/// (`text/plain`); bearer tokens, which no other site can send, are
/// unaffected.
async fn cookie_changes_refuse_cross_site_requests(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.cors_origins = vec!["https://app.example.com".into()]
    })
    .await
    else {
        return;
    };
    t.user("csrf@example.com").await;
    let (login, cookie) = t.login("csrf@example.com", PASSWORD).await;
    let pair = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = |method: reqwest::Method, path: &str, headers: &[(&str, &str)]| {
        let mut req = t
            .client
            .request(method, t.url(path))
            .header("cookie", pair.clone());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    };
    let me_ok = || async {
        with_cookie(reqwest::Method::GET, "/api/v1/me", &[])
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
    };
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new password"});
    let refused: [&[(&str, &str)]; 5] = [
        &[("origin", "https://evil.example.net")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[
            ("origin", "https://evil.example.net"),
            ("sec-fetch-site", "same-origin"),
        ],
    ];
    for headers in refused {
        let r = with_cookie(reqwest::Method::POST, "/api/v1/logout", headers)
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap();
        problem(r, StatusCode::FORBIDDEN, "cross-site-request").await;
        assert!(me_ok().await, "logout changed nothing: {headers:?}");
        let r = with_cookie(reqwest::Method::POST, "/api/v1/password/change", headers)
            .json(&change)
            .send()
            .await
            .unwrap();
        problem(r, StatusCode::FORBIDDEN, "cross-site-request").await;
        let path = format!("/api/v1/sessions/{}", login["session_id"].as_str().unwrap());
        let r = with_cookie(reqwest::Method::DELETE, &path, headers)
            .send()
            .await
            .unwrap();
        problem(r, StatusCode::FORBIDDEN, "cross-site-request").await;
        assert!(me_ok().await, "{headers:?}");
        // Reading is no change: CORS decides who may read the answer.
        let r = with_cookie(reqwest::Method::GET, "/api/v1/me", headers)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // The password did not change.
    t.login("csrf@example.com", PASSWORD).await;
    // A bearer token is not ambient: a cross-site caller must have been
    // given it, so the browser's headers do not matter.
    let (other, _) = t.login("csrf@example.com", PASSWORD).await;
    let r = t
        .client
        .post(t.url("/api/v1/logout"))
        .bearer_auth(other["access_token"].as_str().unwrap())
        .header("origin", "https://evil.example.net")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Our own origin, a configured CORS origin (whose JSON calls browsers
    // preflight) and a client that sends neither header may change things.
    let own = t.base.clone();
    let allowed: [&[(&str, &str)]; 3] = [
        &[("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
        &[
            ("origin", "https://app.example.com"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[],
    ];
    let mut password = PASSWORD.to_owned();
    for (i, headers) in allowed.into_iter().enumerate() {
        let next = format!("new password number {i}");
        let r = with_cookie(reqwest::Method::POST, "/api/v1/password/change", headers)
            .json(&json!({"current_password": password, "new_password": next}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{headers:?}");
        password = next;
    }
    let r = with_cookie(
        reqwest::Method::POST,
        "/api/v1/logout",
        &[("origin", own.as_str())],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!me_ok().await);
}

crate::on_both_backends!(
    cookie_changes_refuse_cross_site_requests,
    me_works_with_a_bearer_token_or_the_cookie,
    a_user_lists_and_ends_their_own_sessions,
    changing_the_password_ends_every_other_session,
);
