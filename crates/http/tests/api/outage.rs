//! A Postgres outage, seen through a TCP forwarder the test can cut: the
//! node answers `503` quickly (never `500`, never a hang) and recovers by
//! itself when Postgres is back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, PASSWORD, TestApp, config_for};
use crate::smtp::Smtp;

/// Forwards a local port to Postgres until stopped; stopping drops every
/// connection at once, as a crashed or restarting server would.
struct Forwarder {
    addr: SocketAddr,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Forwarder {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let forwarder = Self {
            addr,
            target,
            tasks: Arc::default(),
        };
        forwarder.serve(listener);
        forwarder
    }

    fn serve(&self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let target = self.target.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Postgres goes away: the port refuses and open connections drop.
    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Postgres is back on the same port.
    async fn restart(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

async fn timed(t: &TestApp, path: &str, body: serde_json::Value) -> (StatusCode, Duration, bool) {
    let started = Instant::now();
    let r = t.post(path, body).await;
    let retry_after = r.headers().contains_key("retry-after");
    (r.status(), started.elapsed(), retry_after)
}

async fn ready(t: &TestApp) -> (StatusCode, Duration) {
    let started = Instant::now();
    let r = t.client.get(t.url("/ready")).send().await.unwrap();
    (r.status(), started.elapsed())
}

async fn postgres_outage_answers_503_quickly_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut config) = config_for(Backend::Postgres, dir.path()).await else {
        return;
    };
    let mut url = url::Url::parse(&config.database_url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let forwarder = Forwarder::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(forwarder.addr.port())).unwrap();
    config.database_url = url.to_string();
    let t = TestApp::start(config, dir).await;
    t.user("up@example.com").await;
    let login = json!({"email": "up@example.com", "password": PASSWORD});
    assert_eq!(
        t.post("/api/v1/login", login.clone()).await.status(),
        StatusCode::OK
    );

    forwarder.stop();
    let (status, took) = ready(&t).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(1500), "/ready took {took:?}");
    for (path, body) in [
        ("/api/v1/login", login.clone()),
        (
            "/api/v1/signup",
            json!({"email": "down@example.com", "password": "a long enough passphrase"}),
        ),
    ] {
        let (status, took, retry_after) = timed(&t, path, body).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(retry_after, "{path}: 503 without Retry-After");
        assert!(took < Duration::from_secs(3), "{path} took {took:?}");
    }

    forwarder.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while ready(&t).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "/ready did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        t.post("/api/v1/login", login).await.status(),
        StatusCode::OK
    );
}

/// The SMTP server accepts a message while Postgres is unreachable, so its
/// "sent" mark cannot be written at once. The worker keeps trying while
/// its lease lasts; once Postgres is back the mark is made, and the
/// message is not sent again when the lease would have run out.
async fn a_send_recorded_during_an_outage_is_not_sent_again() {
    let base = latchkey_store::testing::postgres_test_url();
    let url = url::Url::parse(&base).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let forwarder = Forwarder::start(target).await;
    let port = forwarder.addr.port();
    let smtp = Smtp::start();
    smtp.hold();
    let Some(t) = TestApp::spawn_with_smtp(Backend::Postgres, smtp, |c| {
        let mut url = url::Url::parse(&c.database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        c.database_url = url.to_string();
    })
    .await
    else {
        return;
    };
    let email = "once@example.com";
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": email, "password": "a long enough passphrase"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    t.smtp.wait_held().await;
    forwarder.stop();
    t.smtp.release();
    t.smtp.wait_for(email, 1).await;
    // The mark fails while Postgres is away (each try waits for a
    // connection up to 2 s); then Postgres comes back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    forwarder.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&t).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "/ready did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the worker's next try record the send (pauses grow to 5 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Past the lease: an unrecorded message would be claimed and sent again.
    t.advance(600).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(t.smtp.to(email).len(), 1, "sent more than once");
}

crate::tests![
    multi_thread postgres_outage_answers_503_quickly_and_recovers,
    multi_thread a_send_recorded_during_an_outage_is_not_sent_again,
];
