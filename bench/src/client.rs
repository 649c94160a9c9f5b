//! The few Latchkey endpoints the scenarios call, over HTTP/1.1 keep-alive.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::json;

use crate::stats::Status;

#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// One request's answer: its status, body and how long it took (to the last
/// byte of the body).
#[derive(Debug)]
pub struct Answer {
    pub status: Status,
    pub body: Vec<u8>,
    pub latency: Duration,
    pub error: Option<String>,
}

/// What a login or a refresh hands back that the scenarios use.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

impl Answer {
    pub fn tokens(&self) -> Option<Tokens> {
        if self.status != Status::Code(200) {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }
}

impl Api {
    pub fn new(base: &str, connections: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(connections)
            .pool_idle_timeout(Duration::from_secs(90))
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let started = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, body.to_vec()))
        }
        .await;
        let latency = started.elapsed();
        match result {
            Ok((code, body)) => Answer {
                status: Status::Code(code),
                body,
                latency,
                error: None,
            },
            Err(e) => Answer {
                status: Status::Error,
                body: Vec::new(),
                latency,
                error: Some(error_chain(&e)),
            },
        }
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).json(body)
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.send(self.post(
            "/api/v1/login",
            &json!({ "email": email, "password": password }),
        ))
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        self.send(self.post(
            "/api/v1/token/refresh",
            &json!({ "refresh_token": refresh_token }),
        ))
        .await
    }

    pub async fn me(&self, access_token: &str) -> Answer {
        self.send(
            self.http
                .get(format!("{}/api/v1/me", self.base))
                .bearer_auth(access_token),
        )
        .await
    }

    pub async fn signup(&self, email: &str, password: &str) -> Answer {
        self.send(self.post(
            "/api/v1/signup",
            &json!({ "email": email, "password": password }),
        ))
        .await
    }

    pub async fn forgot(&self, email: &str) -> Answer {
        self.send(self.post("/api/v1/password/forgot", &json!({ "email": email })))
            .await
    }

    pub async fn health(&self) -> Answer {
        self.send(self.http.get(format!("{}/health", self.base)))
            .await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
