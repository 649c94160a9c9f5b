//! What a run prints, the JSON line it records, and the markdown table built
//! from those lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::hashrate::HashRate;
use crate::procfs::Memory;
use crate::stats::OpSummary;

/// One line of a record file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// The server's memory right after start, before any load.
    Idle {
        label: Option<String>,
        memory: Memory,
    },
    Scenario(Box<ScenarioRecord>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub label: Option<String>,
    pub name: String,
    pub scenario: String,
    pub url: String,
    pub concurrency: usize,
    pub accounts: u64,
    /// Seconds from the first request to the last answer.
    pub seconds: f64,
    pub total: OpSummary,
    /// By operation (several only in `mixed`).
    pub ops: BTreeMap<String, OpSummary>,
    pub relogins: u64,
    pub first_error: Option<String>,
    /// The higher of `hash_samples`.
    pub hash_rate: Option<HashRate>,
    /// argon2id on all cores, measured before and after the load.
    #[serde(default)]
    pub hash_samples: Vec<HashRate>,
    /// Successful logins per second ÷ argon2id hashes per second.
    pub login_hash_ratio: Option<f64>,
    pub server_memory: Option<Memory>,
    /// Server CPU during the load, % of one core.
    pub server_cpu_pct: Option<f64>,
    /// This generator's CPU during the load, % of one core.
    pub bench_cpu_pct: Option<f64>,
    pub load1_before: Option<f64>,
    pub load1_after: Option<f64>,
}

pub fn append(path: &Path, record: &Record) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let line = serde_json::to_string(record)?;
    writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

fn statuses(s: &OpSummary) -> String {
    s.statuses
        .iter()
        .map(|(k, v)| format!("{k}×{}", v.count))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The human-readable report of one scenario run.
pub fn print(r: &ScenarioRecord) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{} · {} clients · {:.1} s · {}",
        r.name,
        opt(r.label.as_deref(), |l| format!(" [{l}]")),
        r.concurrency,
        r.seconds,
        r.url
    );
    let mut line = |label: &str, s: &OpSummary| {
        let _ = writeln!(
            out,
            "  {label:<8} {:>9} req {:>10.1} req/s ({:.1} 2xx/s)  p50 {} ms  p95 {} ms  p99 {} ms  max {} ms",
            s.requests,
            s.rps,
            s.ok_rps,
            ms(s.latency.p50_ms),
            ms(s.latency.p95_ms),
            ms(s.latency.p99_ms),
            ms(s.latency.max_ms),
        );
        for (code, st) in &s.statuses {
            let _ = writeln!(
                out,
                "           {code:>5} ×{:<9} p50 {} ms  p99 {} ms  max {} ms",
                st.count,
                ms(st.latency.p50_ms),
                ms(st.latency.p99_ms),
                ms(st.latency.max_ms)
            );
        }
    };
    if r.ops.len() > 1 {
        for (op, s) in &r.ops {
            line(op, s);
        }
    }
    line("all", &r.total);
    if r.relogins > 0 {
        let _ = writeln!(out, "  re-logins after a broken chain: {}", r.relogins);
    }
    if let Some(e) = &r.first_error {
        let _ = writeln!(out, "  first transport error: {e}");
    }
    for (h, when) in r.hash_samples.iter().zip(["before", "after"]) {
        let _ = writeln!(
            out,
            "  argon2id m={} t={} p={} ({when} the load): {} hashes on {} threads in {:.1} s = {:.1} hashes/s ({:.1} ms each per core)",
            h.memory_kib,
            h.iterations,
            h.parallelism,
            h.hashes,
            h.threads,
            h.seconds,
            h.per_sec,
            1000.0 * h.threads as f64 / h.per_sec.max(1e-9)
        );
    }
    if let Some(ratio) = r.login_hash_ratio {
        let _ = writeln!(
            out,
            "  logins/s ÷ hashes/s = {ratio:.3} (the higher hash rate: {})",
            opt(r.hash_rate, |h| format!("{:.1}/s", h.per_sec))
        );
    }
    if let Some(m) = &r.server_memory {
        let _ = writeln!(
            out,
            "  server: VmRSS {:.1} MB, VmHWM (peak) {:.1} MB, CPU {}",
            mb(m.rss_kb),
            mb(m.hwm_kb),
            opt(r.server_cpu_pct, |c| format!("{c:.0} %"))
        );
    }
    let _ = writeln!(
        out,
        "  generator CPU {} · load average {} → {}",
        opt(r.bench_cpu_pct, |c| format!("{c:.0} %")),
        opt(r.load1_before, |l| format!("{l:.2}")),
        opt(r.load1_after, |l| format!("{l:.2}"))
    );
    print!("{out}");
}

pub fn read(path: &Path) -> anyhow::Result<Vec<Record>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .with_context(|| format!("{} line {}", path.display(), i + 1))?,
        );
    }
    Ok(out)
}

/// One markdown row per labelled scenario (and one per operation of `mixed`).
pub fn table(records: &[Record]) -> String {
    let mut idle: BTreeMap<Option<String>, Memory> = BTreeMap::new();
    for r in records {
        if let Record::Idle { label, memory } = r {
            idle.insert(label.clone(), *memory);
        }
    }
    let mut out = String::new();
    out.push_str(
        "| backend | scenario | clients | req/s | 2xx/s | p50 ms | p95 ms | p99 ms | max ms | statuses | hashes/s | logins ÷ hashes | server CPU | generator CPU | load | RSS idle MB | RSS after MB | peak RSS MB |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in records {
        let Record::Scenario(r) = r else { continue };
        let label = r.label.clone().unwrap_or_else(|| "–".to_owned());
        let idle_mb = opt(idle.get(&r.label), |m| format!("{:.1}", mb(m.rss_kb)));
        let mut row = |name: &str, s: &OpSummary, first: bool| {
            let _ = writeln!(
                out,
                "| {label} | {name} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.concurrency,
                s.rps,
                s.ok_rps,
                ms(s.latency.p50_ms),
                ms(s.latency.p95_ms),
                ms(s.latency.p99_ms),
                ms(s.latency.max_ms),
                statuses(s),
                opt(r.hash_rate.filter(|_| first), |h| format!(
                    "{:.1}",
                    h.per_sec
                )),
                opt(r.login_hash_ratio.filter(|_| first), |x| format!("{x:.2}")),
                opt(r.server_cpu_pct.filter(|_| first), |c| format!("{c:.0} %")),
                opt(r.bench_cpu_pct.filter(|_| first), |c| format!("{c:.0} %")),
                opt(r.load1_before.filter(|_| first), |l| format!("{l:.2}")),
                if first {
                    idle_mb.clone()
                } else {
                    "–".to_owned()
                },
                opt(r.server_memory.filter(|_| first), |m| format!(
                    "{:.1}",
                    mb(m.rss_kb)
                )),
                opt(r.server_memory.filter(|_| first), |m| format!(
                    "{:.1}",
                    mb(m.hwm_kb)
                )),
            );
        };
        row(&r.name, &r.total, true);
        if r.ops.len() > 1 {
            for (op, s) in &r.ops {
                row(&format!("{} · {op}", r.name), s, false);
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_into_a_table() {
        let idle = Record::Idle {
            label: Some("sqlite".into()),
            memory: Memory {
                rss_kb: 10240,
                hwm_kb: 10240,
            },
        };
        let line = serde_json::to_string(&idle).unwrap();
        assert!(line.contains(r#""kind":"idle""#));
        let summary = OpSummary {
            requests: 10,
            rps: 10.0,
            ok_rps: 9.0,
            latency: Default::default(),
            statuses: BTreeMap::new(),
        };
        let scenario = Record::Scenario(Box::new(ScenarioRecord {
            label: Some("sqlite".into()),
            name: "mixed".into(),
            scenario: "mixed".into(),
            url: "http://127.0.0.1:1".into(),
            concurrency: 4,
            accounts: 1000,
            seconds: 1.0,
            total: summary.clone(),
            ops: [
                ("login".to_owned(), summary.clone()),
                ("verify".to_owned(), summary),
            ]
            .into_iter()
            .collect(),
            relogins: 0,
            first_error: None,
            hash_rate: None,
            hash_samples: Vec::new(),
            login_hash_ratio: None,
            server_memory: None,
            server_cpu_pct: None,
            bench_cpu_pct: None,
            load1_before: None,
            load1_after: None,
        }));
        let back: Record =
            serde_json::from_str(&serde_json::to_string(&scenario).unwrap()).unwrap();
        let t = table(&[idle, back]);
        // Header, rule, the total and one row per operation.
        assert_eq!(t.lines().count(), 5);
        assert!(t.contains("| sqlite | mixed | 4 | 10.0 | 9.0 |"));
        assert!(t.contains("| 10.0 |"));
    }
}
