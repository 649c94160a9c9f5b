//! What `/proc` says about a process (the server, or this generator) and the
//! machine: resident memory, CPU time, load average.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Linux reports CPU times in `/proc/<pid>/stat` in USER_HZ, which is 100 on
/// every architecture the kernel supports today.
const TICKS_PER_SEC: f64 = 100.0;

/// `VmRSS` and `VmHWM` (peak resident) of a process, in KiB.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}

/// User plus system CPU time a process has used so far.
fn cpu_time(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .with_context(|| format!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("unexpected /proc/{pid}/stat"))
    };
    Ok(Duration::from_secs_f64(
        (ticks(11)? + ticks(12)?) / TICKS_PER_SEC,
    ))
}

/// The 1-minute load average.
pub fn load1() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU used by a process between `start` and `stop`, as a percentage of one
/// core (200 % is two cores busy).
#[derive(Debug)]
pub struct CpuMeter {
    pid: String,
    cpu: Duration,
    at: Instant,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> anyhow::Result<Self> {
        let pid = pid.map_or_else(|| "self".to_owned(), |p| p.to_string());
        Ok(Self {
            cpu: cpu_time(&pid)?,
            at: Instant::now(),
            pid,
        })
    }

    pub fn percent(&self) -> anyhow::Result<f64> {
        let used = cpu_time(&self.pid)?.saturating_sub(self.cpu);
        Ok(100.0 * used.as_secs_f64() / self.at.elapsed().as_secs_f64().max(1e-9))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss_kb > 0 && m.hwm_kb >= m.rss_kb);
        let meter = CpuMeter::start(None).unwrap();
        assert!(meter.percent().unwrap() >= 0.0);
    }
}
