//! Latencies (HDR histograms, microseconds) and counts by HTTP status, kept
//! per operation by each virtual client and merged at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency a histogram holds exactly (60 s, in microseconds);
/// anything slower is counted at this value.
const MAX_US: u64 = 60_000_000;

/// What one request came to: its status, or that it never got one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Code(u16),
    /// Connection refused or reset, timeout, unreadable body.
    Error,
}

impl Status {
    pub fn key(self) -> String {
        match self {
            Self::Code(c) => c.to_string(),
            Self::Error => "error".to_owned(),
        }
    }
}

/// One operation's latencies and status counts.
#[derive(Debug, Clone)]
pub struct OpStats {
    all: Histogram<u64>,
    by_status: BTreeMap<String, Histogram<u64>>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_US, 3).context("cannot make a latency histogram")
}

impl OpStats {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            all: histogram()?,
            by_status: BTreeMap::new(),
        })
    }

    pub fn record(&mut self, status: Status, latency: Duration) -> anyhow::Result<()> {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_US)
            .clamp(1, MAX_US);
        self.all.saturating_record(us);
        let key = status.key();
        if let Some(h) = self.by_status.get_mut(&key) {
            h.saturating_record(us);
        } else {
            let mut h = histogram()?;
            h.saturating_record(us);
            self.by_status.insert(key, h);
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.all
            .add(&other.all)
            .map_err(|e| anyhow::anyhow!("cannot merge histograms: {e:?}"))?;
        for (key, h) in &other.by_status {
            if let Some(mine) = self.by_status.get_mut(key) {
                mine.add(h)
                    .map_err(|e| anyhow::anyhow!("cannot merge histograms: {e:?}"))?;
            } else {
                self.by_status.insert(key.clone(), h.clone());
            }
        }
        Ok(())
    }

    pub fn summary(&self, elapsed: Duration) -> OpSummary {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let requests = self.all.len();
        let ok: u64 = self
            .by_status
            .iter()
            .filter(|(k, _)| k.starts_with('2') && k.len() == 3)
            .map(|(_, h)| h.len())
            .sum();
        OpSummary {
            requests,
            rps: requests as f64 / secs,
            ok_rps: ok as f64 / secs,
            latency: Latency::of(&self.all),
            statuses: self
                .by_status
                .iter()
                .map(|(k, h)| {
                    (
                        k.clone(),
                        StatusSummary {
                            count: h.len(),
                            latency: Latency::of(h),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Every operation a virtual client did, by name, plus what it noticed.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub ops: BTreeMap<&'static str, OpStats>,
    /// Logins a client had to redo because its session ended under it.
    pub relogins: u64,
    /// The first transport error seen, to print.
    pub first_error: Option<String>,
}

impl Stats {
    pub fn record(
        &mut self,
        op: &'static str,
        status: Status,
        latency: Duration,
    ) -> anyhow::Result<()> {
        if let Some(s) = self.ops.get_mut(op) {
            s.record(status, latency)
        } else {
            let mut s = OpStats::new()?;
            s.record(status, latency)?;
            self.ops.insert(op, s);
            Ok(())
        }
    }

    pub fn note_error(&mut self, e: &dyn std::fmt::Display) {
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }

    pub fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        for (op, s) in &other.ops {
            if let Some(mine) = self.ops.get_mut(op) {
                mine.merge(s)?;
            } else {
                self.ops.insert(op, s.clone());
            }
        }
        self.relogins += other.relogins;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        Ok(())
    }

    /// All operations together.
    pub fn total(&self) -> anyhow::Result<OpStats> {
        let mut total = OpStats::new()?;
        for s in self.ops.values() {
            total.merge(s)?;
        }
        Ok(total)
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusSummary {
    pub count: u64,
    pub latency: Latency,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpSummary {
    pub requests: u64,
    /// Every answer (and transport error) per second.
    pub rps: f64,
    /// 2xx answers per second.
    pub ok_rps: f64,
    pub latency: Latency,
    pub statuses: BTreeMap<String, StatusSummary>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_counts_by_status() {
        let mut a = Stats::default();
        a.record("login", Status::Code(200), Duration::from_millis(20))
            .unwrap();
        a.record("login", Status::Code(503), Duration::from_micros(300))
            .unwrap();
        let mut b = Stats::default();
        b.record("login", Status::Code(200), Duration::from_millis(40))
            .unwrap();
        b.record("verify", Status::Error, Duration::from_millis(1))
            .unwrap();
        a.merge(&b).unwrap();
        let login = a.ops["login"].summary(Duration::from_secs(1));
        assert_eq!(login.requests, 3);
        assert_eq!(login.statuses["200"].count, 2);
        assert_eq!(login.statuses["503"].count, 1);
        assert!((login.ok_rps - 2.0).abs() < 1e-9);
        let total = a.total().unwrap().summary(Duration::from_secs(2));
        assert_eq!(total.requests, 4);
        assert_eq!(total.statuses["error"].count, 1);
    }
}
