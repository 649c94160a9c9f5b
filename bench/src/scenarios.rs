//! The load scenarios: `concurrency` virtual clients, each in a closed loop
//! (one request in flight at a time, the next as soon as the last answers),
//! for `duration` seconds.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{Answer, Api, Tokens};
use crate::hashrate::Argon2Params;
use crate::procfs::CpuMeter;
use crate::stats::{Stats, Status};

/// In `mixed`, out of every 221 requests: 1 login, 20 refreshes, 200 checks.
const MIX_LOGIN: u64 = 1;
const MIX_REFRESH: u64 = 20;
const MIX_VERIFY: u64 = 200;

/// Knuth's multiplicative hashing constant, a prime.
const SPREAD: u64 = 2_654_435_761;

/// Logins done at once while clients get their first session (kept under
/// the hash pool's queue so that set-up itself is not refused).
const SETUP_LOGINS_AT_ONCE: usize = 8;
/// How long a client keeps retrying a login refused with 503 or a dropped
/// connection before giving up.
const LOGIN_RETRY_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Login,
    Refresh,
    Verify,
    Signup,
    Forgot,
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::Verify => "verify",
            Self::Signup => "signup",
            Self::Forgot => "forgot",
            Self::Mixed => "mixed",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Seconds of load (set-up logins are not counted).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Virtual clients, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Accounts that exist (emails `<prefix><i>@example.com`, i from 0);
    /// scenarios go through all of them in a scattered order.
    #[arg(long, default_value_t = 1000)]
    pub accounts: u64,
    /// Their password (also the one new sign-ups get).
    #[arg(long, default_value = "generator-pass-31")]
    pub password: String,
    /// Prefix of the account emails.
    #[arg(long, default_value = "bench")]
    pub email_prefix: String,
    /// verify: distinct sessions whose access tokens the clients share.
    #[arg(long, default_value_t = 16)]
    pub sessions: usize,
    /// Threads of this generator's async runtime (kept low so that it does
    /// not take the CPU it measures).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// login: seconds spent measuring argon2id hashes per second on all
    /// cores, before the load and again after it (0 to skip).
    #[arg(long, default_value_t = 2.0)]
    pub hash_seconds: f64,
    /// login: threads for that measurement [default: one per core].
    #[arg(long)]
    pub hash_threads: Option<usize>,
    #[command(flatten)]
    pub argon2: Argon2Params,
    /// Read the server's memory and CPU time from /proc/<pid>.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Append a JSON line with the figures to this file (for `table`).
    #[arg(long)]
    pub record: Option<std::path::PathBuf>,
    /// Backend or set-up name for the record (e.g. sqlite, postgres).
    #[arg(long)]
    pub label: Option<String>,
    /// Row name for the record [default: the scenario's name].
    #[arg(long)]
    pub name: Option<String>,
}

pub struct Ctx {
    pub api: Api,
    pub args: LoadArgs,
    next: AtomicU64,
    run_id: String,
}

impl Ctx {
    pub fn new(args: LoadArgs) -> anyhow::Result<Arc<Self>> {
        if args.accounts == 0 {
            bail!("--accounts must be at least 1");
        }
        if args.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Arc::new(Self {
            api: Api::new(&args.url, args.concurrency)?,
            run_id: format!("{:x}-{}", nanos, std::process::id()),
            next: AtomicU64::new(0),
            args,
        }))
    }

    fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The `i`-th account to use. Consecutive `i` are spread over the whole
    /// range (multiplied by a prime modulo the count: a permutation, so every
    /// account comes once per round), so that a short run on a large
    /// database does not touch only its first rows.
    pub fn email(&self, i: u64) -> String {
        let n = u128::from(self.args.accounts);
        let k = (u128::from(i) % n) * u128::from(SPREAD) % n;
        format!("{}{k}@example.com", self.args.email_prefix)
    }

    /// Logs account `i` in, retrying refusals (503) and dropped connections.
    async fn login_until_ok(&self, i: u64) -> anyhow::Result<Tokens> {
        let started = Instant::now();
        let email = self.email(i);
        loop {
            let answer = self.api.login(&email, &self.args.password).await;
            if let Some(t) = answer.tokens() {
                return Ok(t);
            }
            match answer.status {
                Status::Code(503) | Status::Error if started.elapsed() < LOGIN_RETRY_FOR => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Status::Code(401) => bail!(
                    "{email} cannot log in (401): are the accounts seeded, verified, \
                     and is --password theirs?"
                ),
                status => bail!(
                    "logging {email} in answered {}: {}{}",
                    status.key(),
                    String::from_utf8_lossy(&answer.body),
                    answer.error.unwrap_or_default()
                ),
            }
        }
    }

    /// One session per client, `SETUP_LOGINS_AT_ONCE` logins at a time.
    async fn sessions(self: &Arc<Self>, n: usize) -> anyhow::Result<Vec<Tokens>> {
        let gate = Arc::new(Semaphore::new(SETUP_LOGINS_AT_ONCE));
        let mut set = JoinSet::new();
        for i in 0..n {
            let ctx = self.clone();
            let gate = gate.clone();
            set.spawn(async move {
                let _permit = gate.acquire().await?;
                ctx.login_until_ok(i as u64).await
            });
        }
        let mut out = Vec::with_capacity(n);
        while let Some(r) = set.join_next().await {
            out.push(r.context("a set-up login failed")??);
        }
        Ok(out)
    }
}

fn record(stats: &mut Stats, op: &'static str, answer: &Answer) -> anyhow::Result<()> {
    if let Some(e) = &answer.error {
        stats.note_error(e);
    }
    stats.record(op, answer.status, answer.latency)
}

/// After a transport error, wait a little instead of spinning on a dead server.
async fn pause_on_error(answer: &Answer) {
    if answer.status == Status::Error {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the load measured (set-up logins excluded).
#[derive(Debug)]
pub struct Outcome {
    pub stats: Stats,
    /// From the first request to the last client's last answer.
    pub elapsed: Duration,
    /// CPU over that time, % of one core, of the server (with
    /// `--server-pid`) and of this generator.
    pub server_cpu_pct: Option<f64>,
    pub bench_cpu_pct: Option<f64>,
}

/// Starts one task per state, all until the same deadline, and merges what
/// they measured.
async fn run_clients<T, F, Fut>(
    ctx: &Arc<Ctx>,
    states: Vec<T>,
    client: F,
) -> anyhow::Result<Outcome>
where
    T: Send + 'static,
    F: Fn(Arc<Ctx>, T, Instant) -> Fut,
    Fut: Future<Output = anyhow::Result<Stats>> + Send + 'static,
{
    let server_cpu = ctx
        .args
        .server_pid
        .and_then(|p| CpuMeter::start(Some(p)).ok());
    let bench_cpu = CpuMeter::start(None).ok();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(ctx.args.duration.max(0.1));
    let mut set = JoinSet::new();
    for state in states {
        set.spawn(client(ctx.clone(), state, deadline));
    }
    let mut stats = Stats::default();
    while let Some(r) = set.join_next().await {
        stats.merge(&r.context("a client task failed")??)?;
    }
    Ok(Outcome {
        stats,
        elapsed: started.elapsed(),
        server_cpu_pct: server_cpu.and_then(|m| m.percent().ok()),
        bench_cpu_pct: bench_cpu.and_then(|m| m.percent().ok()),
    })
}

/// Set-up (first sessions) then the load; returns what the load measured.
pub async fn run(scenario: Scenario, ctx: &Arc<Ctx>) -> anyhow::Result<Outcome> {
    let c = ctx.args.concurrency;
    match scenario {
        Scenario::Login => run_clients(ctx, vec![(); c], login_client).await,
        Scenario::Signup => run_clients(ctx, vec![(); c], signup_client).await,
        Scenario::Forgot => run_clients(ctx, vec![(); c], forgot_client).await,
        Scenario::Refresh => {
            let sessions = ctx.sessions(c).await?;
            run_clients(ctx, sessions, refresh_client).await
        }
        Scenario::Verify => {
            let n = ctx.args.sessions.clamp(1, c);
            let sessions = ctx.sessions(n).await?;
            let states = (0..c).map(|i| sessions[i % n].clone()).collect();
            run_clients(ctx, states, verify_client).await
        }
        Scenario::Mixed => {
            let sessions = ctx.sessions(c).await?;
            run_clients(ctx, sessions, mixed_client).await
        }
    }
}

async fn login_client(ctx: Arc<Ctx>, (): (), deadline: Instant) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        let email = ctx.email(ctx.next());
        let answer = ctx.api.login(&email, &ctx.args.password).await;
        record(&mut stats, "login", &answer)?;
        pause_on_error(&answer).await;
    }
    Ok(stats)
}

async fn signup_client(ctx: Arc<Ctx>, (): (), deadline: Instant) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        let email = format!(
            "{}-signup-{}-{}@example.com",
            ctx.args.email_prefix,
            ctx.run_id,
            ctx.next()
        );
        let answer = ctx.api.signup(&email, &ctx.args.password).await;
        record(&mut stats, "signup", &answer)?;
        pause_on_error(&answer).await;
    }
    Ok(stats)
}

async fn forgot_client(ctx: Arc<Ctx>, (): (), deadline: Instant) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        let email = ctx.email(ctx.next());
        let answer = ctx.api.forgot(&email).await;
        record(&mut stats, "forgot", &answer)?;
        pause_on_error(&answer).await;
    }
    Ok(stats)
}

/// A fresh session for a client whose chain broke (counted as a re-login,
/// not as a measured request).
async fn relogin(ctx: &Ctx, stats: &mut Stats) -> anyhow::Result<Tokens> {
    stats.relogins += 1;
    ctx.login_until_ok(ctx.next()).await
}

async fn refresh_client(
    ctx: Arc<Ctx>,
    mut tokens: Tokens,
    deadline: Instant,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        let answer = ctx.api.refresh(&tokens.refresh_token).await;
        record(&mut stats, "refresh", &answer)?;
        tokens = match answer.tokens() {
            Some(t) => t,
            None => {
                pause_on_error(&answer).await;
                relogin(&ctx, &mut stats).await?
            }
        };
    }
    Ok(stats)
}

async fn verify_client(
    ctx: Arc<Ctx>,
    mut tokens: Tokens,
    deadline: Instant,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        let answer = ctx.api.me(&tokens.access_token).await;
        record(&mut stats, "verify", &answer)?;
        if answer.status == Status::Code(401) {
            // The access token expired (15 minutes) or its session ended.
            tokens = relogin(&ctx, &mut stats).await?;
        }
        pause_on_error(&answer).await;
    }
    Ok(stats)
}

async fn mixed_client(
    ctx: Arc<Ctx>,
    mut tokens: Tokens,
    deadline: Instant,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        let n = ctx.next();
        let slot = n % (MIX_LOGIN + MIX_REFRESH + MIX_VERIFY);
        if slot < MIX_LOGIN {
            let answer = ctx.api.login(&ctx.email(n), &ctx.args.password).await;
            record(&mut stats, "login", &answer)?;
            // Carry on with the newest session, as an app would.
            if let Some(t) = answer.tokens() {
                tokens = t;
            }
            pause_on_error(&answer).await;
        } else if slot < MIX_LOGIN + MIX_REFRESH {
            let answer = ctx.api.refresh(&tokens.refresh_token).await;
            record(&mut stats, "refresh", &answer)?;
            tokens = match answer.tokens() {
                Some(t) => t,
                None => {
                    pause_on_error(&answer).await;
                    relogin(&ctx, &mut stats).await?
                }
            };
        } else {
            let answer = ctx.api.me(&tokens.access_token).await;
            record(&mut stats, "verify", &answer)?;
            if answer.status == Status::Code(401) {
                tokens = relogin(&ctx, &mut stats).await?;
            }
            pause_on_error(&answer).await;
        }
    }
    Ok(stats)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    #[test]
    fn every_account_comes_once_per_round() {
        for accounts in [1u64, 7, 1000] {
            let args = Cli::parse_from(["x", "--accounts", &accounts.to_string()]).load;
            let ctx = Ctx::new(args).unwrap();
            let seen: std::collections::HashSet<String> =
                (0..accounts).map(|i| ctx.email(i)).collect();
            assert_eq!(seen.len() as u64, accounts);
            assert_eq!(ctx.email(accounts), ctx.email(0));
        }
    }
}
