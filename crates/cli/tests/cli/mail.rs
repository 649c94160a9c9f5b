//! Email delivery driven from outside, as an operator would see it: the real
//! `latchkey` binary, `.eml` files, a real SMTP receiver (mailin) on a
//! loopback port, `kill -9`, and the `latchkey mail` commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailin_embedded::{Handler, Response, SslConfig, response};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
const PASSWORD: &str = "correct horse battery";
/// Base64 of the bytes 0..32: nodes sharing one database must share it.
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

// ---------------------------------------------------------------------------
// The binary

/// Where and how every `latchkey` process of one test runs: the working
/// directory (and so `./latchkey-data`), the database and the environment.
struct Setup {
    cwd: PathBuf,
    database_url: Option<String>,
    env: Vec<(String, String)>,
}

impl Setup {
    fn new(cwd: &Path, database_url: Option<&str>) -> Self {
        Self {
            cwd: cwd.to_owned(),
            database_url: database_url.map(str::to_owned),
            env: Vec::new(),
        }
    }

    fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// SMTP delivery to `port` on loopback, retrying after about a second.
    fn smtp(self, port: u16) -> Self {
        self.env("LATCHKEY_SMTP_HOST", "127.0.0.1")
            .env("LATCHKEY_SMTP_PORT", port)
            .env("LATCHKEY_SMTP_TLS", "none")
            .env("LATCHKEY_SMTP_FROM", "Latchkey <noreply@latchkey.test>")
            .env("LATCHKEY_EMAIL_RETRY_BASE_SECS", 1)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(&self.cwd);
        // Nothing from the environment of whoever runs the tests leaks in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LATCHKEY_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("LATCHKEY_LOG", "warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(url) = &self.database_url {
            cmd.args(["--database-url", url]);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command().args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `latchkey mail list --json [filters]`, one value per message.
    fn mail_list(&self, filters: &[&str]) -> Vec<Value> {
        let mut args = vec!["mail", "list", "--json"];
        args.extend_from_slice(filters);
        let (ok, out, err) = self.run(&args);
        assert!(ok, "mail list failed: {err}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    fn mail_to(&self, filters: &[&str], recipient: &str) -> Option<Value> {
        self.mail_list(filters)
            .into_iter()
            .find(|m| m["recipient"] == recipient)
    }

    /// Starts `latchkey serve` on a free port, its log in `<cwd>/<name>.log`.
    fn serve(&self, name: &str, args: &[&str]) -> Server {
        let log = self.cwd.join(format!("{name}.log"));
        let mut child = self
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(base) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name} did not start: {line:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let public_url = line
            .split_once("(public URL ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(url, _)| url.to_owned())
            .unwrap_or_else(|| panic!("no public URL in {line:?}"));
        Server {
            base: base.to_owned(),
            public_url,
            log,
            child,
            _stdout: stdout,
        }
    }
}

struct Server {
    base: String,
    public_url: String,
    log: PathBuf,
    child: Child,
    /// Kept open so that the server never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} failed");
    }

    fn stop(&mut self, sig: &str) -> ExitStatus {
        self.signal(sig);
        self.child.wait().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn signup(&self, email: &str) {
        let (status, body) = self
            .post(
                "/api/v1/signup",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 202, "sign-up of {email}: {body}");
    }

    async fn login(&self, email: &str) -> (u16, Value) {
        self.post(
            "/api/v1/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
    }

    /// Verifies with the token from `mail`, then logs in.
    async fn verify_and_log_in(&self, email: &str, token: &str) {
        let (status, body) = self
            .post("/api/v1/email/verify", json!({"token": token}))
            .await;
        assert_eq!(status, 200, "verify: {body}");
        let (status, body) = self.login(email).await;
        assert_eq!(status, 200, "login after verification: {body}");
        assert!(body["access_token"].is_string(), "{body}");
        assert_eq!(body["user"]["email_verified"], true, "{body}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- log of {} ---\n{}", self.base, self.log());
        }
    }
}

/// Calls `check` every 100 ms until it gives a value, failing after `limit`.
async fn poll<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn parse_time(v: &Value) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
        .unix_timestamp() as f64
}

// ---------------------------------------------------------------------------
// Messages

/// A message with CRLF made LF and quoted-printable soft breaks and `=3D`
/// undone: enough to read a link out of it.
fn readable(raw: &str) -> String {
    raw.replace("\r\n", "\n")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The first `http…?token=…` link in a message.
fn link_in(raw: &str) -> String {
    let text = readable(raw);
    text.match_indices("http")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
                .collect::<String>()
        })
        .find(|l| l.contains("?token="))
        .unwrap_or_else(|| panic!("no link with a token in:\n{text}"))
}

fn token_of(link: &str) -> String {
    link.rsplit_once("?token=").unwrap().1.to_owned()
}

/// The header block, unfolded, as (lower-case name, value).
fn headers(raw: &str) -> Vec<(String, String)> {
    let text = raw.replace("\r\n", "\n");
    let head = text
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line after the headers:\n{text}"))
        .0
        .replace("\n ", " ")
        .replace("\n\t", " ");
    head.lines()
        .map(|l| {
            let (name, value) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("not a header line: {l:?}"));
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

// ---------------------------------------------------------------------------
// A real SMTP server (mailin) on a loopback port, collecting what it receives.

#[derive(Debug, Clone)]
struct Received {
    to: Vec<String>,
    raw: String,
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Mutex<Vec<Received>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox.lock().unwrap().push(Received {
            to: self.to.clone(),
            raw: String::from_utf8_lossy(&self.data).into_owned(),
        });
        response::OK
    }
}

struct Smtp {
    port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl Smtp {
    /// A port where nothing listens (yet).
    fn reserve() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            port,
            inbox: Arc::default(),
        }
    }

    fn start() -> Self {
        let smtp = Self::reserve();
        smtp.listen();
        smtp
    }

    /// Starts receiving on the reserved port (the thread lives as long as
    /// the test process).
    fn listen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        let handler = Collector {
            inbox: self.inbox.clone(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = mailin_embedded::Server::new(handler);
        server
            .with_name("receiver.test")
            .with_num_threads(8)
            .with_ssl(SslConfig::None)
            .unwrap()
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
    }

    fn all(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }

    fn to(&self, address: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }

    async fn wait_for(&self, address: &str, limit: Duration) -> Received {
        let what = format!("a message to {address} at the SMTP receiver");
        poll(&what, limit, || self.to(address).into_iter().next()).await
    }
}

// ---------------------------------------------------------------------------
// The tests

async fn with_no_smtp_mail_lands_as_eml_files_and_the_link_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(dir.path(), None).env("LATCHKEY_LOG", "info");
    let server = setup.serve("server", &["--log-format", "json"]);
    let email = "eml@example.com";
    server.signup(email).await;
    let (status, body) = server.login(email).await;
    assert_eq!(status, 403, "login before verification: {body}");

    let mail_dir = dir.path().join("latchkey-data").join("mail");
    let emls = poll(
        "an .eml file in latchkey-data/mail",
        Duration::from_secs(15),
        || {
            let files: Vec<PathBuf> = std::fs::read_dir(&mail_dir)
                .ok()?
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            (!files.is_empty()).then_some(files)
        },
    )
    .await;
    assert_eq!(emls.len(), 1, "one sign-up, one message: {emls:?}");
    let raw = std::fs::read_to_string(&emls[0]).unwrap();

    // A real MIME message to the address, with a subject.
    let h = headers(&raw);
    assert!(header(&h, "to").contains(email), "{h:?}");
    assert!(header(&h, "from").contains('@'), "{h:?}");
    assert!(
        header(&h, "subject").contains("Confirm your email"),
        "{h:?}"
    );
    assert_eq!(header(&h, "mime-version"), "1.0", "{h:?}");
    assert!(
        header(&h, "content-type").starts_with("multipart/alternative"),
        "{h:?}"
    );
    assert!(!header(&h, "message-id").is_empty(), "{h:?}");
    let id = emls[0].file_stem().unwrap().to_string_lossy().into_owned();
    assert!(header(&h, "message-id").contains(&id), "{h:?}");

    let link = link_in(&raw);
    assert!(
        link.starts_with(&format!("{}/verify-email?token=", server.public_url)),
        "{link} (public URL {})",
        server.public_url
    );
    let token = token_of(&link);
    assert!(token.len() >= 32, "{token}");

    // The same link in the server's JSON log, on the line that says so.
    let logged = poll("the link in the log", Duration::from_secs(10), || {
        server
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get("link").is_some_and(|l| l != "-"))
    })
    .await;
    assert_eq!(logged["link"], link.as_str(), "{logged}");
    assert_eq!(logged["level"], "INFO", "{logged}");
    assert_eq!(logged["to"], email, "{logged}");

    server.verify_and_log_in(email, &token).await;
    let (status, body) = server
        .post("/api/v1/email/verify", json!({"token": token}))
        .await;
    assert_eq!(status, 410, "a verification link works once: {body}");
    let sent = setup.mail_list(&[]);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["id"], id.as_str());
    assert_eq!(sent[0]["status"], "sent");
}

/// Sign-up answers, the first delivery fails (nothing listens on the SMTP
/// port), the server is killed with SIGKILL, an SMTP server appears, and
/// the restarted server still delivers the message.
async fn a_message_queued_before_kill_9_is_delivered_after_restart(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::reserve();
    let setup = Setup::new(dir.path(), database_url.as_deref())
        .smtp(smtp.port)
        // Plenty, so that the message cannot die while we wait for a safe
        // moment to kill.
        .env("LATCHKEY_EMAIL_MAX_ATTEMPTS", 20);
    let mut server = setup.serve("before", &[]);
    let email = "crash@example.com";
    server.signup(email).await;

    // A worker that claimed the message holds it for 120 s unless it records
    // the failure, so a kill in that instant would delay the retry by two
    // minutes. Kill only while the message is known to be unclaimed: after
    // a failed attempt and at least 300 ms before its next attempt is due
    // (nothing claims a message before its next_attempt_at).
    let failed = poll(
        "a failed first delivery with time to kill before the retry",
        Duration::from_secs(20),
        || {
            let m = setup.mail_to(&[], email)?;
            assert_eq!(m["status"], "pending", "{m}");
            (m["attempts"].as_u64()? >= 1 && parse_time(&m["next_attempt_at"]) - now_secs() >= 0.3)
                .then_some(m)
        },
    )
    .await;
    let status = server.stop("-KILL");
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }
    assert!(
        failed["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{failed}"
    );
    assert!(smtp.all().is_empty());

    smtp.listen();
    let server = setup.serve("after", &[]);
    let mail = smtp.wait_for(email, Duration::from_secs(20)).await;
    server
        .verify_and_log_in(email, &token_of(&link_in(&mail.raw)))
        .await;
    let m = setup.mail_to(&[], email).unwrap();
    assert_eq!(m["id"], failed["id"], "{m}");
    assert_eq!(m["status"], "sent", "{m}");
    assert!(m["last_error"].is_null(), "{m}");
    assert_eq!(smtp.to(email).len(), 1);
}

async fn sqlite_a_message_queued_before_kill_9_is_delivered_after_restart() {
    a_message_queued_before_kill_9_is_delivered_after_restart(None).await;
}

async fn postgres_a_message_queued_before_kill_9_is_delivered_after_restart() {
    let Some(url) = latchkey_store::testing::fresh_postgres_url().await else {
        return;
    };
    a_message_queued_before_kill_9_is_delivered_after_restart(Some(url)).await;
}

async fn dead_mail_is_listed_and_requeued_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::reserve();
    let setup = Setup::new(dir.path(), None)
        .smtp(smtp.port)
        .env("LATCHKEY_EMAIL_MAX_ATTEMPTS", 2);
    let server = setup.serve("server", &[]);
    let email = "dead@example.com";
    server.signup(email).await;

    let dead = poll("the message to be dead", Duration::from_secs(20), || {
        setup.mail_to(&["--dead"], email)
    })
    .await;
    assert_eq!(dead["status"], "dead", "{dead}");
    assert_eq!(dead["attempts"], 2, "{dead}");
    assert_eq!(dead["kind"], "verify_email", "{dead}");
    assert!(
        dead["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{dead}"
    );
    assert!(dead["sent_at"].is_null(), "{dead}");
    assert!(
        setup.mail_to(&["--pending"], email).is_none(),
        "a dead message is not pending"
    );
    let (ok, out, _) = setup.run(&["mail", "list", "--dead"]);
    assert!(ok);
    let id = dead["id"].as_str().unwrap();
    assert!(out.contains(id) && out.contains("dead"), "{out}");
    assert!(smtp.all().is_empty());

    smtp.listen();
    let (ok, _, err) = setup.run(&["mail", "requeue", "00000000-0000-0000-0000-000000000000"]);
    assert!(!ok, "requeue of an unknown id must fail");
    assert!(err.contains("no dead message"), "{err}");
    let (ok, out, err) = setup.run(&["mail", "requeue", id]);
    assert!(ok, "{err}");
    assert!(out.contains(id), "{out}");
    let (ok, _, err) = setup.run(&["mail", "requeue", id]);
    assert!(!ok, "the message is no longer dead");
    assert!(err.contains("no dead message"), "{err}");

    let mail = smtp.wait_for(email, Duration::from_secs(15)).await;
    server
        .verify_and_log_in(email, &token_of(&link_in(&mail.raw)))
        .await;
    let m = poll(
        "the message to be recorded as sent",
        Duration::from_secs(5),
        || setup.mail_to(&[], email).filter(|m| m["status"] == "sent"),
    )
    .await;
    assert_eq!(m["id"], id, "{m}");
    assert!(setup.mail_list(&["--dead"]).is_empty());
    assert_eq!(smtp.to(email).len(), 1);
}

/// The sum of `latchkey_mail_sent_total` on one node.
async fn mail_sent_metric(server: &Server) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("latchkey_mail_sent_total"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

async fn two_nodes_on_one_postgres_send_each_message_once() {
    let Some(url) = latchkey_store::testing::fresh_postgres_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start();
    // Two nodes as on two machines: their own data directories, one
    // database, one master key.
    let node = |name: &str| {
        let cwd = dir.path().join(name);
        std::fs::create_dir(&cwd).unwrap();
        Setup::new(&cwd, Some(&url))
            .smtp(smtp.port)
            .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
            .env("LATCHKEY_HASH_POOL_QUEUE", 64)
    };
    let (setup_a, setup_b) = (node("a"), node("b"));
    let mut a = setup_a.serve("node-a", &[]);
    let mut b = setup_b.serve("node-b", &[]);

    // Every node's worker claims due messages with FOR UPDATE SKIP LOCKED
    // and holds them under a lease, so no message goes out twice. Sign-ups
    // alternate between the nodes and run concurrently, so both workers are
    // woken and race for the same rows.
    let emails: Vec<String> = (0..30).map(|i| format!("node{i}@example.com")).collect();
    futures::future::join_all(emails.iter().enumerate().map(|(i, email)| {
        let server = if i % 2 == 0 { &a } else { &b };
        server.signup(email)
    }))
    .await;

    poll(
        "30 messages at the receiver",
        Duration::from_secs(25),
        || (smtp.all().len() >= emails.len()).then_some(()),
    )
    .await;
    let listed = poll("all 30 recorded as sent", Duration::from_secs(10), || {
        let all = setup_a.mail_list(&[]);
        (all.len() == emails.len() && all.iter().all(|m| m["status"] == "sent")).then_some(all)
    })
    .await;
    for m in &listed {
        assert_eq!(m["kind"], "verify_email", "{m}");
        assert_eq!(m["attempts"], 1, "{m}");
    }
    let (sent_a, sent_b) = (mail_sent_metric(&a).await, mail_sent_metric(&b).await);
    // A clean stop lets each worker finish what it holds, so nothing is
    // still on its way to the receiver when we count.
    assert_eq!(a.stop("-TERM").code(), Some(0), "{}", a.log());
    assert_eq!(b.stop("-TERM").code(), Some(0), "{}", b.log());

    let mut per_address: BTreeMap<String, usize> = BTreeMap::new();
    for m in smtp.all() {
        for to in m.to {
            *per_address.entry(to).or_default() += 1;
        }
    }
    for email in &emails {
        assert_eq!(
            per_address.get(email).copied(),
            Some(1),
            "{email} should get exactly one message: {per_address:?}"
        );
    }
    assert_eq!(smtp.all().len(), emails.len(), "{per_address:?}");
    assert_eq!(sent_a + sent_b, emails.len() as u64, "{sent_a} + {sent_b}");
    eprintln!("node a sent {sent_a}, node b sent {sent_b}");
}

crate::tests![
    multi_thread with_no_smtp_mail_lands_as_eml_files_and_the_link_is_logged,
    multi_thread sqlite_a_message_queued_before_kill_9_is_delivered_after_restart,
    multi_thread postgres_a_message_queued_before_kill_9_is_delivered_after_restart,
    multi_thread dead_mail_is_listed_and_requeued_from_the_cli,
    multi_thread two_nodes_on_one_postgres_send_each_message_once,
];
