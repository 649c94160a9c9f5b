//! `latchkey-bench`: a lean load generator for Latchkey. Each scenario runs
//! N virtual clients in closed loops for a duration against a URL and prints
//! requests per second, latency percentiles and counts by status; `bench/run`
//! drives it against SQLite and Postgres and writes the markdown table.

mod client;
mod hashrate;
mod procfs;
mod report;
mod scenarios;
mod seed;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use crate::hashrate::Argon2Params;
use crate::report::{Record, ScenarioRecord};
use crate::scenarios::{Ctx, LoadArgs, Scenario};
use crate::seed::SeedArgs;

#[derive(Debug, Parser)]
#[command(
    name = "latchkey-bench",
    version,
    about = "Load generator and benchmark scenarios for Latchkey"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Password logins over many accounts, round-robin; also measures the
    /// machine's argon2id hashes per second and prints logins/s ÷ hashes/s.
    Login(LoadArgs),
    /// Each client logs in once, then follows its own rotating refresh-token chain.
    Refresh(LoadArgs),
    /// GET /api/v1/me with a bearer access token.
    Verify(LoadArgs),
    /// Sign-ups with fresh addresses (each writes a verification email to the outbox).
    Signup(LoadArgs),
    /// Password-reset requests for existing accounts (each writes an email to the outbox).
    Forgot(LoadArgs),
    /// 1 login : 20 refreshes : 200 token checks.
    Mixed(LoadArgs),
    /// Create the accounts the scenarios log in with.
    Seed(SeedArgs),
    /// Only measure argon2id hashes per second on all cores.
    HashRate {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// [default: one per core]
        #[arg(long)]
        threads: Option<usize>,
        #[command(flatten)]
        argon2: Argon2Params,
    },
    /// Wait for a server's /health, then record its resident memory (idle).
    Probe {
        /// Wait until GET <url>/health answers 200.
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for it.
        #[arg(long, default_value_t = 30.0)]
        wait: f64,
        #[arg(long)]
        server_pid: Option<u32>,
        #[arg(long)]
        label: Option<String>,
        /// Append the idle memory as a JSON line to this file.
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Print the markdown table of a record file.
    Table { records: PathBuf },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let (scenario, args) = match cli.command {
        Command::Login(a) => (Scenario::Login, a),
        Command::Refresh(a) => (Scenario::Refresh, a),
        Command::Verify(a) => (Scenario::Verify, a),
        Command::Signup(a) => (Scenario::Signup, a),
        Command::Forgot(a) => (Scenario::Forgot, a),
        Command::Mixed(a) => (Scenario::Mixed, a),
        Command::Seed(args) => {
            return match (args.out.clone(), args.url.clone()) {
                (Some(out), _) => seed::write_jsonl(&args, &out),
                (None, Some(url)) => runtime(args.threads)?.block_on(seed::sign_up(args, url)),
                (None, None) => bail!("seed needs --out FILE or --url URL"),
            };
        }
        Command::HashRate {
            seconds,
            threads,
            argon2,
        } => {
            let h = hashrate::measure(argon2, threads, seconds)?;
            println!(
                "argon2id m={} t={} p={}: {} hashes on {} threads in {:.1} s = {:.1} hashes/s",
                h.memory_kib,
                h.iterations,
                h.parallelism,
                h.hashes,
                h.threads,
                h.seconds,
                h.per_sec
            );
            return Ok(());
        }
        Command::Probe {
            url,
            wait,
            server_pid,
            label,
            record,
        } => return probe(url, wait, server_pid, label, record),
        Command::Table { records } => {
            print!("{}", report::table(&report::read(&records)?));
            return Ok(());
        }
    };
    load(scenario, args)
}

fn load(scenario: Scenario, args: LoadArgs) -> anyhow::Result<()> {
    // With the server's parameters, while it is idle: before the load and
    // again after it. The higher of the two is what the machine can do (a
    // machine shared with other work gives a lower figure now and then), so
    // the ratio is not flattered by an unlucky sample.
    let measure_hashes = scenario == Scenario::Login && args.hash_seconds > 0.0;
    let mut hash_samples = Vec::new();
    if measure_hashes {
        hash_samples.push(hashrate::measure(
            args.argon2,
            args.hash_threads,
            args.hash_seconds,
        )?);
    }
    let rt = runtime(args.threads)?;
    let ctx = Ctx::new(args.clone())?;
    let load1_before = procfs::load1();
    let out = rt.block_on(scenarios::run(scenario, &ctx))?;
    drop(rt);
    let load1_after = procfs::load1();
    let server_memory = match args.server_pid {
        Some(pid) => Some(procfs::memory(pid)?),
        None => None,
    };
    if measure_hashes {
        hash_samples.push(hashrate::measure(
            args.argon2,
            args.hash_threads,
            args.hash_seconds,
        )?);
    }
    let hash_rate = hash_samples
        .iter()
        .copied()
        .max_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
    let (stats, elapsed) = (&out.stats, out.elapsed);
    let total = stats.total()?.summary(elapsed);
    let login_hash_ratio = hash_rate.map(|h| {
        let logins = stats
            .ops
            .get("login")
            .map_or(0.0, |s| s.summary(elapsed).ok_rps);
        logins / h.per_sec.max(1e-9)
    });
    let r = ScenarioRecord {
        label: args.label.clone(),
        name: args
            .name
            .clone()
            .unwrap_or_else(|| scenario.name().to_owned()),
        scenario: scenario.name().to_owned(),
        url: args.url.clone(),
        concurrency: args.concurrency,
        accounts: args.accounts,
        seconds: elapsed.as_secs_f64(),
        ops: stats
            .ops
            .iter()
            .map(|(op, s)| ((*op).to_owned(), s.summary(elapsed)))
            .collect(),
        total,
        relogins: stats.relogins,
        first_error: stats.first_error.clone(),
        hash_rate,
        hash_samples,
        login_hash_ratio,
        server_memory,
        server_cpu_pct: out.server_cpu_pct,
        bench_cpu_pct: out.bench_cpu_pct,
        load1_before,
        load1_after,
    };
    report::print(&r);
    if let Some(path) = &args.record {
        report::append(path, &Record::Scenario(Box::new(r)))?;
    }
    Ok(())
}

fn probe(
    url: Option<String>,
    wait: f64,
    server_pid: Option<u32>,
    label: Option<String>,
    record: Option<PathBuf>,
) -> anyhow::Result<()> {
    if let Some(url) = url {
        let rt = runtime(1)?;
        rt.block_on(async {
            let api = client::Api::new(&url, 1)?;
            let started = Instant::now();
            loop {
                if api.health().await.status == stats::Status::Code(200) {
                    return Ok(());
                }
                if started.elapsed().as_secs_f64() > wait {
                    bail!("{url}/health did not answer 200 within {wait} s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })?;
    }
    if let Some(pid) = server_pid {
        let memory = procfs::memory(pid)?;
        println!(
            "server pid {pid}: VmRSS {:.1} MB, VmHWM {:.1} MB",
            memory.rss_kb as f64 / 1024.0,
            memory.hwm_kb as f64 / 1024.0
        );
        if let Some(path) = record {
            report::append(&path, &Record::Idle { label, memory })?;
        }
    }
    Ok(())
}
