//! Sign-up, login, refresh and logout.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, problem};

async fn signup_answers_the_same_for_new_and_existing_addresses(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| c.require_verified_email = false).await else {
        return;
    };
    let first = t
        .post(
            "/api/v1/signup",
            json!({"email": "new@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first, json!({"status": "pending_verification"}));
    // Same address, other case, other password: same answer...
    let again = t
        .post(
            "/api/v1/signup",
            json!({"email": "NEW@example.com", "password": "another password"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // ...and the existing account is untouched.
    t.login("new@example.com", PASSWORD).await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "new@example.com", "password": "another password"}),
        )
        .await;
    problem(r, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
}

async fn signup_names_what_is_wrong(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "a@example.com", "password": "short"}),
        )
        .await;
    let body = problem(r, StatusCode::BAD_REQUEST, "weak-password").await;
    assert_eq!(body["errors"][0]["rule"], "min_length");
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await;
    let body = problem(r, StatusCode::BAD_REQUEST, "invalid-request").await;
    assert_eq!(body["field"], "email");
    // Long passwords are fine up to the cap and never truncated.
    let long = "p".repeat(1024);
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "long@example.com", "password": long}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "longer@example.com", "password": "p".repeat(1025)}),
        )
        .await;
    let body = problem(r, StatusCode::BAD_REQUEST, "weak-password").await;
    assert_eq!(body["errors"][0]["rule"], "max_length");
}

async fn a_username_is_unique(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| c.require_verified_email = false).await else {
        return;
    };
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "leo@example.com", "password": PASSWORD, "username": "Leo"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "other@example.com", "password": PASSWORD, "username": "leo"}),
        )
        .await;
    problem(r, StatusCode::CONFLICT, "username-taken").await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"username": "LEO", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn login_returns_tokens_a_user_and_a_safe_cookie(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("ada@example.com").await;
    let (body, cookie) = t.login("Ada@Example.com", PASSWORD).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    assert!(body["session_id"].is_string());
    assert_eq!(body["user"]["email"], "ada@example.com");
    let text = body.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    assert!(cookie.starts_with("latchkey_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http must not set Secure: {cookie}"
    );
    // Each login is a new session with a new cookie (no fixation).
    let (second, cookie2) = t.login("ada@example.com", PASSWORD).await;
    assert_ne!(second["session_id"], body["session_id"]);
    assert_ne!(cookie, cookie2);
}

async fn the_cookie_is_secure_under_https(backend: Backend) {
    let Some(t) =
        TestApp::spawn_with(backend, |c| c.public_url = "https://id.example.com".into()).await
    else {
        return;
    };
    t.user("ada@example.com").await;
    let (_, cookie) = t.login("ada@example.com", PASSWORD).await;
    assert!(cookie.starts_with("__Host-latchkey_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

async fn wrong_password_unknown_and_disabled_accounts_look_the_same(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("real@example.com").await;
    t.user("off@example.com").await;
    let id = t
        .app
        .store()
        .user_by_email("off@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    t.app.store().set_disabled(id, true, t.now()).await.unwrap();
    let mut answers = Vec::new();
    for (email, password) in [
        ("real@example.com", "wrong password"),
        ("nobody@example.com", "wrong password"),
        ("off@example.com", PASSWORD),
        ("real@example.com", ""),
        ("nobody@example.com", ""),
    ] {
        let r = t
            .post(
                "/api/v1/login",
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        answers.push(r.json::<Value>().await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

async fn an_unverified_email_is_told_only_after_the_right_password(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.post(
        "/api/v1/signup",
        json!({"email": "unv@example.com", "password": PASSWORD}),
    )
    .await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "unv@example.com", "password": "wrong one!"}),
        )
        .await;
    problem(r, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "unv@example.com", "password": PASSWORD}),
        )
        .await;
    problem(r, StatusCode::FORBIDDEN, "email-not-verified").await;
}

async fn refresh_rotates_and_a_replayed_token_ends_the_session(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("r@example.com").await;
    let (login, _) = t.login("r@example.com", PASSWORD).await;
    let first = login["refresh_token"].as_str().unwrap();
    let r = t
        .post("/api/v1/token/refresh", json!({"refresh_token": first}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(first, second);
    assert_eq!(rotated["session_id"], login["session_id"]);
    let access = rotated["access_token"].as_str().unwrap();
    assert_eq!(
        t.get_bearer("/api/v1/me", access).await.status(),
        StatusCode::OK
    );
    // Replay of the first token: reuse detected, the whole session ends.
    let r = t
        .post("/api/v1/token/refresh", json!({"refresh_token": first}))
        .await;
    problem(r, StatusCode::UNAUTHORIZED, "refresh-token-reused").await;
    let r = t
        .post("/api/v1/token/refresh", json!({"refresh_token": second}))
        .await;
    problem(r, StatusCode::UNAUTHORIZED, "invalid-refresh-token").await;
    let r = t.get_bearer("/api/v1/me", access).await;
    problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = t
        .post("/api/v1/token/refresh", json!({"refresh_token": "garbage"}))
        .await;
    problem(r, StatusCode::UNAUTHORIZED, "invalid-refresh-token").await;
}

async fn concurrent_refreshes_have_one_winner(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("race@example.com").await;
    let (login, _) = t.login("race@example.com", PASSWORD).await;
    let token = login["refresh_token"].as_str().unwrap().to_owned();
    let calls = (0..12).map(|_| {
        let client = t.client.clone();
        let url = t.url("/api/v1/token/refresh");
        let token = token.clone();
        async move {
            client
                .post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(calls).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED)
    );
}

async fn logout_ends_the_session_and_its_tokens(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("out@example.com").await;
    let (login, _) = t.login("out@example.com", PASSWORD).await;
    let access = login["access_token"].as_str().unwrap();
    let r = t.post_bearer("/api/v1/logout", access, json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    problem(
        t.get_bearer("/api/v1/me", access).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let r = t
        .post(
            "/api/v1/token/refresh",
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = t.client.post(t.url("/api/v1/logout")).send().await.unwrap();
    problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn sessions_expire_when_idle_and_at_the_absolute_limit(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("idle@example.com").await;
    // Idle: 31 minutes without use.
    let (login, _) = t.login("idle@example.com", PASSWORD).await;
    t.clock.advance(31 * 60);
    let r = t
        .post(
            "/api/v1/token/refresh",
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Absolute: refreshing every 20 minutes keeps it alive only up to 12 h.
    let (login, _) = t.login("idle@example.com", PASSWORD).await;
    let mut refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let mut alive_for = 0;
    loop {
        t.clock.advance(20 * 60);
        let r = t
            .post("/api/v1/token/refresh", json!({"refresh_token": refresh}))
            .await;
        if r.status() != StatusCode::OK {
            break;
        }
        alive_for += 20 * 60;
        refresh = r.json::<Value>().await.unwrap()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    assert!(
        (11 * 3600..12 * 3600).contains(&alive_for),
        "alive for {alive_for}s"
    );
}

async fn a_full_hash_pool_answers_503_with_retry_after(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.hash_pool.threads = 1;
        c.hash_pool.queue = 1;
    })
    .await
    else {
        return;
    };
    let calls = (0..16).map(|i| {
        let client = t.client.clone();
        let url = t.url("/api/v1/login");
        async move {
            client
                .post(url)
                .json(&json!({"email": format!("u{i}@example.com"), "password": "whatever-pw"}))
                .send()
                .await
                .unwrap()
        }
    });
    let responses = futures::future::join_all(calls).await;
    let busy: Vec<_> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "some logins must be refused");
    assert!(
        busy.iter()
            .all(|r| r.headers().get("retry-after").unwrap() == "1")
    );
    assert!(
        responses
            .iter()
            .any(|r| r.status() == StatusCode::UNAUTHORIZED)
    );
}

crate::on_both_backends!(
    signup_answers_the_same_for_new_and_existing_addresses,
    signup_names_what_is_wrong,
    a_username_is_unique,
    login_returns_tokens_a_user_and_a_safe_cookie,
    the_cookie_is_secure_under_https,
    wrong_password_unknown_and_disabled_accounts_look_the_same,
    an_unverified_email_is_told_only_after_the_right_password,
    refresh_rotates_and_a_replayed_token_ends_the_session,
    concurrent_refreshes_have_one_winner,
    logout_ends_the_session_and_its_tokens,
    sessions_expire_when_idle_and_at_the_absolute_limit,
    a_full_hash_pool_answers_503_with_retry_after,
);
