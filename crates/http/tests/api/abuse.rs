//! Rate limits and lockout: exact under concurrency, deaf to spoofed
//! X-Forwarded-For, the same for real and unknown accounts, shared by nodes
//! through Redis.

use std::time::Duration;

use latchkey_http::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, problem};

/// Limits out of the way, so a test sees only what it is about.
fn no_rate_limits(c: &mut Config) {
    let off: latchkey_core::throttle::Limit = "off".parse().unwrap();
    c.rate_limit.login_per_ip = off;
    c.rate_limit.login_per_account = off;
    // Room for every parallel guess: these tests are about counting, not
    // about the hash pool's back-pressure.
    c.hash_pool.queue = 64;
}

async fn wrong(t: &TestApp, email: &str) -> reqwest::Response {
    t.post(
        "/api/v1/login",
        json!({"email": email, "password": "not the password"}),
    )
    .await
}

async fn ten_failures_lock_and_a_lock_looks_the_same_for_unknown_names(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, no_rate_limits).await else {
        return;
    };
    t.user("victim@example.com").await;
    for email in ["victim@example.com", "ghost@example.com"] {
        for _ in 0..10 {
            assert_eq!(wrong(&t, email).await.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let locked_real = t
        .post(
            "/api/v1/login",
            json!({"email": "victim@example.com", "password": PASSWORD}),
        )
        .await;
    let locked_ghost = wrong(&t, "ghost@example.com").await;
    assert_eq!(locked_real.headers().get("retry-after").unwrap(), "900");
    assert_eq!(locked_ghost.headers().get("retry-after").unwrap(), "900");
    let a = problem(
        locked_real,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    let b = problem(
        locked_ghost,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    assert_eq!(a, b);
    // The lock ends; the next lockout lasts twice as long.
    t.advance(900).await;
    t.login("victim@example.com", PASSWORD).await;
    for _ in 0..10 {
        wrong(&t, "victim@example.com").await;
    }
    let r = wrong(&t, "victim@example.com").await;
    assert_eq!(
        r.headers().get("retry-after").unwrap(),
        "900",
        "a success resets the growth"
    );
    // Each lockout that follows lasts twice as long, up to an hour.
    for (wait, next) in [(900, "1800"), (1800, "3600"), (3600, "3600")] {
        t.advance(wait).await;
        for _ in 0..10 {
            assert_eq!(
                wrong(&t, "victim@example.com").await.status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let r = wrong(&t, "victim@example.com").await;
        assert_eq!(r.headers().get("retry-after").unwrap(), next);
    }
}

async fn fifty_parallel_guesses_count_as_fifty(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, no_rate_limits).await else {
        return;
    };
    t.user("target@example.com").await;
    let guesses = (0..50).map(|_| {
        let client = t.client.clone();
        let url = t.url("/api/v1/login");
        async move {
            client
                .post(url)
                .json(&json!({"email": "target@example.com", "password": "guess guess"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 50, "{statuses:?}");
    assert_eq!(
        checked, 10,
        "exactly the threshold reaches a password check: {statuses:?}"
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
        text.contains("latchkey_auth_account_lockouts_total"),
        "{text}"
    );
}

async fn an_operator_or_a_password_reset_lifts_a_lock(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, no_rate_limits).await else {
        return;
    };
    t.user("locked@example.com").await;
    for _ in 0..11 {
        wrong(&t, "locked@example.com").await;
    }
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "locked@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let user = t
        .app
        .store()
        .user_by_email("locked@example.com")
        .await
        .unwrap()
        .unwrap();
    t.app.admin().unlock(&user).await.unwrap();
    t.login("locked@example.com", PASSWORD).await;
    for _ in 0..11 {
        wrong(&t, "locked@example.com").await;
    }
    t.post(
        "/api/v1/password/forgot",
        json!({"email": "locked@example.com"}),
    )
    .await;
    let token = t
        .smtp
        .wait_for("locked@example.com", 1)
        .await
        .remove(0)
        .token();
    let r = t
        .post(
            "/api/v1/password/reset",
            json!({"token": token, "new_password": "fresh start 2026"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    t.login("locked@example.com", "fresh start 2026").await;
}

async fn per_ip_limits_ignore_untrusted_forwarded_for(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.rate_limit.login_per_ip = "5/min".parse().unwrap();
        c.rate_limit.login_per_account = "off".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = t
            .client
            .post(t.url("/api/v1/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": format!("u{i}@example.com"), "password": "whatever-pw"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = r
                .headers()
                .get("retry-after")
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry));
            problem(r, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
        }
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        5,
        "{statuses:?}"
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
        text.contains("latchkey_auth_rate_limited_total{endpoint=\"login\"}"),
        "{text}"
    );
}

async fn a_trusted_proxy_passes_on_the_client_address(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1".into()];
        c.rate_limit.forgot_per_ip = "2/min".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let forgot = |ip: &'static str| {
        t.client
            .post(t.url("/api/v1/password/forgot"))
            .header("x-forwarded-for", format!("{ip}, 127.0.0.1"))
            .json(&json!({"email": format!("{}@example.com", ip.replace('.', "-"))}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            forgot("198.51.100.7").await.unwrap().status(),
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(
        forgot("198.51.100.7").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        forgot("198.51.100.8").await.unwrap().status(),
        StatusCode::ACCEPTED,
        "another client"
    );
}

async fn every_hammered_endpoint_is_limited(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        let two = || "2/min".parse().unwrap();
        c.rate_limit.signup_per_ip = two();
        c.rate_limit.resend_per_ip = two();
        c.rate_limit.refresh_per_ip = two();
        c.rate_limit.forgot_per_account = two();
    })
    .await
    else {
        return;
    };
    type Body = fn(usize) -> Value;
    let cases: [(&str, Body); 4] = [
        (
            "/api/v1/signup",
            |i| json!({"email": format!("s{i}@example.com"), "password": PASSWORD}),
        ),
        (
            "/api/v1/email/verify/resend",
            |i| json!({"email": format!("r{i}@example.com")}),
        ),
        (
            "/api/v1/token/refresh",
            |_| json!({"refresh_token": "x".repeat(43)}),
        ),
        (
            "/api/v1/password/forgot",
            |_| json!({"email": "same@example.com"}),
        ),
    ];
    for (path, body) in cases {
        for i in 0..2 {
            let r = t.post(path, body(i)).await;
            assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        }
        let r = t.post(path, body(9)).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(r.headers().get("retry-after").is_some());
    }
}

async fn two_nodes_share_one_limit_through_redis(backend: Backend) {
    let Some(redis) = latchkey_store::testing::redis_test_url().await else {
        return;
    };
    let Some(a) = TestApp::spawn_with(backend, |c| {
        no_rate_limits(c);
        c.redis_url = redis.clone();
    })
    .await
    else {
        return;
    };
    let b = another_node(&a, |_| {}).await;
    // Unique: every test run shares the one Redis.
    let email = format!("shared-{}@example.com", uuid_like());
    let email = email.as_str();
    a.user(email).await;
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert_eq!(wrong(node, email).await.status(), StatusCode::UNAUTHORIZED);
    }
    // Ten failures spread over two nodes lock the account on both.
    assert_eq!(
        wrong(&a, email).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        wrong(&b, email).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let user = a.app.store().user_by_email(email).await.unwrap().unwrap();
    b.app.admin().unlock(&user).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    a.login(email, PASSWORD).await;
}

/// A second node (or an operator's `latchkey` command) on the same
/// database, with `tweak` applied to the first one's configuration.
async fn another_node(a: &TestApp, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut second = a.app.config().clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        a.dir.path().join("master.key"),
        dir.path().join("master.key"),
    )
    .unwrap();
    second.data_dir = dir.path().to_path_buf();
    second.public_url = String::new();
    tweak(&mut second);
    TestApp::start(second, dir).await
}

async fn login_status(t: &TestApp, field: &str, name: &str, password: &str) -> StatusCode {
    t.post(
        "/api/v1/login",
        json!({ field: name, "password": password }),
    )
    .await
    .status()
}

/// `latchkey user unlock` runs in another process: it records the unlock
/// in the database and clears its own counters, not the server's. A node
/// without Redis must hear of it at the next attempt, also when the unlock
/// falls in the second the lock was set; and a lock set after the unlock,
/// in that same second, must still hold.
async fn an_unlock_by_another_process_reaches_a_node_without_redis(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, no_rate_limits).await else {
        return;
    };
    let email = "elsewhere@example.com";
    t.user(email).await;
    for _ in 0..11 {
        wrong(&t, email).await;
    }
    assert_eq!(
        login_status(&t, "email", email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let operator = another_node(&t, |_| {}).await;
    // The operator's clock reads the second the lock was set in.
    operator.clock.advance(t.now() - operator.now());
    let admin = operator.app.admin();
    let user = admin.find_user(email).await.unwrap();
    admin.unlock(&user).await.unwrap();
    t.login(email, PASSWORD).await;
    for _ in 0..10 {
        assert_eq!(wrong(&t, email).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_status(&t, "email", email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a lock set after the unlock, in the same second, holds"
    );
    admin.unlock(&user).await.unwrap();
    t.login(email, PASSWORD).await;
}

/// One lock per account: a login by its email and one by its username,
/// and the current password asked by a password or an email change, all
/// count against it, and while it holds each of them is refused, even with
/// the right password. Names that name no account are counted one by one.
async fn every_password_check_of_an_account_counts_against_one_lock(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, no_rate_limits).await else {
        return;
    };
    t.app
        .admin()
        .create_user(
            latchkey_core::Email::parse("both@example.com").unwrap(),
            Some(latchkey_core::Username::parse("bothnames").unwrap()),
            PASSWORD,
            true,
        )
        .await
        .unwrap();
    let (login, _) = t.login("both@example.com", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    let change_password = |current: &'static str| {
        t.post_bearer(
            "/api/v1/password/change",
            token,
            json!({"current_password": current, "new_password": "an entirely new passphrase"}),
        )
    };
    let change_email = |current: &'static str| {
        t.post_bearer(
            "/api/v1/email/change",
            token,
            json!({"new_email": "elsewhere@example.com", "current_password": current}),
        )
    };
    for _ in 0..3 {
        assert_eq!(
            login_status(&t, "email", "both@example.com", "not it").await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            login_status(&t, "username", "bothnames", "not it").await,
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..2 {
        assert_eq!(
            change_password("not it").await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(change_email("not it").await.status(), StatusCode::FORBIDDEN);
    }
    // Ten checks in all: locked, whichever way in.
    for field_name in [("email", "both@example.com"), ("username", "bothnames")] {
        let r = t
            .post(
                "/api/v1/login",
                json!({ field_name.0: field_name.1, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.headers().get("retry-after").unwrap(), "900");
        problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-attempts").await;
    }
    problem(
        change_password(PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    problem(
        change_email(PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    // Unknown names, as before, each have their own count.
    for (field, name) in [("email", "nobody@example.com"), ("username", "nobody")] {
        for _ in 0..10 {
            assert_eq!(
                login_status(&t, field, name, "not it").await,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            login_status(&t, field, name, "not it").await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

/// Guessing the current password through a change is guessing a password:
/// after the threshold the answer is 429, not 403, and the right password
/// no longer gets through (nor does a login) until the lock ends.
async fn current_password_guesses_lock_the_account(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, no_rate_limits).await else {
        return;
    };
    let t = &t;
    t.user("guessed@example.com").await;
    let (login, _) = t.login("guessed@example.com", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let change = |token: String, current: &'static str| {
        let body =
            json!({"current_password": current, "new_password": "an entirely new passphrase"});
        async move {
            t.post_bearer("/api/v1/password/change", &token, body)
                .await
                .status()
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(change(token.clone(), "wrong guess").await);
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    assert_eq!(refused, 10, "{statuses:?}");
    assert!(
        statuses[10..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(
        change(token.clone(), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_status(t, "email", "guessed@example.com", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    t.advance(900).await;
    let (login, _) = t.login("guessed@example.com", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    assert_eq!(change(token, PASSWORD).await, StatusCode::NO_CONTENT);
}

/// Behind a trusted proxy, `::ffff:5.5.5.5` is the client `5.5.5.5`, and
/// every address of one IPv6 /64 is one client; the audit trail keeps the
/// full address.
async fn per_ip_limits_see_one_client_per_address_and_per_ipv6_network(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1".into()];
        c.rate_limit.login_per_ip = "2/min".parse().unwrap();
        c.rate_limit.login_per_account = "off".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let t = &t;
    let from = |ip: &'static str| async move {
        t.client
            .post(t.url("/api/v1/login"))
            .header("x-forwarded-for", format!("{ip}, 127.0.0.1"))
            .json(&json!({"email": format!("u{}@example.com", uuid_like()), "password": "whatever-pw"}))
            .send()
            .await
            .unwrap()
            .status()
    };
    let (ok, limited) = (StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(from("5.5.5.5").await, ok);
    assert_eq!(from("5.5.5.5").await, ok);
    assert_eq!(from("::ffff:5.5.5.5").await, limited, "the same client");
    assert_eq!(from("2001:db8:1:2::1").await, ok);
    assert_eq!(from("2001:db8:1:2::2").await, ok);
    assert_eq!(
        from("2001:db8:1:2:ffff:ffff:ffff:ffff").await,
        limited,
        "the same /64"
    );
    assert_eq!(from("2001:db8:1:3::1").await, ok, "another /64");
    let ips: Vec<String> = t
        .app
        .store()
        .audit_events(None, None, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.event.ip)
        .collect();
    for ip in [
        "5.5.5.5",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
    ] {
        assert!(ips.iter().any(|i| i == ip), "{ip} missing from {ips:?}");
    }
    assert!(!ips.iter().any(|i| i.starts_with("::ffff:")), "{ips:?}");
}

/// A TCP forwarder to Redis that a test can stop (Redis is down: open
/// connections drop, new ones are refused) or hang (Redis stops answering:
/// connections stay open and silent), and then bring back.
struct Forwarder {
    target: String,
    port: u16,
    hung: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy)]
enum Outage {
    Stopped,
    Hung,
}

impl Forwarder {
    /// The forwarder, and the Redis URL that goes through it.
    async fn start(redis_url: &str) -> (Self, String) {
        let mut url = reqwest::Url::parse(redis_url).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        let mut forwarder = Self {
            target,
            port,
            hung: tokio::sync::watch::channel(false).0,
            task: None,
        };
        forwarder.serve(listener);
        (forwarder, url.to_string())
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target.clone();
        let hung = self.hung.subscribe();
        self.task = Some(tokio::spawn(async move {
            // Dropped when the task is aborted, which ends every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let mut hung = hung.clone();
                connections.spawn(async move {
                    let hung_now = *hung.borrow_and_update();
                    if hung_now {
                        // Accepted, and never answered.
                        return std::future::pending::<()>().await;
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = async { hung.wait_for(|hung| *hung).await.is_ok() } => {
                            // Open and silent, both ways.
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        }));
    }

    async fn fail(&mut self, outage: Outage) {
        match outage {
            Outage::Stopped => {
                if let Some(task) = self.task.take() {
                    task.abort();
                    let _ = task.await;
                }
            }
            Outage::Hung => {
                self.hung.send_replace(true);
            }
        }
    }

    async fn recover(&mut self, outage: Outage) {
        match outage {
            Outage::Stopped => {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
                    .await
                    .unwrap();
                self.serve(listener);
            }
            Outage::Hung => {
                self.hung.send_replace(false);
            }
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn forgot(t: &TestApp, email: &str) -> StatusCode {
    t.post("/api/v1/password/forgot", json!({ "email": email }))
        .await
        .status()
}

/// A wrong login that must answer quickly: no waiting on Redis.
async fn quick_wrong(t: &TestApp, email: &str) -> StatusCode {
    let started = std::time::Instant::now();
    let status = wrong(t, email).await.status();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "a login took {took:?}");
    status
}

/// While Redis is down (refusing connections, or open and silent) a node
/// counts on its own: limits and lockouts still hold and no login waits on
/// Redis; when it is back, counts are shared again.
async fn limits_hold_while_redis_is_down_and_are_shared_when_it_returns(
    backend: Backend,
    outage: Outage,
) {
    let Some(redis) = latchkey_store::testing::redis_test_url().await else {
        return;
    };
    let (mut forwarder, through) = Forwarder::start(&redis).await;
    let Some(a) = TestApp::spawn_with(backend, |c| {
        no_rate_limits(c);
        // Every test run shares the one Redis: no per-IP counts in it.
        c.rate_limit.forgot_per_ip = "off".parse().unwrap();
        c.redis_url = through;
    })
    .await
    else {
        return;
    };
    let b = another_node(&a, |c| c.redis_url = redis.clone()).await;
    let email = format!("down-{}@example.com", uuid_like());
    a.user(&email).await;
    a.login(&email, PASSWORD).await;
    forwarder.fail(outage).await;
    for _ in 0..10 {
        assert_eq!(quick_wrong(&a, &email).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        quick_wrong(&a, &email).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the lockout holds while Redis is down"
    );
    let other = format!("down-{}@example.com", uuid_like());
    for _ in 0..3 {
        assert_eq!(forgot(&a, &other).await, StatusCode::ACCEPTED);
    }
    assert_eq!(
        forgot(&a, &other).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate limits hold while Redis is down"
    );
    forwarder.recover(outage).await;
    // Back on Redis: three requests on one node use up the other's limit.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let email = format!("back-{}@example.com", uuid_like());
        for _ in 0..3 {
            assert_eq!(forgot(&b, &email).await, StatusCode::ACCEPTED);
        }
        if forgot(&a, &email).await == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node never went back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn limits_hold_while_redis_is_stopped(backend: Backend) {
    limits_hold_while_redis_is_down_and_are_shared_when_it_returns(backend, Outage::Stopped).await;
}

async fn limits_hold_while_redis_hangs(backend: Backend) {
    limits_hold_while_redis_is_down_and_are_shared_when_it_returns(backend, Outage::Hung).await;
}

/// A Redis that does not answer at start-up is no reason to stay down: the
/// node starts on its own counters, and they hold.
async fn a_node_starts_on_its_own_counters_when_redis_does_not_answer(backend: Backend) {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let Some(t) = TestApp::spawn_with(backend, |c| {
        no_rate_limits(c);
        c.redis_url = format!("redis://127.0.0.1:{closed}");
    })
    .await
    else {
        return;
    };
    t.user("alone@example.com").await;
    for _ in 0..10 {
        assert_eq!(
            quick_wrong(&t, "alone@example.com").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        quick_wrong(&t, "alone@example.com").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

crate::on_both_backends!(
    ten_failures_lock_and_a_lock_looks_the_same_for_unknown_names,
    fifty_parallel_guesses_count_as_fifty,
    an_operator_or_a_password_reset_lifts_a_lock,
    per_ip_limits_ignore_untrusted_forwarded_for,
    a_trusted_proxy_passes_on_the_client_address,
    every_hammered_endpoint_is_limited,
    two_nodes_share_one_limit_through_redis,
    an_unlock_by_another_process_reaches_a_node_without_redis,
    every_password_check_of_an_account_counts_against_one_lock,
    current_password_guesses_lock_the_account,
    per_ip_limits_see_one_client_per_address_and_per_ipv6_network,
    limits_hold_while_redis_is_stopped,
    limits_hold_while_redis_hangs,
    a_node_starts_on_its_own_counters_when_redis_does_not_answer,
);

fn uuid_like() -> String {
    format!("{:x}", rand::random::<u64>())
}

/// Login time must not tell an existing account from an unknown one, with a
/// wrong password or an empty one: each costs one argon2 hash. Samples are
/// interleaved so that load on the machine falls on both sides alike.
async fn login_timing_does_not_tell_accounts_apart() {
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, |c| {
        no_rate_limits(c);
        c.lockout.threshold = 100_000;
        c.lockout.hourly_cap = 100_000;
    })
    .await
    else {
        return;
    };
    t.user("exists@example.com").await;
    // Samples are interleaved, so load on the machine slows every case
    // alike; a leak would be a whole hash (tens of ms) against almost
    // nothing, so a margin of 3 ms or 15 % still catches it. A busy moment
    // can still spoil one run: measure once more before failing.
    let first = timing_medians(&t).await;
    if let Err(why) = timings_match(&first) {
        eprintln!("timings differ ({why}); measuring again");
        let second = timing_medians(&t).await;
        if let Err(why) = timings_match(&second) {
            panic!("{why}");
        }
    }
}

/// Medians of interleaved logins: existing and unknown account, each with
/// a wrong and with an empty password.
async fn timing_medians(t: &TestApp) -> Vec<f64> {
    const SAMPLES: usize = 200;
    let cases = [
        ("exists@example.com", "wrong password"),
        ("missing@example.com", "wrong password"),
        ("exists@example.com", ""),
        ("missing@example.com", ""),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(SAMPLES); cases.len()];
    for _ in 0..SAMPLES {
        for (i, (email, password)) in cases.iter().enumerate() {
            let started = std::time::Instant::now();
            let r = t
                .post(
                    "/api/v1/login",
                    json!({"email": email, "password": password}),
                )
                .await;
            times[i].push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let m: Vec<f64> = times.iter_mut().map(median).collect();
    eprintln!(
        "login medians over {SAMPLES} samples: existing {:.2} ms, unknown {:.2} ms; empty password: existing {:.2} ms, unknown {:.2} ms",
        m[0], m[1], m[2], m[3]
    );
    m
}

/// Whether two medians are alike: within 3 ms or 15 % of the larger.
fn alike(a: f64, b: f64) -> bool {
    (a - b).abs() < 3.0_f64.max(0.15 * a.max(b))
}

fn timings_match(m: &[f64]) -> Result<(), String> {
    if !alike(m[0], m[1]) {
        return Err(format!(
            "wrong password: existing {} ms vs unknown {} ms",
            m[0], m[1]
        ));
    }
    if !alike(m[2], m[3]) {
        return Err(format!(
            "empty password: existing {} ms vs unknown {} ms",
            m[2], m[3]
        ));
    }
    // An empty password takes no shortcut: it costs a hash like any other.
    if !alike(m[0], m[2]) {
        return Err(format!("empty {} ms vs non-empty {} ms", m[2], m[0]));
    }
    Ok(())
}

crate::tests![
    multi_thread login_timing_does_not_tell_accounts_apart,
];
