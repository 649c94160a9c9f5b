//! Email verification, password reset and email change, with every message
//! read from a real SMTP server.

use std::time::Duration;

use latchkey_store::MailStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, problem};
use crate::smtp::Smtp;

async fn sign_up_verify_by_email_then_log_in(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "Ada@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    problem(r, StatusCode::FORBIDDEN, "email-not-verified").await;
    let mail = t.smtp.wait_for("Ada@Example.com", 1).await.remove(0);
    assert!(
        mail.subject().contains("Confirm your email"),
        "{}",
        mail.subject()
    );
    assert!(mail.from.starts_with("noreply@"), "{}", mail.from);
    let link = mail.link();
    assert!(
        link.starts_with(&format!("{}/verify-email?token=", t.base)),
        "{link}"
    );
    let token = mail.token();
    let r = t
        .post("/api/v1/email/verify", json!({"token": token}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "verified"})
    );
    let (login, _) = t.login("ada@example.com", PASSWORD).await;
    assert_eq!(login["user"]["email_verified"], true);
    // Single use.
    let r = t
        .post("/api/v1/email/verify", json!({"token": token}))
        .await;
    problem(r, StatusCode::GONE, "token-expired").await;
    let r = t
        .post("/api/v1/email/verify", json!({"token": "nonsense"}))
        .await;
    problem(r, StatusCode::BAD_REQUEST, "invalid-token").await;
    // The token is stored only as a hash.
    let stored = t
        .app
        .store()
        .list_mail(Some(MailStatus::Sent), 10)
        .await
        .unwrap();
    assert!(stored.iter().all(|m| m.payload.is_empty()));
}

async fn signing_up_with_a_taken_address_warns_its_owner(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("owner@example.com").await;
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "OWNER@example.com", "password": "a different one"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = t.smtp.wait_for("owner@example.com", 1).await.remove(0);
    assert!(
        mail.subject().contains("tried to sign up"),
        "{}",
        mail.subject()
    );
    assert!(!mail.text().contains("token="), "no link to act on");
    assert!(
        t.smtp.to("OWNER@example.com").is_empty(),
        "mail goes to the stored address"
    );
    t.login("owner@example.com", PASSWORD).await;
}

async fn verification_links_expire_and_can_be_resent(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.post(
        "/api/v1/signup",
        json!({"email": "late@example.com", "password": PASSWORD}),
    )
    .await;
    let first = t.smtp.wait_for("late@example.com", 1).await.remove(0);
    t.advance(24 * 3600).await;
    let r = t
        .post("/api/v1/email/verify", json!({"token": first.token()}))
        .await;
    problem(r, StatusCode::GONE, "token-expired").await;
    for email in ["late@example.com", "nobody@example.com"] {
        let r = t
            .post("/api/v1/email/verify/resend", json!({"email": email}))
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let second = t.smtp.wait_for("late@example.com", 2).await.remove(1);
    let r = t
        .post("/api/v1/email/verify", json!({"token": second.token()}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(t.smtp.to("nobody@example.com").is_empty());
}

async fn forgot_validate_reset_then_old_sessions_are_gone(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("reset@example.com").await;
    let (before, _) = t.login("reset@example.com", PASSWORD).await;
    for email in ["RESET@example.com", "unknown@example.com"] {
        let r = t
            .post("/api/v1/password/forgot", json!({"email": email}))
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"status": "accepted"})
        );
    }
    let mail = t.smtp.wait_for("reset@example.com", 1).await.remove(0);
    let link = mail.link();
    assert!(
        link.starts_with(&format!("{}/reset-password?token=", t.base)),
        "{link}"
    );
    let token = mail.token();
    let r = t
        .client
        .get(t.url(&format!("/api/v1/password/reset/validate?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"valid": true, "email": "reset@example.com"})
    );
    let r = t
        .post(
            "/api/v1/password/reset",
            json!({"token": token, "new_password": "short"}),
        )
        .await;
    problem(r, StatusCode::BAD_REQUEST, "weak-password").await;
    let r = t
        .post(
            "/api/v1/password/reset",
            json!({"token": token, "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Every session and refresh token of the user ended.
    let r = t
        .get_bearer("/api/v1/me", before["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = t
        .post(
            "/api/v1/token/refresh",
            json!({"refresh_token": before["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let notice = t.smtp.wait_for("reset@example.com", 2).await.remove(1);
    assert!(
        notice.subject().contains("password was changed"),
        "{}",
        notice.subject()
    );
    t.login("reset@example.com", "a brand new secret").await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "reset@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The link is spent.
    let r = t
        .post(
            "/api/v1/password/reset",
            json!({"token": token, "new_password": "yet another secret"}),
        )
        .await;
    problem(r, StatusCode::GONE, "token-expired").await;
    let r = t
        .client
        .get(t.url(&format!("/api/v1/password/reset/validate?token={token}")))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::GONE, "token-expired").await;
    let r = t
        .client
        .get(t.url("/api/v1/password/reset/validate?token=bogus"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::BAD_REQUEST, "invalid-token").await;
    let r = t
        .client
        .get(t.url("/api/v1/password/reset/validate?token=a&token=b"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::BAD_REQUEST, "malformed-request").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        t.smtp.to("unknown@example.com").is_empty(),
        "unknown addresses get no mail"
    );
}

async fn reset_links_expire_after_an_hour_and_only_reset_their_account(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("a@example.com").await;
    t.user("b@example.com").await;
    t.post("/api/v1/password/forgot", json!({"email": "a@example.com"}))
        .await;
    let token = t.smtp.wait_for("a@example.com", 1).await.remove(0).token();
    t.advance(3600).await;
    let r = t
        .post(
            "/api/v1/password/reset",
            json!({"token": token, "new_password": "a brand new secret"}),
        )
        .await;
    problem(r, StatusCode::GONE, "token-expired").await;
    t.login("a@example.com", PASSWORD).await;
    t.login("b@example.com", PASSWORD).await;
    // A verification token is not a reset token.
    t.post(
        "/api/v1/signup",
        json!({"email": "c@example.com", "password": PASSWORD}),
    )
    .await;
    let verify = t.smtp.wait_for("c@example.com", 1).await.remove(0).token();
    let r = t
        .post(
            "/api/v1/password/reset",
            json!({"token": verify, "new_password": "a brand new secret"}),
        )
        .await;
    problem(r, StatusCode::BAD_REQUEST, "invalid-token").await;
}

async fn links_ignore_host_and_forwarded_host_headers(backend: Backend) {
    let Some(t) =
        TestApp::spawn_with(backend, |c| c.public_url = "https://id.example.com".into()).await
    else {
        return;
    };
    t.user("victim@example.com").await;
    let r = t
        .client
        .post(t.url("/api/v1/password/forgot"))
        .header("host", "evil.example.net")
        .header("x-forwarded-host", "evil.example.net")
        .header("x-forwarded-proto", "http")
        .json(&json!({"email": "victim@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = t.smtp.wait_for("victim@example.com", 1).await.remove(0);
    assert!(
        mail.link()
            .starts_with("https://id.example.com/reset-password?token="),
        "{}",
        mail.link()
    );
    assert!(!mail.raw.contains("evil"));
}

async fn an_email_given_as_an_array_sends_nothing(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("victim@example.com").await;
    for body in [
        json!({"email": ["victim@example.com", "attacker@example.com"]}),
        json!({"email": {"to": "victim@example.com"}}),
    ] {
        let r = t.post("/api/v1/password/forgot", body).await;
        problem(r, StatusCode::BAD_REQUEST, "malformed-request").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(t.smtp.all().is_empty());
}

async fn changing_the_email_needs_the_new_address_confirmed(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("old@example.com").await;
    t.user("taken@example.com").await;
    let (login, _) = t.login("old@example.com", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    let r = t
        .post_bearer(
            "/api/v1/email/change",
            token,
            json!({"new_email": "new@example.com", "current_password": "wrong one!"}),
        )
        .await;
    problem(r, StatusCode::FORBIDDEN, "current-password-wrong").await;
    let r = t
        .post_bearer(
            "/api/v1/email/change",
            token,
            json!({"new_email": "new@example.com", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let link = t.smtp.wait_for("new@example.com", 1).await.remove(0);
    let notice = t.smtp.wait_for("old@example.com", 1).await.remove(0);
    assert!(notice.text().contains("new@example.com"));
    // Nothing changes until the link is used.
    t.login("old@example.com", PASSWORD).await;
    let r = t
        .post("/api/v1/email/verify", json!({"token": link.token()}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    t.login("new@example.com", PASSWORD).await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "old@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A taken address: same answer, no mail to it.
    let r = t
        .post_bearer(
            "/api/v1/email/change",
            token,
            json!({"new_email": "taken@example.com", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(t.smtp.to("taken@example.com").is_empty());
}

/// Confirming a new address ends every session of the account but the one
/// that asked for the change, refresh tokens too.
async fn a_confirmed_email_change_ends_every_other_session(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("moving@example.com").await;
    let (other, _) = t.login("moving@example.com", PASSWORD).await;
    let (this, _) = t.login("moving@example.com", PASSWORD).await;
    let other_token = other["access_token"].as_str().unwrap();
    let token = this["access_token"].as_str().unwrap();
    let r = t
        .post_bearer(
            "/api/v1/email/change",
            token,
            json!({"new_email": "moved@example.com", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let link = t.smtp.wait_for("moved@example.com", 1).await.remove(0);
    // Asking changes nothing yet.
    assert_eq!(
        t.get_bearer("/api/v1/me", other_token).await.status(),
        StatusCode::OK
    );
    let r = t
        .post("/api/v1/email/verify", json!({"token": link.token()}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    problem(
        t.get_bearer("/api/v1/me", other_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let r = t
        .post(
            "/api/v1/token/refresh",
            json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let me: Value = t
        .get_bearer("/api/v1/me", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "moved@example.com");
    let sessions: Value = t
        .get_bearer("/api/v1/sessions", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions["sessions"].as_array().map(Vec::len),
        Some(1),
        "{sessions}"
    );
}

async fn mail_waits_for_an_smtp_server_that_is_down_at_first(backend: Backend) {
    let smtp = Smtp::reserve();
    let Some(t) = TestApp::spawn_with_smtp(backend, smtp, |_| {}).await else {
        return;
    };
    for i in 0..3 {
        let r = t
            .post(
                "/api/v1/signup",
                json!({"email": format!("w{i}@example.com"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::ACCEPTED,
            "sign-up must not wait on SMTP"
        );
    }
    // Wait for the first failed attempts to be recorded.
    for _ in 0..100 {
        if t.app
            .store()
            .list_mail(None, 10)
            .await
            .unwrap()
            .iter()
            .all(|m| m.attempts >= 1)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pending = t
        .app
        .store()
        .list_mail(Some(MailStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 3);
    assert!(
        pending
            .iter()
            .all(|m| m.attempts == 1 && m.last_error.is_some()),
        "{pending:?}"
    );
    t.smtp.listen();
    t.advance(10).await;
    for i in 0..3 {
        t.smtp.wait_for(&format!("w{i}@example.com"), 1).await;
    }
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
        text.contains("latchkey_mail_retried_total") && text.contains("latchkey_mail_sent_total")
    );
}

async fn mail_that_keeps_failing_goes_dead_and_can_be_requeued(backend: Backend) {
    let smtp = Smtp::start();
    smtp.set_accepting(false);
    let Some(t) = TestApp::spawn_with_smtp(backend, smtp, |c| c.email.max_attempts = 3).await
    else {
        return;
    };
    t.user("dead@example.com").await;
    t.post(
        "/api/v1/password/forgot",
        json!({"email": "dead@example.com"}),
    )
    .await;
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = t
            .app
            .store()
            .list_mail(Some(MailStatus::Dead), 10)
            .await
            .unwrap();
        if !dead.is_empty() {
            break;
        }
        t.advance(5).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "the message should be dead after 3 attempts");
    assert_eq!(dead[0].attempts, 3);
    let error = dead[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("421"), "{error}");
    assert!(t.smtp.all().is_empty());
    t.smtp.set_accepting(true);
    assert!(
        t.app
            .store()
            .requeue_mail(&dead[0].id, t.now())
            .await
            .unwrap()
    );
    t.app.wake_mail_worker();
    let mail = t.smtp.wait_for("dead@example.com", 1).await.remove(0);
    assert!(mail.link().contains("/reset-password?token="));
}

async fn smtp_refusing_during_sign_ups_loses_nothing(backend: Backend) {
    let smtp = Smtp::start();
    smtp.set_accepting(false);
    // Eight sign-ups at once all get a place in the hash pool.
    let Some(t) = TestApp::spawn_with_smtp(backend, smtp, |c| c.hash_pool.queue = 16).await else {
        return;
    };
    let signups = (0..8).map(|i| {
        let client = t.client.clone();
        let url = t.url("/api/v1/signup");
        async move {
            client
                .post(url)
                .json(&json!({"email": format!("s{i}@example.com"), "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(signups).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::ACCEPTED));
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.smtp.set_accepting(true);
    t.advance(30).await;
    for i in 0..8 {
        t.smtp.wait_for(&format!("s{i}@example.com"), 1).await;
    }
    assert_eq!(t.smtp.all().len(), 8, "each message exactly once");
}

crate::on_both_backends!(
    sign_up_verify_by_email_then_log_in,
    signing_up_with_a_taken_address_warns_its_owner,
    verification_links_expire_and_can_be_resent,
    forgot_validate_reset_then_old_sessions_are_gone,
    reset_links_expire_after_an_hour_and_only_reset_their_account,
    links_ignore_host_and_forwarded_host_headers,
    an_email_given_as_an_array_sends_nothing,
    changing_the_email_needs_the_new_address_confirmed,
    a_confirmed_email_change_ends_every_other_session,
    mail_waits_for_an_smtp_server_that_is_down_at_first,
    mail_that_keeps_failing_goes_dead_and_can_be_requeued,
    smtp_refusing_during_sign_ups_loses_nothing,
);
