//! Health, readiness, metrics and documentation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp};

async fn health_ready_and_docs(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let r = t.client.get(t.url("/health")).send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "healthy"})
    );
    let r = t.client.get(t.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let api: Value = t
        .client
        .get(t.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(api["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/signup",
        "/api/v1/login",
        "/api/v1/token/refresh",
        "/api/v1/logout",
        "/api/v1/me",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/password/change",
    ] {
        assert!(
            api["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let r = t.client.get(t.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"id="login""#) && html.contains("LoginRequest"),
        "{html}"
    );
    assert!(
        html.contains("refresh_token") && html.contains("string or null"),
        "{html}"
    );
}

async fn metrics_count_logins_sessions_and_refreshes(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("m@example.com").await;
    let (login, _) = t.login("m@example.com", PASSWORD).await;
    t.post(
        "/api/v1/login",
        json!({"email": "m@example.com", "password": "wrong pass"}),
    )
    .await;
    t.post(
        "/api/v1/token/refresh",
        json!({"refresh_token": login["refresh_token"]}),
    )
    .await;
    let text = t
        .client
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "latchkey_login_attempts_total{result=\"success\"}",
        "latchkey_login_attempts_total{result=\"invalid_credentials\"}",
        "latchkey_sessions_created_total",
        "latchkey_token_refresh_total{result=\"success\"}",
        "latchkey_http_requests_total{route=\"/api/v1/login\"",
        "latchkey_http_request_duration_seconds_bucket",
        "latchkey_hash_pool_queue_depth",
    ] {
        assert!(text.contains(needle), "{needle} missing from /metrics");
    }
}

async fn cors_allows_exactly_the_configured_origins(backend: Backend) {
    let preflight = |t: &TestApp, origin: &'static str| {
        t.client
            .request(reqwest::Method::OPTIONS, t.url("/api/v1/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let Some(off) = TestApp::spawn(backend).await else {
        return;
    };
    let r = preflight(&off, "https://app.example.com").await.unwrap();
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "CORS is off by default"
    );
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.cors_origins = vec!["https://app.example.com".into()]
    })
    .await
    else {
        return;
    };
    let r = preflight(&t, "https://app.example.com").await.unwrap();
    assert_eq!(
        r.headers().get("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
    assert_eq!(
        r.headers().get("access-control-allow-credentials").unwrap(),
        "true"
    );
    let r = preflight(&t, "https://evil.example.net").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = t
        .client
        .get(t.url("/health"))
        .header("origin", "https://app.example.com.evil.net")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

crate::on_both_backends!(
    cors_allows_exactly_the_configured_origins,
    health_ready_and_docs,
    metrics_count_logins_sessions_and_refreshes,
);
