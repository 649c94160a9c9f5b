//! The `latchkey` binary, driven from outside as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

fn latchkey(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .env_remove("LATCHKEY_DATABASE_URL")
        .env_remove("LATCHKEY_DATA_DIR")
        .env_remove("LATCHKEY_CONFIG")
        .env_remove("LATCHKEY_LISTEN")
        .env("LATCHKEY_LOG", "warn");
    cmd
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `latchkey serve` on a free port and waits for its first line.
    fn start(cwd: &Path, args: &[&str]) -> Self {
        Self::start_with_env(cwd, args, &[])
    }

    fn start_with_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_logging_to(cwd, args, env, Stdio::inherit())
    }

    /// Like `start_with_env`, with the log (standard error) going to `log`.
    fn start_logging_to(
        cwd: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: impl Into<Stdio>,
    ) -> Self {
        let mut child = latchkey(cwd)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Self { child, base }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn serve_with_nothing_set_creates_its_data_and_stops_cleanly_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let data = dir.path().join("latchkey-data");
    assert!(data.join("latchkey.db").is_file());
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "the data directory is the service's alone"
    );
    let mode = std::fs::metadata(data.join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let mode = std::fs::metadata(data.join("latchkey.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the database holds password hashes");
    let client = reqwest::Client::new();
    let health: Value = client
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "healthy"}));
    // A request in flight when SIGTERM arrives still gets its answer.
    let in_flight = tokio::spawn(
        client
            .post(format!("{}/api/v1/signup", server.base))
            .json(&json!({"email": "late@example.com", "password": "correct horse battery"}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    server.signal("-TERM");
    let answer = in_flight.await.unwrap().unwrap();
    assert_eq!(answer.status(), 202);
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

fn invalid_configuration_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(latchkey(dir.path())
        .arg("serve")
        .env("LATCHKEY_TOKEN_ALGORITHM", "HS256"));
    assert!(!ok);
    assert!(err.contains("tokens.algorithm"), "{err}");
    std::fs::write(
        dir.path().join("bad.toml"),
        "listen = \"127.0.0.1:0\"\nsurprise = 1\n",
    )
    .unwrap();
    let (ok, _, err) = run(latchkey(dir.path()).args(["--config", "bad.toml", "serve"]));
    assert!(!ok);
    assert!(err.contains("surprise"), "{err}");
    std::fs::write(
        dir.path().join("types.toml"),
        "[session]\nidle_timeout_secs = \"soon\"\n",
    )
    .unwrap();
    let (ok, _, err) = run(latchkey(dir.path()).args(["--config", "types.toml", "serve"]));
    assert!(!ok);
    assert!(err.contains("session.idle_timeout_secs"), "{err}");
    for (key, value, named) in [
        (
            "LATCHKEY_RATE_LIMIT_IPV6_PREFIX",
            "129",
            "rate_limit.ipv6_prefix",
        ),
        ("LATCHKEY_REDIS_URL", "http://127.0.0.1:6379", "redis_url"),
    ] {
        let (ok, _, err) = run(latchkey(dir.path()).arg("serve").env(key, value));
        assert!(!ok);
        assert!(err.contains(named), "{err}");
    }
    let (ok, _, err) = run(latchkey(dir.path()).args(["serve", "--listen", "nowhere"]));
    assert!(!ok);
    assert!(err.contains("listen"), "{err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["serve", "--database-url", "mysql://x"]));
    assert!(!ok);
    assert!(err.contains("database_url"), "{err}");
    assert!(
        !dir.path().join("latchkey-data").exists(),
        "nothing is created on bad config"
    );
}

fn user_keys_and_migrate_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = ["--data-dir", "state"];
    let (ok, out, _) = run(latchkey(dir.path()).args(data).arg("migrate"));
    assert!(ok, "{out}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "migrate creates the data directory 0700"
        );
    }
    let create = |email: &str, password: &str, extra: &[&str]| {
        let mut child = latchkey(dir.path())
            .args(data)
            .args(["user", "create", "--email", email, "--password-stdin"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(
        create(
            "ops@example.com",
            "correct horse battery",
            &["--verified", "--username", "ops"]
        )
        .0
    );
    let (ok, err) = create("weak@example.com", "short", &[]);
    assert!(!ok && err.contains("at least 8 characters"), "{err}");
    let (ok, err) = create("OPS@example.com", "correct horse battery", &[]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, out, _) = run(latchkey(dir.path())
        .args(data)
        .args(["user", "list", "--json"]));
    assert!(ok);
    let users: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "ops@example.com");
    assert_eq!(users[0]["username"], "ops");
    assert_eq!(users[0]["email_verified"], true);
    let (ok, _, _) =
        run(latchkey(dir.path())
            .args(data)
            .args(["user", "disable", "ops@example.com"]));
    assert!(ok);
    let (_, out, _) = run(latchkey(dir.path())
        .args(data)
        .args(["user", "list", "--json"]));
    assert!(out.contains(r#""disabled":true"#), "{out}");
    let (ok, _, _) =
        run(latchkey(dir.path())
            .args(data)
            .args(["user", "enable", "ops@example.com"]));
    assert!(ok);
    let (ok, _, err) =
        run(latchkey(dir.path())
            .args(data)
            .args(["user", "disable", "nobody@example.com"]));
    assert!(!ok && err.contains("no account"), "{err}");
    // A username names the account as well as its address does.
    for (command, disabled) in [("disable", true), ("enable", false)] {
        let (ok, _, err) = run(latchkey(dir.path())
            .args(data)
            .args(["user", command, "ops"]));
        assert!(ok, "{err}");
        let (_, out, _) = run(latchkey(dir.path())
            .args(data)
            .args(["user", "list", "--json"]));
        assert!(out.contains(&format!(r#""disabled":{disabled}"#)), "{out}");
    }
    let (ok, out, err) = run(latchkey(dir.path())
        .args(data)
        .args(["user", "unlock", "ops"]));
    assert!(ok && out.contains("unlocked"), "{out} {err}");
    let (ok, _, err) = run(latchkey(dir.path())
        .args(data)
        .args(["user", "unlock", "nobody"]));
    assert!(!ok && err.contains("no account"), "{err}");
    let (ok, out, _) = run(latchkey(dir.path()).args(data).args(["keys", "rotate"]));
    assert!(ok && out.contains("new signing key"), "{out}");
}

/// Fires 50 concurrent sign-ups, kills the server with SIGKILL while they
/// are in flight, restarts it, and checks every acknowledged account exists.
async fn acknowledged_signups_survive_kill_9(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let url_args: Vec<String> = database_url
        .iter()
        .flat_map(|u| ["--database-url".to_owned(), u.clone()])
        .collect();
    let url_refs: Vec<&str> = url_args.iter().map(String::as_str).collect();
    // Durability, not limits, is under test: let every sign-up through.
    let env = [
        ("LATCHKEY_RATE_LIMIT_SIGNUP_PER_IP", "off"),
        ("LATCHKEY_HASH_POOL_QUEUE", "64"),
    ];
    let server = Server::start_with_env(dir.path(), &url_refs, &env);
    let client = reqwest::Client::new();
    let acked = std::sync::atomic::AtomicUsize::new(0);
    let calls = (0..50).map(|i| {
        let client = client.clone();
        let url = format!("{}/api/v1/signup", server.base);
        let acked = &acked;
        async move {
            let email = format!("crash{i}@example.com");
            let r = client
                .post(url)
                .json(&json!({"email": email, "password": "correct horse battery"}))
                .send()
                .await;
            let status = r.map(|r| r.status().as_u16()).ok();
            if status == Some(202) {
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (email, status)
        }
    });
    // Kill while sign-ups are in flight: after a few have been answered.
    let killer = async {
        for _ in 0..400 {
            if acked.load(std::sync::atomic::Ordering::SeqCst) >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.signal("-KILL");
    };
    let (results, ()) = tokio::join!(futures::future::join_all(calls), killer);
    drop(server);
    let acknowledged: Vec<_> = results
        .iter()
        .filter(|(_, status)| *status == Some(202))
        .map(|(e, _)| e.clone())
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "no sign-up finished before the kill"
    );
    let (ok, out, err) = run(latchkey(dir.path())
        .args(&url_refs)
        .args(["user", "list", "--json"]));
    assert!(ok, "{err}");
    for email in &acknowledged {
        assert!(
            out.contains(&format!("\"{email}\"")),
            "{email} was acknowledged and then lost"
        );
    }
    eprintln!(
        "{} of 50 sign-ups were acknowledged before SIGKILL; all of them survived",
        acknowledged.len()
    );
}

async fn sqlite_acknowledged_signups_survive_kill_9() {
    acknowledged_signups_survive_kill_9(None).await;
}

async fn postgres_acknowledged_signups_survive_kill_9() {
    let Some(url) = latchkey_store::testing::fresh_postgres_url().await else {
        return;
    };
    acknowledged_signups_survive_kill_9(Some(url)).await;
}

async fn no_password_or_token_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = latchkey(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("LATCHKEY_LOG", "debug")
        .env("LATCHKEY_REQUIRE_VERIFIED_EMAIL", "false")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let password = "Sup3r-Secret-Passphrase";
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    post(
        "/api/v1/signup",
        json!({"email": "log@example.com", "password": password}),
    )
    .await
    .unwrap();
    let login: Value = post(
        "/api/v1/login",
        json!({"email": "log@example.com", "password": password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let access = login["access_token"].as_str().unwrap().to_owned();
    post("/api/v1/token/refresh", json!({"refresh_token": refresh}))
        .await
        .unwrap();
    post("/api/v1/token/refresh", json!({"refresh_token": refresh}))
        .await
        .unwrap();
    client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    post(
        "/api/v1/login",
        json!({"email": "log@example.com", "password": "wrong-guess-123"}),
    )
    .await
    .unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
    let text = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        text.contains("/api/v1/login"),
        "the log should show requests: {text}"
    );
    for secret in [
        password,
        "wrong-guess-123",
        &refresh,
        &access,
        &access[access.len() - 20..],
    ] {
        assert!(!text.contains(secret), "a secret reached the log");
    }
}

async fn imported_users_keep_their_hashes_and_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let bcrypt = "$2b$05$fSUO/oLSH1DIYrWopIN59OVc8PWwwZgKQChMAmyedJQAxNdLemoPW";
    let rows = [
        json!({"email": "imported@example.com", "password_hash": bcrypt, "email_verified": true,
               "custom_claims": {"tenant_id": "acme"}}),
        json!({"email": "broken", "password_hash": bcrypt}),
        json!({"username": "nohash", "password_hash": "hunter2"}),
        json!({"email": "IMPORTED@example.com", "password_hash": bcrypt}),
        // Hashes made, without normalising, from a password with
        // compatibility characters (see `TYPED`).
        json!({"email": "typed@example.com", "password_hash": TYPED_BCRYPT, "email_verified": true}),
        json!({"username": "typed_scrypt", "password_hash": TYPED_SCRYPT}),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.path().join("users.jsonl"), text).unwrap();
    let (ok, out, err) =
        run(latchkey(dir.path()).args(["import", "users", "users.jsonl", "--format", "jsonl"]));
    assert!(!ok, "rejected rows make the exit code non-zero");
    assert!(out.contains("imported 3 users"), "{out}");
    assert!(
        err.contains("line 2: email") && err.contains("line 3: password_hash"),
        "{err}"
    );
    assert!(
        err.contains("line 4: email: the same address is on line 1"),
        "{err}"
    );
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/v1/login", server.base))
        .json(&json!({"email": "imported@example.com", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["custom_claims"]["tenant_id"], "acme");
    // As typed, though NFKC changes it: the old system did not normalise.
    for id in [
        json!({"email": "typed@example.com"}),
        json!({"username": "typed_scrypt"}),
    ] {
        let mut login = id.clone();
        login["password"] = json!(TYPED);
        let r = client
            .post(format!("{}/api/v1/login", server.base))
            .json(&login)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{id}");
    }
}

/// Typed with full-width letters, a ligature and a superscript; NFKC makes it
/// "correct horse battery fine 2". The hashes are of the typed form, made by
/// Python's `crypt.crypt` and by Node's `crypto.scrypt` the leochilds.uk way.
const TYPED: &str =
    "correct horse \u{ff42}\u{ff41}\u{ff54}\u{ff54}\u{ff45}\u{ff52}\u{ff59} \u{fb01}ne \u{b2}";
const TYPED_BCRYPT: &str = "$2b$05$0m3g0..pGVyhrT/rSB1W6.LQ5BEiR2i01CegYKlPSFKf.csJE7YTi";
const TYPED_SCRYPT: &str = "GWWrid8pkMQi/vJht52dKRmineID/RDq3WDspor5wVI=:8pPef4NCvT10CTUMkvUlzM3Se07WnC7BLitdAqIHYvuifngYShDbkfuZXroWHl/mNgL+a5pS3qBg1zNuaHH5pw==";

/// `latchkey user unlock leo` lifts the lockout of an account named only by
/// a username, in the running server; `disable` and `enable` take the
/// username too.
async fn a_username_is_unlocked_disabled_and_enabled_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let bcrypt = "$2b$05$fSUO/oLSH1DIYrWopIN59OVc8PWwwZgKQChMAmyedJQAxNdLemoPW";
    let password = "correct horse battery staple";
    std::fs::write(
        dir.path().join("users.jsonl"),
        format!("{}\n", json!({"username": "leo", "password_hash": bcrypt})),
    )
    .unwrap();
    let (ok, out, err) =
        run(latchkey(dir.path()).args(["import", "users", "users.jsonl", "--format", "jsonl"]));
    assert!(ok, "{out} {err}");
    let server = Server::start_with_env(
        dir.path(),
        &[],
        &[
            ("LATCHKEY_LOCKOUT_THRESHOLD", "3"),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_IP", "off"),
            ("LATCHKEY_RATE_LIMIT_LOGIN_PER_ACCOUNT", "off"),
        ],
    );
    let client = reqwest::Client::new();
    let login = |password: &str| {
        client
            .post(format!("{}/api/v1/login", server.base))
            .json(&json!({"username": "leo", "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(login("wrong password").await.unwrap().status(), 401);
    }
    assert_eq!(login(password).await.unwrap().status(), 429, "locked");
    // Another process's unlock reaches the server through the database,
    // where it counts only if it is later than the lock, in whole seconds
    // (`Ctx::unlocked_since`): an unlock within the second of the lock is
    // not seen. An operator is never that quick; this test would be.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (ok, out, err) = run(latchkey(dir.path()).args(["user", "unlock", "leo"]));
    assert!(ok && out.contains("leo unlocked"), "{out} {err}");
    let r = login(password).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["user"]["email_verified"], false,
        "no address to verify"
    );
    let (ok, _, err) = run(latchkey(dir.path()).args(["user", "disable", "leo"]));
    assert!(ok, "{err}");
    assert_eq!(login(password).await.unwrap().status(), 401);
    let (ok, _, err) = run(latchkey(dir.path()).args(["user", "enable", "leo"]));
    assert!(ok, "{err}");
    assert_eq!(login(password).await.unwrap().status(), 200);
}

/// Mail files hold working links: `mail/` is 0700 and each file 0600, and a
/// data directory open to others is named in a warning at start-up.
async fn mail_files_are_private_and_an_open_data_dir_is_warned_of() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("open-data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let server = Server::start_logging_to(dir.path(), &["--data-dir", "open-data"], &[], log);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/signup", server.base))
        .json(&json!({"email": "mail@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mail = data.join("mail");
    let mut files = Vec::new();
    for _ in 0..200 {
        files = std::fs::read_dir(&mail)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files.len(), 1, "the verification email is written");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&mail), 0o700);
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&data), 0o755, "an existing directory is left as it is");
    drop(server);
    let text = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let warning = text
        .lines()
        .find(|l| l.contains("open to other users"))
        .unwrap_or_else(|| panic!("no warning about the data directory: {text}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("open-data") && warning.contains("0755"),
        "{warning}"
    );
}

/// Every counter is on `/metrics` at zero before anything has happened, so
/// that a dashboard or an alert has a series to read. The names are read
/// from the sources, so a counter added without registering it fails here.
async fn metrics_are_listed_at_zero_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    // One request first, so that the per-request counter has a series too.
    client
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    let text = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "latchkey_auth_account_lockouts_total 0",
        "latchkey_auth_rate_limited_total{endpoint=\"login\"} 0",
        "latchkey_auth_rate_limited_total{endpoint=\"forgot_password\"} 0",
        "latchkey_auth_login_failures_total{reason=\"locked\"} 0",
        "latchkey_mail_dead_total{kind=\"password_reset\"} 0",
        "latchkey_password_rejected_total{rule=\"breached\"} 0",
        "latchkey_token_refresh_total{result=\"reused\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing: {text}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut names = Vec::new();
    for crate_dir in ["service/src", "http/src"] {
        collect_counter_names(&root.join(crate_dir), &mut names);
    }
    assert!(names.len() > 20, "{names:?}");
    for name in names {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{"))),
            "{name} is not on /metrics from the start: {text}"
        );
    }
}

/// The names in `counter!("…"` in every Rust file under `dir`.
fn collect_counter_names(dir: &Path, names: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_counter_names(&path, names);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            for (_, rest) in source
                .match_indices("counter!(")
                .map(|(i, _)| source.split_at(i + 9))
            {
                let rest = rest.trim_start();
                if let Some(quoted) = rest.strip_prefix('"')
                    && let Some((name, _)) = quoted.split_once('"')
                    && name.starts_with("latchkey_")
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_owned());
                }
            }
        }
    }
}

async fn audit_verify_names_the_row_that_was_changed_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    for password in ["wrong one 1", "wrong one 2", "wrong one 3"] {
        client
            .post(format!("{}/api/v1/login", server.base))
            .json(&json!({"email": "someone@example.com", "password": password}))
            .send()
            .await
            .unwrap();
    }
    drop(server);
    let (ok, out, err) = run(latchkey(dir.path()).args(["audit", "verify"]));
    assert!(ok, "{err}");
    assert!(out.contains("audit chain intact: 3 events"), "{out}");
    let (_, listed, _) = run(latchkey(dir.path()).args(["audit", "list", "--json"]));
    assert_eq!(listed.lines().count(), 3);
    assert!(listed.contains(r#""result":"unknown_account""#), "{listed}");

    let db = format!(
        "sqlite://{}/latchkey-data/latchkey.db",
        dir.path().display()
    );
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    sqlx::query("UPDATE audit_events SET result = 'success' WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    let (ok, _, err) = run(latchkey(dir.path()).args(["audit", "verify"]));
    assert!(!ok);
    assert!(err.contains("event 2 was changed"), "{err}");
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    let (ok, _, err) = run(latchkey(dir.path()).args(["audit", "verify"]));
    assert!(!ok);
    assert!(err.contains("events 2 to 2 were removed"), "{err}");
    pool.close().await;
}

/// `latchkey user unlock` is a process of its own: it records the unlock in
/// the database and clears its own counters, not the server's. A server
/// without Redis must hear of it at the next attempt.
async fn user_unlock_reaches_a_running_server_without_redis(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let url_args: Vec<String> = database_url
        .iter()
        .flat_map(|u| ["--database-url".to_owned(), u.clone()])
        .collect();
    let url_refs: Vec<&str> = url_args.iter().map(String::as_str).collect();
    let email = "locked@example.com";
    let mut create = latchkey(dir.path())
        .args(&url_refs)
        .args(["user", "create", "--verified", "--password-stdin"])
        .args(["--email", email])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(create.stdin.take().unwrap(), "correct horse battery").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(dir.path(), &url_refs);
    let client = reqwest::Client::new();
    let login = |password: &'static str| {
        client
            .post(format!("{}/api/v1/login", server.base))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for _ in 0..11 {
        login("not the password").await.unwrap();
    }
    assert_eq!(
        login("correct horse battery").await.unwrap().status(),
        429,
        "locked"
    );
    let (ok, out, err) = run(latchkey(dir.path())
        .args(&url_refs)
        .args(["user", "unlock", email]));
    assert!(ok && out.contains("unlocked"), "{out} {err}");
    assert_eq!(
        login("correct horse battery").await.unwrap().status(),
        200,
        "unlocked at once"
    );
}

async fn sqlite_user_unlock_reaches_a_running_server_without_redis() {
    user_unlock_reaches_a_running_server_without_redis(None).await;
}

async fn postgres_user_unlock_reaches_a_running_server_without_redis() {
    let Some(url) = latchkey_store::testing::fresh_postgres_url().await else {
        return;
    };
    user_unlock_reaches_a_running_server_without_redis(Some(url)).await;
}

crate::tests![
    multi_thread serve_with_nothing_set_creates_its_data_and_stops_cleanly_on_sigterm,
    sync invalid_configuration_stops_start_up_naming_the_key,
    sync user_keys_and_migrate_commands,
    multi_thread sqlite_acknowledged_signups_survive_kill_9,
    multi_thread postgres_acknowledged_signups_survive_kill_9,
    multi_thread no_password_or_token_reaches_the_log,
    multi_thread imported_users_keep_their_hashes_and_can_log_in,
    multi_thread a_username_is_unlocked_disabled_and_enabled_from_the_command_line,
    multi_thread mail_files_are_private_and_an_open_data_dir_is_warned_of,
    multi_thread metrics_are_listed_at_zero_from_the_start,
    multi_thread audit_verify_names_the_row_that_was_changed_or_removed,
    multi_thread sqlite_user_unlock_reaches_a_running_server_without_redis,
    multi_thread postgres_user_unlock_reaches_a_running_server_without_redis,
];
