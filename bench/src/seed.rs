//! Accounts to log in with: `<prefix><i>@example.com` for i in 0..N, all
//! with one password. Either a JSONL file for `latchkey import users`
//! (verified, one argon2id hash computed once and reused on every row), or
//! sign-ups over HTTP (the server must then run with
//! `LATCHKEY_REQUIRE_VERIFIED_EMAIL=false` for them to log in).

use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::json;
use tokio::task::JoinSet;

use crate::client::Api;
use crate::hashrate::Argon2Params;
use crate::stats::Status;

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// How many accounts.
    #[arg(long, default_value_t = 1000)]
    pub accounts: u64,
    /// Their password.
    #[arg(long, default_value = "generator-pass-31")]
    pub password: String,
    /// Prefix of the account emails.
    #[arg(long, default_value = "bench")]
    pub email_prefix: String,
    /// Write a JSONL file for `latchkey import users FILE --format jsonl`.
    #[arg(long, required_unless_present = "url", conflicts_with = "url")]
    pub out: Option<PathBuf>,
    /// Or sign the accounts up over HTTP at this base URL.
    #[arg(long)]
    pub url: Option<String>,
    /// Sign-ups in flight at once (with --url).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Threads of the async runtime (with --url).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    #[command(flatten)]
    pub argon2: Argon2Params,
}

pub fn write_jsonl(args: &SeedArgs, out: &PathBuf) -> anyhow::Result<()> {
    let started = Instant::now();
    let hash = args.argon2.phc(&args.password)?;
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    for i in 0..args.accounts {
        let row = json!({
            "email": format!("{}{i}@example.com", args.email_prefix),
            "password_hash": hash,
            "email_verified": true,
        });
        serde_json::to_writer(&mut w, &row)?;
        w.write_all(b"\n")?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "wrote {} accounts to {} in {:.1} s",
        args.accounts,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn sign_up(args: SeedArgs, url: String) -> anyhow::Result<()> {
    let started = Instant::now();
    let api = Api::new(&url, args.concurrency)?;
    let next = Arc::new(AtomicU64::new(0));
    let args = Arc::new(args);
    let mut set = JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (api, next, args) = (api.clone(), next.clone(), args.clone());
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.accounts {
                    return Ok::<_, anyhow::Error>(());
                }
                let email = format!("{}{i}@example.com", args.email_prefix);
                let mut tries = 0;
                loop {
                    let answer = api.signup(&email, &args.password).await;
                    match answer.status {
                        Status::Code(202) => break,
                        Status::Code(503) | Status::Error if tries < 600 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        status => bail!(
                            "signing {email} up answered {}: {}{}",
                            status.key(),
                            String::from_utf8_lossy(&answer.body),
                            answer.error.unwrap_or_default()
                        ),
                    }
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.context("a sign-up task failed")??;
    }
    eprintln!(
        "signed up {} accounts at {url} in {:.1} s",
        args.accounts,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
