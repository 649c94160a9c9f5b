//! Health, readiness, metrics and documentation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp};

const HSTS: &str = "max-age=31536000; includeSubDomains";

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
    // Shared answers are shown with their descriptions and media types.
    assert!(
        html.contains("The body is larger than 64 KiB. <code>application&#x2f;problem+json</code>"),
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

/// Issue 11, item 22: Cohuron (seed 003) reads `/api/v1/health`.
async fn api_health_answers_like_health() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    for path in ["/health", "/api/v1/health"] {
        let r = t.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"status": "healthy"}),
            "{path}"
        );
    }
}

/// Issue 11, item 7: HSTS on every response when the public URL is https,
/// never on http.
async fn hsts_only_when_the_public_url_is_https() {
    let paths = [
        "/health",
        "/api/v1/me",
        "/login",
        "/assets/latchkey.css",
        "/nothing-here",
    ];
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.public_url = "https://id.example.com".into()
    })
    .await
    else {
        return;
    };
    for path in paths {
        let r = t.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some(HSTS),
            "{path}"
        );
    }
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    for path in paths {
        let r = t.client.get(t.url(path)).send().await.unwrap();
        assert!(
            r.headers().get("strict-transport-security").is_none(),
            "{path}"
        );
    }
}

/// Issue 11, item 14: CORS is for the JSON API (and the compatibility
/// routes and the JWKS), never for the hosted pages or their assets.
async fn cors_stays_off_the_hosted_pages() {
    let origin = "https://app.example.com";
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.cors_origins = vec![origin.into()];
        c.compat = vec!["sanctumtools".into(), "leochilds".into()];
    })
    .await
    else {
        return;
    };
    t.user("cors@example.com").await;
    let (_, cookie) = t.login("cors@example.com", PASSWORD).await;
    let pair = cookie.split(';').next().unwrap();
    let allowed = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .is_some_and(|v| v == origin)
    };
    let preflight = |path: &str, method: &str| {
        t.client
            .request(reqwest::Method::OPTIONS, t.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };
    for path in [
        "/account",
        "/login",
        "/signup",
        "/assets/latchkey.css",
        "/docs",
    ] {
        let r = t
            .client
            .get(t.url(path))
            .header("origin", origin)
            .header("cookie", pair)
            .send()
            .await
            .unwrap();
        assert!(!allowed(&r), "{path} must not be readable cross-origin");
        let r = preflight(path, "POST").await.unwrap();
        assert!(!allowed(&r), "no preflight for {path}");
    }
    for path in [
        "/api/v1/me",
        "/api/v1/health",
        "/api/openapi.json",
        "/.well-known/jwks.json",
        "/auth/user",
        "/api/validate-reset-token",
    ] {
        let r = t
            .client
            .get(t.url(path))
            .header("origin", origin)
            .header("cookie", pair)
            .send()
            .await
            .unwrap();
        assert!(allowed(&r), "{path} is for the configured origin");
    }
    for path in ["/api/v1/login", "/api/login", "/auth/login"] {
        let r = preflight(path, "POST").await.unwrap();
        assert!(allowed(&r), "preflight for {path}");
    }
}

/// The schema a `$ref` names, or the object itself.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut at = doc;
            for part in r.trim_start_matches("#/").split('/') {
                at = &at[part];
            }
            at
        }
        None => v,
    }
}

/// Issue 11, item 17: the OpenAPI document says what the server sends:
/// problems as `application/problem+json`, 400/413/415 wherever there is a
/// JSON body, 401 with `WWW-Authenticate` wherever a caller must sign in,
/// 429 where rate limits apply, 503 where the store or the hash pool can
/// refuse; the reset check's `token` in the query; login's "email or
/// username". And a few requests per operation, checked against it.
async fn the_openapi_document_matches_the_server() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let doc: Value = t
        .client
        .get(t.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rate_limited = [
        "/api/v1/signup",
        "/api/v1/login",
        "/api/v1/token/refresh",
        "/api/v1/password/forgot",
        "/api/v1/email/verify/resend",
    ];
    let mut operations = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            operations += 1;
            let at = format!("{} {path}", method.to_uppercase());
            let responses = op["responses"].as_object().unwrap();
            let status = |code: &str| responses.get(code).map(|r| resolve(&doc, r));
            for (code, response) in responses {
                let response = resolve(&doc, response);
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{at} {code} has a description (OpenAPI requires one)"
                );
                let content: Vec<&String> = response
                    .get("content")
                    .and_then(Value::as_object)
                    .map(|c| c.keys().collect())
                    .unwrap_or_default();
                if code.starts_with('4') || (code.starts_with('5') && path != "/ready") {
                    assert_eq!(
                        content,
                        ["application/problem+json"],
                        "{at} {code} is a problem document"
                    );
                    let schema = &response["content"]["application/problem+json"]["schema"];
                    assert_eq!(
                        schema["$ref"], "#/components/schemas/Problem",
                        "{at} {code}"
                    );
                } else {
                    assert!(
                        !content.iter().any(|c| c.contains("problem")),
                        "{at} {code}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                assert!(
                    op["requestBody"]["content"]
                        .get("application/json")
                        .is_some(),
                    "{at}"
                );
                for code in ["400", "413", "415"] {
                    assert!(status(code).is_some(), "{at} lacks {code}");
                }
            }
            if op.get("security").is_some() {
                let unauthenticated = status("401").unwrap_or_else(|| panic!("{at} lacks 401"));
                assert!(
                    unauthenticated["headers"].get("WWW-Authenticate").is_some(),
                    "{at}"
                );
            }
            if rate_limited.contains(&path.as_str()) {
                let limited = status("429").unwrap_or_else(|| panic!("{at} lacks 429"));
                assert!(limited["headers"].get("Retry-After").is_some(), "{at}");
            }
            if path.starts_with("/api/v1/") && path != "/api/v1/health" {
                let unavailable = status("503").unwrap_or_else(|| panic!("{at} lacks 503"));
                assert!(unavailable["headers"].get("Retry-After").is_some(), "{at}");
            }
        }
    }
    assert!(operations >= 20, "{operations} operations");
    let validate = &doc["paths"]["/api/v1/password/reset/validate"]["get"];
    let params = validate["parameters"].as_array().unwrap();
    assert_eq!(params.len(), 1, "{params:?}");
    assert_eq!(params[0]["name"], "token");
    assert_eq!(params[0]["in"], "query");
    assert_eq!(params[0]["required"], true);
    let login = &doc["paths"]["/api/v1/login"]["post"];
    assert!(login["responses"].get("400").is_some());
    let one_of = doc["components"]["schemas"]["LoginRequest"]["oneOf"]
        .as_array()
        .expect("LoginRequest says: email or username");
    let required: Vec<&Value> = one_of.iter().map(|s| &s["required"]).collect();
    assert_eq!(required, [&json!(["email"]), &json!(["username"])]);
    assert!(doc["paths"].get("/api/v1/health").is_some());

    // Every operation, asked badly: what comes back is documented, in the
    // documented media type.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let url = t.url(&path.replace("{id}", "0190a0a0-0000-7000-8000-000000000000"));
        for (method, op) in ops.as_object().unwrap() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let attempts = [
                ("application/json", "[]"),
                ("text/plain", "{}"),
                ("application/json", "{\"unexpected\": true}"),
            ];
            for (content_type, body) in attempts {
                let r = t
                    .client
                    .request(method.clone(), &url)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let code = r.status().as_u16().to_string();
                let at = format!("{method} {path} with {content_type} {body}");
                let documented = op["responses"]
                    .get(&code)
                    .map(|r| resolve(&doc, r))
                    .unwrap_or_else(|| panic!("{at}: {code} is not documented"));
                let sent = r
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
                if let Some(sent) = sent {
                    let content = &documented["content"];
                    assert!(
                        content.get(&sent).is_some(),
                        "{at}: {code} sent as {sent}, documented as {content}"
                    );
                }
            }
        }
    }
}

crate::on_both_backends!(
    cors_allows_exactly_the_configured_origins,
    health_ready_and_docs,
    metrics_count_logins_sessions_and_refreshes,
);

crate::tests![
    multi_thread api_health_answers_like_health,
    multi_thread hsts_only_when_the_public_url_is_https,
    multi_thread cors_stays_off_the_hosted_pages,
    multi_thread the_openapi_document_matches_the_server,
];
