//! A real Latchkey on port 0 with a fresh database, and typed helpers to talk to it.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::clock::ManualClock;
use latchkey_core::{Clock, Email};
use latchkey_http::{App, Config};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::smtp::Smtp;

pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub smtp: Smtp,
    pub base: String,
    pub client: reqwest::Client,
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A config for a test server; `tweak` adjusts it before start.
pub async fn config_for(backend: Backend, dir: &std::path::Path) -> Option<Config> {
    let database_url = match backend {
        Backend::Sqlite => latchkey_store::testing::sqlite_url(dir),
        Backend::Postgres => latchkey_store::testing::fresh_postgres_url().await?,
    };
    Some(Config {
        data_dir: dir.to_path_buf(),
        database_url,
        ..Config::default()
    })
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        Self::spawn_with_smtp(backend, Smtp::start(), tweak).await
    }

    /// A server whose mail goes to `smtp` (which may not be listening yet).
    pub async fn spawn_with_smtp(
        backend: Backend,
        smtp: Smtp,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_for(backend, dir.path()).await?;
        config.smtp.host = "127.0.0.1".into();
        config.smtp.port = smtp.port;
        config.smtp.tls = latchkey_service::config::SmtpTls::None;
        config.smtp.timeout_secs = 5;
        config.email.retry_base_secs = 1;
        tweak(&mut config);
        Some(Self::start_with(config, dir, smtp).await)
    }

    pub async fn start(config: Config, dir: tempfile::TempDir) -> Self {
        Self::start_with(config, dir, Smtp::reserve()).await
    }

    async fn start_with(mut config: Config, dir: tempfile::TempDir, smtp: Smtp) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        config.listen = addr.to_string();
        if config.public_url.is_empty() {
            config.public_url = format!("http://{addr}");
        }
        config.validate().unwrap();
        let clock = Arc::new(ManualClock::new(
            time::OffsetDateTime::now_utc().unix_timestamp(),
        ));
        let app = App::start(
            config,
            clock.clone(),
            None,
            latchkey_http::outbound::client().unwrap(),
        )
        .await
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(latchkey_http::serve(app.clone(), listener, async {
            let _ = stopped.await;
        }));
        Self {
            smtp,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            app,
            clock,
            dir,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_bearer(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A verified account made through the admin path.
    pub async fn user(&self, email: &str) {
        self.app
            .admin()
            .create_user(Email::parse(email).unwrap(), None, PASSWORD, true)
            .await
            .unwrap();
    }

    /// Logs in and returns the 200 body and the Set-Cookie header.
    pub async fn login(&self, email: &str, password: &str) -> (Value, String) {
        let r = self
            .post(
                "/api/v1/login",
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.json().await.unwrap(), cookie)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Moves time on (past a retry's backoff, or a token's expiry) and
    /// gives the mail worker a moment to notice.
    pub async fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
        self.app.wake_mail_worker();
    }
}

/// Asserts a problem+json answer and returns its body.
pub async fn problem(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "status");
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("urn:latchkey:problem:{code}"),
        "{body}"
    );
    assert_eq!(body["status"], status.as_u16());
    body
}

/// Splits a compact JWS into decoded header and claims.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let claims = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&claims).unwrap(),
    )
}

/// Re-assembles a token from a header, claims and raw signature.
pub fn jwt_assemble(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}
