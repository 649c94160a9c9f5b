//! Connections: a client that holds one open without finishing its request
//! is dropped, so a few hundred of them cannot starve the server.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp};

/// What the server allows for a request's head (`HEADER_READ_TIMEOUT` in
/// `latchkey-http`), and the slack we give it.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const SLACK: Duration = Duration::from_secs(3);

/// Waits until the server closes `stream` (or `limit` passes), and says
/// how long that took.
async fn closed_within(
    mut stream: TcpStream,
    started: Instant,
    limit: Duration,
) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            // A 408 or any other answer before the close is fine.
            Ok(Ok(_)) => {}
        }
    }
}

/// Issue 11, item 16: slowloris. Connections that send part of a request
/// head, or nothing at all, or sit idle after a keep-alive answer, are
/// closed after the header-read timeout, while the server goes on
/// answering everyone else.
async fn slow_and_idle_connections_are_dropped() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let addr = t.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut held = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let partial = match i % 3 {
            0 => "GET /health HTTP/1.1\r\nHost: x\r\n".to_owned(),
            1 => "POST /api/v1/login HTT".to_owned(),
            _ => String::new(),
        };
        s.write_all(partial.as_bytes()).await.unwrap();
        held.push(s);
    }
    // One that finishes a request, then keeps the connection open, idle.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    held.push(idle);
    // Meanwhile everyone else is served.
    let r = t.client.get(t.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let limit = HEADER_TIMEOUT + SLACK;
    let closed =
        futures::future::join_all(held.into_iter().map(|s| closed_within(s, started, limit))).await;
    for (i, c) in closed.iter().enumerate() {
        let took = c.unwrap_or_else(|| panic!("connection {i} still open after {limit:?}"));
        assert!(
            took >= HEADER_TIMEOUT - Duration::from_secs(1),
            "connection {i} closed after {took:?}, before the timeout"
        );
    }
    // A fresh client: the shared one's pooled connection has been idle as
    // long as the timeout, so the server may be closing it right now.
    let r = reqwest::get(t.url("/health")).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
}

crate::tests![multi_thread slow_and_idle_connections_are_dropped];
