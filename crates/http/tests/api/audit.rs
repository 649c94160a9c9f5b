//! The audit trail: every security event, with who, where and which request,
//! hash-chained, and each user's own events readable by them.

use latchkey_core::audit::ChainCheck;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp};

async fn chain_is_intact(t: &TestApp) -> u64 {
    let (first, prev, head) = t.app.store().audit_bounds().await.unwrap();
    let mut check = ChainCheck::start(first, prev);
    for row in t
        .app
        .store()
        .audit_events(None, None, 0, 10_000)
        .await
        .unwrap()
    {
        check.next(&row).unwrap();
    }
    check.finish(head).unwrap();
    check.checked
}

async fn security_events_are_recorded_and_users_read_their_own(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("audited@example.com").await;
    t.user("other@example.com").await;
    t.post(
        "/api/v1/login",
        json!({"email": "audited@example.com", "password": "wrong password"}),
    )
    .await;
    t.post(
        "/api/v1/login",
        json!({"email": "ghost@example.com", "password": "wrong password"}),
    )
    .await;
    let r = t
        .client
        .post(t.url("/api/v1/login"))
        .header("user-agent", "AuditTest/1.0")
        .json(&json!({"email": "audited@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let request_id = r
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let login: Value = r.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap();
    let r = t
        .post_bearer(
            "/api/v1/password/change",
            token,
            json!({"current_password": PASSWORD, "new_password": "a changed secret"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    t.post(
        "/api/v1/token/refresh",
        json!({"refresh_token": login["refresh_token"]}),
    )
    .await;
    t.post(
        "/api/v1/token/refresh",
        json!({"refresh_token": login["refresh_token"]}),
    )
    .await;
    let (other, _) = t.login("other@example.com", PASSWORD).await;

    let mine: Value = t
        .get_bearer("/api/v1/me/events", other["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = mine["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["session_created", "login_succeeded"],
        "only their own events, newest first"
    );
    assert_eq!(mine["events"][0]["ip"], "127.0.0.1");

    let all = t
        .app
        .store()
        .audit_events(None, None, 0, 100)
        .await
        .unwrap();
    let find = |kind: &str, result: &str| {
        all.iter()
            .find(|r| r.event.kind == kind && r.event.result == result)
            .unwrap_or_else(|| panic!("no {kind}/{result} in {all:#?}"))
    };
    let audited = t
        .app
        .store()
        .user_by_email("audited@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        find("login_failed", "wrong_password").event.user_id,
        Some(audited)
    );
    assert_eq!(find("login_failed", "unknown_account").event.user_id, None);
    let ok = find("login_succeeded", "success");
    assert_eq!(ok.event.request_id.as_deref(), Some(request_id.as_str()));
    assert_eq!(ok.event.user_agent.as_deref(), Some("AuditTest/1.0"));
    find("password_changed", "success");
    assert_eq!(
        find("refresh_token_reuse", "session_ended").event.user_id,
        Some(audited)
    );
    assert!(all.iter().all(|r| !r.event.detail.contains(PASSWORD)));
    assert!(chain_is_intact(&t).await >= 8);
    let r = t
        .client
        .get(t.url("/api/v1/me/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn email_and_lockout_events_are_recorded(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.post(
        "/api/v1/signup",
        json!({"email": "new@example.com", "password": PASSWORD}),
    )
    .await;
    let token = t
        .smtp
        .wait_for("new@example.com", 1)
        .await
        .remove(0)
        .token();
    t.post("/api/v1/email/verify", json!({"token": token}))
        .await;
    t.post(
        "/api/v1/password/forgot",
        json!({"email": "new@example.com"}),
    )
    .await;
    let token = t
        .smtp
        .wait_for("new@example.com", 2)
        .await
        .remove(1)
        .token();
    t.post(
        "/api/v1/password/reset",
        json!({"token": token, "new_password": "reset to this one"}),
    )
    .await;
    for _ in 0..11 {
        t.post(
            "/api/v1/login",
            json!({"email": "new@example.com", "password": "wrong password"}),
        )
        .await;
    }
    let kinds: Vec<String> = t
        .app
        .store()
        .audit_events(None, None, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| format!("{}/{}", r.event.kind, r.event.result))
        .collect();
    for expected in [
        "registration/success",
        "email_verification/success",
        "password_reset_requested/success",
        "password_reset_completed/success",
        "unlock/success",
        "lockout/locked",
        "login_failed/locked",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} missing from {kinds:?}"
        );
    }
    chain_is_intact(&t).await;
}

async fn expired_sessions_are_recorded(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("idle@example.com").await;
    let (login, _) = t.login("idle@example.com", PASSWORD).await;
    t.advance(31 * 60).await;
    let r = t
        .post(
            "/api/v1/token/refresh",
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let events = t
        .app
        .store()
        .audit_events(None, None, 0, 100)
        .await
        .unwrap();
    let expired = events
        .iter()
        .find(|r| r.event.kind == "session_expired")
        .expect("session_expired recorded");
    assert!(
        expired
            .event
            .detail
            .contains(login["session_id"].as_str().unwrap())
    );
    let text = t
        .client
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("latchkey_auth_session_expired_total"),
        "{text}"
    );
}

crate::on_both_backends!(
    expired_sessions_are_recorded,
    security_events_are_recorded_and_users_read_their_own,
    email_and_lockout_events_are_recorded,
);
