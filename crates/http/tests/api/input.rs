//! Bad input gets a clear problem and changes nothing; no input gives a 500.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, problem};

async fn malformed_bodies_are_refused_with_problems(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let raw = |body: &'static str, ctype: Option<&'static str>| {
        let mut req = t.client.post(t.url("/api/v1/signup")).body(body);
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        req.send()
    };
    let json_ct = Some("application/json");
    for body in [
        "{",
        "null",
        "[]",
        "\"text\"",
        r#"{"email": ["a@example.com", "b@example.com"], "password": "correct horse battery"}"#,
        r#"{"email": {"address": "a@example.com"}, "password": "correct horse battery"}"#,
        r#"{"email": 12, "password": "correct horse battery"}"#,
        r#"{"email": "a@example.com", "email": "b@example.com", "password": "correct horse battery"}"#,
        r#"{"email": "a@example.com", "password": "correct horse battery", "admin": true}"#,
        r#"{"email": "a@example.com"}"#,
    ] {
        let r = raw(body, json_ct).await.unwrap();
        problem(r, StatusCode::BAD_REQUEST, "malformed-request").await;
    }
    for ctype in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let body = r#"{"email": "a@example.com", "password": "correct horse battery"}"#;
        let r = raw(body, ctype).await.unwrap();
        problem(
            r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        )
        .await;
    }
    let huge = format!(
        r#"{{"email": "a@example.com", "password": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let r = t
        .client
        .post(t.url("/api/v1/signup"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    // None of that created an account.
    assert!(t.app.store().list_users(None, 10).await.unwrap().is_empty());
}

async fn login_refuses_arrays_and_ambiguous_identifiers(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("victim@example.com").await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": ["victim@example.com", "attacker@example.com"], "password": PASSWORD}),
        )
        .await;
    problem(r, StatusCode::BAD_REQUEST, "malformed-request").await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "victim@example.com", "username": "victim", "password": PASSWORD}),
        )
        .await;
    problem(r, StatusCode::BAD_REQUEST, "invalid-request").await;
    let r = t.post("/api/v1/login", json!({"password": PASSWORD})).await;
    problem(r, StatusCode::BAD_REQUEST, "invalid-request").await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "victim@example.com", "password": "x".repeat(5000)}),
        )
        .await;
    problem(r, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
}

async fn unknown_routes_and_methods_are_problems_too(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let r = t
        .client
        .get(t.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
    let r = t.client.get(t.url("/api/v1/login")).send().await.unwrap();
    problem(r, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    let r = t
        .client
        .delete(t.url("/api/v1/sessions/{id}"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = t
        .client
        .get(t.url("/api/v1/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn emails_match_by_case_and_normalisation_but_not_by_lookalikes(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("imran@example.com").await;
    for same in [
        "IMRAN@EXAMPLE.COM",
        "  imran@example.com ",
        "ｉｍｒａｎ@example.com",
    ] {
        let r = t
            .post(
                "/api/v1/login",
                json!({"email": same, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{same}");
    }
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "ımran@example.com", "password": PASSWORD}),
        )
        .await;
    problem(r, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    // The dotless address is a separate account that can be created.
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "ımran@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(t.app.store().list_users(None, 10).await.unwrap().len(), 2);
}

/// Addresses that would look like an existing one are refused (invisible
/// characters, an address literal, a label IDNA does not allow) or are the
/// existing one (an ideographic full stop is a dot).
async fn invisible_characters_do_not_make_a_lookalike_account(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("kate.victim@example.com").await;
    for bad in [
        "kate.victim\u{200b}@example.com",
        "kate.victim@ex\u{ad}ample.com",
        "\u{202e}kate.victim@example.com",
        "kate.victim\u{2060}@example.com",
        "kate.victim@[127.0.0.1]",
        "kate.victim@ex_ample.com",
    ] {
        let r = t
            .post(
                "/api/v1/signup",
                json!({"email": bad, "password": PASSWORD}),
            )
            .await;
        let body = problem(r, StatusCode::BAD_REQUEST, "invalid-request").await;
        assert_eq!(body["field"], "email", "{bad:?}: {body}");
    }
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "kate.victim@example\u{3002}com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // The owner hears of the attempt at the address as stored.
    let warned = t.smtp.wait_for("kate.victim@example.com", 1).await;
    assert_eq!(warned.len(), 1);
    t.login("kate.victim@example\u{3002}com", PASSWORD).await;
    assert_eq!(t.app.store().list_users(None, 10).await.unwrap().len(), 1);
}

/// Issue 11, item 8: serde's derives take a JSON array for a struct, field
/// by field in order; every JSON body must be an object, on `/api/v1` and
/// on the compatibility routes, and anything else changes nothing.
async fn json_that_is_not_an_object_is_refused_and_changes_nothing(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.compat = vec!["sanctumtools".into(), "leochilds".into()]
    })
    .await
    else {
        return;
    };
    t.user("victim@example.com").await;
    let (login, _) = t.login("victim@example.com", PASSWORD).await;
    let access = login["access_token"].as_str().unwrap();
    let refresh = login["refresh_token"].as_str().unwrap();
    let send = |path: &'static str, body: String| {
        t.client
            .post(t.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (path, body) in [
        (
            "/api/v1/signup",
            r#"["arr@example.com","zebra pass phrase"]"#.to_owned(),
        ),
        (
            "/api/v1/signup",
            " \n\t[\"arr@example.com\",\"zebra pass phrase\",null]".to_owned(),
        ),
        (
            "/api/v1/login",
            format!(r#"["victim@example.com",null,"{PASSWORD}"]"#),
        ),
        ("/api/v1/email/verify", r#"["not-a-token"]"#.to_owned()),
        ("/api/v1/token/refresh", format!(r#"["{refresh}"]"#)),
        (
            "/api/v1/password/forgot",
            r#"["victim@example.com"]"#.to_owned(),
        ),
    ] {
        let r = send(path, body.clone()).await.unwrap();
        problem(r, StatusCode::BAD_REQUEST, "malformed-request").await;
    }
    // The seeds' routes answer in their own shapes, with the same refusal.
    let r = send(
        "/api/login",
        format!(r#"["victim@example.com","{PASSWORD}"]"#),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"success": false, "message": "Invalid request"})
    );
    let r = send("/auth/signup", r#"["arrleo","zebra pass phrase"]"#.into())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"error": "Invalid request"})
    );
    // Nothing changed: no account, no new session, the refresh token unspent.
    assert_eq!(t.app.store().list_users(None, 10).await.unwrap().len(), 1);
    let sessions: serde_json::Value = t
        .get_bearer("/api/v1/sessions", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    let r = t
        .post("/api/v1/token/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

crate::on_both_backends!(
    json_that_is_not_an_object_is_refused_and_changes_nothing,
    malformed_bodies_are_refused_with_problems,
    login_refuses_arrays_and_ambiguous_identifiers,
    unknown_routes_and_methods_are_problems_too,
    emails_match_by_case_and_normalisation_but_not_by_lookalikes,
    invisible_characters_do_not_make_a_lookalike_account,
);
