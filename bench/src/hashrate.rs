//! argon2id with the server's parameters: how many hashes per second this
//! machine does on all its cores (the ceiling for logins), and the one hash
//! the seeder reuses for every imported account.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use clap::Args;
use serde::{Deserialize, Serialize};

/// The server's argon2id parameters (its defaults: OWASP m=19 MiB, t=2, p=1).
#[derive(Debug, Clone, Copy, Args)]
pub struct Argon2Params {
    /// argon2 memory cost in KiB (the server's `argon2.memory_kib`).
    #[arg(long = "argon2-memory-kib", default_value_t = 19456)]
    pub memory_kib: u32,
    /// argon2 passes (the server's `argon2.iterations`).
    #[arg(long = "argon2-iterations", default_value_t = 2)]
    pub iterations: u32,
    /// argon2 lanes (the server's `argon2.parallelism`).
    #[arg(long = "argon2-parallelism", default_value_t = 1)]
    pub parallelism: u32,
}

impl Argon2Params {
    fn argon(&self) -> anyhow::Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// A PHC string for `password`, as the server would store it.
    pub fn phc(&self, password: &str) -> anyhow::Result<String> {
        self.argon()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HashRate {
    pub threads: usize,
    pub hashes: u64,
    pub seconds: f64,
    pub per_sec: f64,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// Hashes on `threads` threads (one per core by default) for `seconds`.
pub fn measure(
    params: Argon2Params,
    threads: Option<usize>,
    seconds: f64,
) -> anyhow::Result<HashRate> {
    let threads = match threads {
        Some(n) => n.max(1),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // Built once here so that bad parameters fail before any thread starts.
    let argon = params.argon()?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds.max(0.1));
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads {
        let argon = argon.clone();
        let done = done.clone();
        let stop = stop.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("bench-hash-{i}"))
                .spawn(move || -> anyhow::Result<()> {
                    let salt = *b"latchkey-bench-s";
                    let mut out = [0u8; 32];
                    let mut n: u64 = 0;
                    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                        // A fresh password each time, as distinct logins are.
                        let password = format!("bench-password-{i}-{n}");
                        argon
                            .hash_password_into(password.as_bytes(), &salt, &mut out)
                            .map_err(|e| anyhow::anyhow!("argon2 failed: {e}"))?;
                        n += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
                .context("cannot start a hashing thread")?,
        );
    }
    let mut result = Ok(());
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                result = Err(e);
            }
            Err(_) => result = Err(anyhow::anyhow!("a hashing thread failed")),
        }
    }
    result?;
    let elapsed = started.elapsed().as_secs_f64();
    let hashes = done.load(Ordering::Relaxed);
    Ok(HashRate {
        threads,
        hashes,
        seconds: elapsed,
        per_sec: hashes as f64 / elapsed.max(1e-9),
        memory_kib: params.memory_kib,
        iterations: params.iterations,
        parallelism: params.parallelism,
    })
}
