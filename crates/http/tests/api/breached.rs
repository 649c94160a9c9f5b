//! The breached-password check against a generated Pwned Passwords file and
//! a real HTTP range API on a loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use latchkey_core::{Error, Password};
use latchkey_service::breached::{BreachedChecker, BreachedConfig, Finding, search_file, sha1_hex};

fn fetch() -> std::sync::Arc<dyn latchkey_service::outbound::Fetch> {
    latchkey_http::outbound::client().unwrap()
}

/// Generated passwords `breached-0` … and their counts, sorted by hash.
fn entries(n: usize) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = (0..n)
        .map(|i| {
            (
                sha1_hex(format!("breached-{i}").as_bytes()),
                (i as u64 % 97) + 1,
            )
        })
        .collect();
    all.sort();
    all
}

fn write_list(dir: &Path, name: &str, entries: &[(String, u64)], line_end: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for (hash, count) in entries {
        write!(f, "{hash}:{count}{line_end}").unwrap();
    }
    f.flush().unwrap();
    path
}

fn pw(s: &str) -> Password {
    Password::parse_attempt(s).unwrap()
}

fn a_large_sorted_file_is_searched_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    // ~1 MB: large enough that the search bisects by offset before scanning.
    let list = entries(20_000);
    for (name, line_end) in [("lf.txt", "\n"), ("crlf.txt", "\r\n")] {
        let path = write_list(dir.path(), name, &list, line_end);
        assert!(std::fs::metadata(&path).unwrap().len() > 800_000);
        let (first, last) = (&list[0], &list[list.len() - 1]);
        assert_eq!(
            search_file(&path, &first.0).unwrap(),
            Finding::Breached(first.1),
            "{name}: first line"
        );
        assert_eq!(
            search_file(&path, &last.0).unwrap(),
            Finding::Breached(last.1),
            "{name}: last line"
        );
        for (hash, count) in list.iter().step_by(97) {
            assert_eq!(
                search_file(&path, hash).unwrap(),
                Finding::Breached(*count),
                "{name}"
            );
            // Lower-case input finds the same line.
            assert_eq!(
                search_file(&path, &hash.to_lowercase()).unwrap(),
                Finding::Breached(*count)
            );
        }
        for i in 0..300 {
            let miss = sha1_hex(format!("never-breached-{i}").as_bytes());
            assert_eq!(search_file(&path, &miss).unwrap(), Finding::NotFound);
        }
        // Before the first and after the last line.
        assert_eq!(
            search_file(&path, &"0".repeat(40)).unwrap(),
            Finding::NotFound
        );
        assert_eq!(
            search_file(&path, &"F".repeat(40)).unwrap(),
            Finding::NotFound
        );
    }
}

async fn the_checker_refuses_passwords_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_list(dir.path(), "pwned.txt", &entries(500), "\r\n");
    let mut config = BreachedConfig {
        file: Some(path),
        ..BreachedConfig::default()
    };
    config.validate().unwrap();
    let checker = BreachedChecker::new(&config, fetch()).unwrap();
    assert!(checker.is_breached(&pw("breached-0")).await.unwrap());
    assert!(checker.is_breached(&pw("breached-499")).await.unwrap());
    assert!(!checker.is_breached(&pw("breached-500")).await.unwrap());
    // Nothing configured: nothing is breached.
    let none = BreachedChecker::new(&BreachedConfig::default(), fetch()).unwrap();
    assert!(!none.is_configured());
    assert!(!none.is_breached(&pw("breached-0")).await.unwrap());
}

async fn a_file_that_disappears_fails_open_or_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_list(dir.path(), "pwned.txt", &entries(10), "\n");
    let open = BreachedChecker::new(
        &BreachedConfig {
            file: Some(path.clone()),
            ..BreachedConfig::default()
        },
        fetch(),
    )
    .unwrap();
    let closed = BreachedChecker::new(
        &BreachedConfig {
            file: Some(path.clone()),
            fail_closed: true,
            ..BreachedConfig::default()
        },
        fetch(),
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(!open.is_breached(&pw("breached-0")).await.unwrap());
    assert!(matches!(
        closed.is_breached(&pw("breached-0")).await,
        Err(Error::Overloaded { .. })
    ));
}

/// A range API like api.pwnedpasswords.com on a loopback port. It answers
/// from `entries`, adds padding lines (count 0), and records each path asked.
struct RangeServer {
    base: String,
    asked: Arc<Mutex<Vec<String>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone)]
struct RangeState {
    entries: Arc<Vec<(String, u64)>>,
    asked: Arc<Mutex<Vec<String>>>,
    mode: Mode,
}

#[derive(Clone, Copy)]
enum Mode {
    Answer,
    Slow,
    Broken,
}

async fn range(
    State(state): State<RangeState>,
    UrlPath(prefix): UrlPath<String>,
) -> (StatusCode, String) {
    state.asked.lock().unwrap().push(prefix.clone());
    match state.mode {
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            return (StatusCode::OK, String::new());
        }
        Mode::Broken => return (StatusCode::INTERNAL_SERVER_ERROR, "oops".into()),
        Mode::Answer => {}
    }
    let prefix = prefix.to_ascii_uppercase();
    let mut body = String::new();
    for (hash, count) in state.entries.iter() {
        if let Some(suffix) = hash.strip_prefix(&prefix) {
            body.push_str(&format!("{suffix}:{count}\r\n"));
        }
    }
    // Padding, as with `Add-Padding: true`: suffixes that were never breached.
    let padding = sha1_hex(b"padding-only");
    body.push_str(&format!("{}:0\r\n", &padding[5..]));
    (StatusCode::OK, body)
}

impl RangeServer {
    async fn start(entries: Vec<(String, u64)>, mode: Mode) -> Self {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let state = RangeState {
            entries: Arc::new(entries),
            asked: asked.clone(),
            mode,
        };
        let app = Router::new()
            .route("/range/{prefix}", get(range))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            asked,
            _stop: stop,
        }
    }

    fn checker(&self, timeout_ms: u64, fail_closed: bool) -> BreachedChecker {
        let mut config = BreachedConfig {
            range_url: format!("{}/", self.base),
            timeout_ms,
            fail_closed,
            ..BreachedConfig::default()
        };
        config.validate().unwrap();
        BreachedChecker::new(&config, fetch()).unwrap()
    }
}

async fn the_range_api_is_asked_with_five_hex_digits_only() {
    let list = entries(2000);
    let server = RangeServer::start(list.clone(), Mode::Answer).await;
    let checker = server.checker(2000, false);
    assert!(checker.is_breached(&pw("breached-7")).await.unwrap());
    assert!(checker.is_breached(&pw("breached-1999")).await.unwrap());
    assert!(!checker.is_breached(&pw("not in any list")).await.unwrap());
    // A padding line (count 0) is not a breach.
    assert!(!checker.is_breached(&pw("padding-only")).await.unwrap());
    let asked = server.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 4);
    assert_eq!(asked[0], &sha1_hex(b"breached-7")[..5]);
    for prefix in &asked {
        assert_eq!(prefix.len(), 5, "only the prefix leaves the server");
        assert!(prefix.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

async fn the_file_is_asked_first_and_the_api_for_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let list = entries(100);
    // The file knows the first half, the API all of it.
    let path = write_list(dir.path(), "old.txt", &list[..50], "\n");
    let server = RangeServer::start(list.clone(), Mode::Answer).await;
    let mut config = BreachedConfig {
        file: Some(path),
        range_url: server.base.clone(),
        ..BreachedConfig::default()
    };
    config.validate().unwrap();
    let checker = BreachedChecker::new(&config, fetch()).unwrap();
    let in_file = (0..100)
        .map(|i| format!("breached-{i}"))
        .find(|p| list[..50].iter().any(|(h, _)| *h == sha1_hex(p.as_bytes())))
        .unwrap();
    let only_api = (0..100)
        .map(|i| format!("breached-{i}"))
        .find(|p| list[50..].iter().any(|(h, _)| *h == sha1_hex(p.as_bytes())))
        .unwrap();
    assert!(checker.is_breached(&pw(&in_file)).await.unwrap());
    assert!(server.asked.lock().unwrap().is_empty(), "found in the file");
    assert!(checker.is_breached(&pw(&only_api)).await.unwrap());
    assert_eq!(server.asked.lock().unwrap().len(), 1);
}

async fn a_slow_api_times_out_and_fails_open_or_closed() {
    let server = RangeServer::start(entries(10), Mode::Slow).await;
    let started = Instant::now();
    let open = server.checker(300, false);
    assert!(!open.is_breached(&pw("breached-0")).await.unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the timeout"
    );
    let started = Instant::now();
    let closed = server.checker(300, true);
    assert!(matches!(
        closed.is_breached(&pw("breached-0")).await,
        Err(Error::Overloaded { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(3));
}

async fn an_api_error_or_no_listener_fails_open_or_closed() {
    let broken = RangeServer::start(entries(10), Mode::Broken).await;
    assert!(
        !broken
            .checker(2000, false)
            .is_breached(&pw("x"))
            .await
            .unwrap()
    );
    assert!(matches!(
        broken.checker(2000, true).is_breached(&pw("x")).await,
        Err(Error::Overloaded { .. })
    ));
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = BreachedConfig {
        range_url: format!("http://127.0.0.1:{port}"),
        timeout_ms: 2000,
        fail_closed: true,
        ..BreachedConfig::default()
    };
    config.validate().unwrap();
    let closed = BreachedChecker::new(&config, fetch()).unwrap();
    assert!(closed.is_breached(&pw("x")).await.is_err());
    config.fail_closed = false;
    let open = BreachedChecker::new(&config, fetch()).unwrap();
    assert!(!open.is_breached(&pw("x")).await.unwrap());
}

fn the_breached_and_password_sections_load_from_toml() {
    let dir = tempfile::tempdir().unwrap();
    let list = write_list(dir.path(), "pwned.txt", &entries(5), "\n");
    let toml = dir.path().join("latchkey.toml");
    std::fs::write(
        &toml,
        format!(
            "[password]\nhistory = 3\nrequire_symbol = true\n\n\
             [breached]\nfile = {:?}\nrange_url = \"http://127.0.0.1:9/\"\n\
             timeout_ms = 750\nfail_closed = true\n",
            list.display().to_string()
        ),
    )
    .unwrap();
    let overrides = latchkey_http::Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let config = latchkey_http::Config::load(Some(&toml), &overrides).unwrap();
    assert_eq!(config.password.history, 3);
    assert!(config.password.require_symbol && !config.password.require_digit);
    assert_eq!(config.breached.file.as_deref(), Some(list.as_path()));
    assert_eq!(config.breached.range_url, "http://127.0.0.1:9");
    assert_eq!(config.breached.timeout_ms, 750);
    assert!(config.breached.fail_closed);

    for (text, key) in [
        (
            "[breached]\nfile = \"/no/such/list.txt\"\n",
            "breached.file",
        ),
        ("[breached]\nretries = 3\n", "breached"),
        ("[breached]\ntimeout_ms = 0\n", "breached.timeout_ms"),
        ("[password]\nhistory = 51\n", "password.history"),
    ] {
        std::fs::write(&toml, text).unwrap();
        let e = latchkey_http::Config::load(Some(&toml), &overrides)
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
}

crate::tests![
    sync a_large_sorted_file_is_searched_without_reading_it_all,
    current_thread the_checker_refuses_passwords_in_the_file,
    current_thread a_file_that_disappears_fails_open_or_closed,
    current_thread the_range_api_is_asked_with_five_hex_digits_only,
    current_thread the_file_is_asked_first_and_the_api_for_what_it_lacks,
    current_thread a_slow_api_times_out_and_fails_open_or_closed,
    current_thread an_api_error_or_no_listener_fails_open_or_closed,
    sync the_breached_and_password_sections_load_from_toml,
];
