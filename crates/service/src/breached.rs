//! The breached-password check: is a new password in the Pwned Passwords
//! list? Two sources, either or both:
//!
//! - a local file in the Pwned Passwords format (`SHA1-HEX:COUNT` lines,
//!   sorted by hash, CR LF or LF line ends), searched by binary search over
//!   byte offsets, so a 30+ GB file costs a few dozen small reads, never its
//!   size in memory;
//! - a k-anonymity range API (`{range_url}/range/{first 5 hex}` answering
//!   `SUFFIX:COUNT` lines, like api.pwnedpasswords.com): only the first five
//!   hex digits of the hash leave the server.
//!
//! When a source cannot answer (timeout, error, unreadable file) the check
//! fails open (the password is accepted and a warning logged) or, with
//! `fail_closed`, the request gets `503` with `Retry-After`.
//!
//! The sources are configured by [`BreachedConfig`] (defined and checked in
//! [`crate::config`], re-exported here); the file's line format is read by
//! `crate::pwned_file`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::{Error, Password};
use sha1::{Digest, Sha1};

pub use crate::config::BreachedConfig;
use crate::outbound::Fetch;
use crate::pwned_file::{MAX_LINE, line_at, next_line_start, parse_line, read_at, trim_cr};

/// Below this many bytes the search reads the rest in one go and scans it.
const SCAN_BYTES: u64 = 8 * 1024;
/// A range answer larger than this is refused (a real one is ~40 KiB).
const MAX_RANGE_BODY: usize = 4 * 1024 * 1024;
/// What a fail-closed check tells the client to wait before retrying.
const RETRY_AFTER_SECS: u32 = 5;

/// The uppercase hex SHA-1 of a password, as the lists hold it.
pub fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// What one source said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// In the list, seen this many times.
    Breached(u64),
    NotFound,
}

/// The configured sources, ready to ask.
#[derive(Debug, Clone)]
pub struct BreachedChecker {
    file: Option<PathBuf>,
    range: Option<(Arc<dyn Fetch>, String)>,
    timeout: Duration,
    fail_closed: bool,
}

impl BreachedChecker {
    /// The checker for `config`; the range API, if configured, is asked
    /// through `fetch`.
    pub fn new(config: &BreachedConfig, fetch: Arc<dyn Fetch>) -> Result<Self, String> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let range = if config.range_url.is_empty() {
            None
        } else {
            Some((fetch, config.range_url.clone()))
        };
        Ok(Self {
            file: config.file.clone(),
            range,
            timeout,
            fail_closed: config.fail_closed,
        })
    }

    pub fn is_configured(&self) -> bool {
        self.file.is_some() || self.range.is_some()
    }

    /// Whether the password is known to be breached. A source that cannot
    /// answer is skipped (fail open) or makes this an `Overloaded` error
    /// (fail closed).
    pub async fn is_breached(&self, password: &Password) -> Result<bool, Error> {
        if !self.is_configured() {
            return Ok(false);
        }
        let hash = sha1_hex(password.as_bytes());
        let mut failure = None;
        if let Some(path) = self.file.clone() {
            let target = hash.clone();
            let found = tokio::task::spawn_blocking(move || search_file(&path, &target))
                .await
                .map_err(|e| io::Error::other(e.to_string()))
                .and_then(|r| r);
            match found {
                Ok(Finding::Breached(_)) => return Ok(record("breached")),
                Ok(Finding::NotFound) => {}
                Err(e) => failure = Some(format!("breached.file: {e}")),
            }
        }
        if let Some((client, base)) = &self.range {
            let asked = query_range(client.as_ref(), base, &hash, self.timeout);
            match tokio::time::timeout(self.timeout, asked).await {
                Ok(Ok(Finding::Breached(_))) => return Ok(record("breached")),
                Ok(Ok(Finding::NotFound)) => {}
                Ok(Err(e)) => failure = Some(format!("breached.range_url: {e}")),
                Err(_) => {
                    failure = Some(format!(
                        "breached.range_url: no answer within {} ms",
                        self.timeout.as_millis()
                    ));
                }
            }
        }
        match failure {
            None => Ok(record("clean")),
            Some(reason) if self.fail_closed => {
                tracing::warn!(%reason, "breached-password check failed; refusing (fail_closed)");
                record("error");
                Err(Error::Overloaded {
                    retry_after_secs: RETRY_AFTER_SECS,
                })
            }
            Some(reason) => {
                tracing::warn!(%reason, "breached-password check failed; accepting (fail open)");
                Ok(record("error"))
            }
        }
    }
}

/// Counts a check by its result; answers whether that result is a breach.
fn record(result: &'static str) -> bool {
    metrics::counter!("latchkey_password_breached_checks_total", "result" => result).increment(1);
    result == "breached"
}

/// Asks the range API for the hash's first five hex digits and looks for
/// the rest in the answer. Padding lines (count 0) are not breaches.
pub async fn query_range(
    client: &dyn Fetch,
    base: &str,
    hash: &str,
    timeout: Duration,
) -> Result<Finding, String> {
    let (prefix, suffix) = hash.split_at(5);
    let url = format!("{base}/range/{prefix}");
    let body = client
        .get(&url, &[("Add-Padding", "true")], timeout, MAX_RANGE_BODY)
        .await?;
    for line in body.split(|&b| b == b'\n') {
        if let Some((key, count)) = parse_line(trim_cr(line), 35)
            && key.eq_ignore_ascii_case(suffix.as_bytes())
        {
            return Ok(if count > 0 {
                Finding::Breached(count)
            } else {
                Finding::NotFound
            });
        }
    }
    Ok(Finding::NotFound)
}

/// Looks a hash (40 hex digits) up in a sorted Pwned Passwords file.
pub fn search_file(path: &Path, hash: &str) -> io::Result<Finding> {
    search_file_in_steps(path, hash, SCAN_BYTES)
}

/// [`search_file`], scanning linearly once the range is `scan_bytes` or
/// less (small in tests, so that small files exercise the bisection).
#[doc(hidden)]
pub fn search_file_in_steps(path: &Path, hash: &str, scan_bytes: u64) -> io::Result<Finding> {
    let target = hash.to_ascii_uppercase().into_bytes();
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    // The target's line, if present, starts in [lo, hi); lo is a line start.
    let (mut lo, mut hi) = (0_u64, len);
    while hi - lo > scan_bytes.max(1) {
        let mid = lo + (hi - lo) / 2;
        let start = next_line_start(&mut file, mid, len)?;
        if start >= hi {
            hi = mid;
            continue;
        }
        let line = line_at(&mut file, start)?.unwrap_or_default();
        match compare(&line, &target) {
            std::cmp::Ordering::Equal => return Ok(found(&line)),
            std::cmp::Ordering::Less => lo = start,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    // Few lines left: read them (and the whole of the last one) at once.
    let span = usize::try_from(hi - lo).map_err(io::Error::other)?;
    let mut chunk = vec![0; span + MAX_LINE];
    let n = read_at(&mut file, lo, &mut chunk)?;
    chunk.truncate(n);
    let mut offset = 0;
    while offset < span && offset < chunk.len() {
        let end = chunk[offset..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(chunk.len(), |i| offset + i);
        let line = trim_cr(&chunk[offset..end]);
        match compare(line, &target) {
            std::cmp::Ordering::Equal => return Ok(found(line)),
            std::cmp::Ordering::Greater => break,
            std::cmp::Ordering::Less => offset = end + 1,
        }
    }
    Ok(Finding::NotFound)
}

fn found(line: &[u8]) -> Finding {
    match parse_line(line, 40) {
        Some((_, count)) if count > 0 => Finding::Breached(count),
        _ => Finding::NotFound,
    }
}

/// Orders a line's hash against the target, without regard to case (the
/// order of hex digits is the same in either case). A line without a hash
/// (a blank last line) sorts after everything.
fn compare(line: &[u8], target: &[u8]) -> std::cmp::Ordering {
    let key = line.split(|&b| b == b':').next().unwrap_or_default();
    if key.is_empty() {
        return std::cmp::Ordering::Greater;
    }
    key.iter()
        .map(u8::to_ascii_uppercase)
        .cmp(target.iter().copied())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// A sorted list of `n` generated passwords' hashes, with its entries.
    fn list(n: usize, line_end: &str, dir: &Path) -> (PathBuf, Vec<(String, u64)>) {
        let mut entries: Vec<(String, u64)> = (0..n)
            .map(|i| (sha1_hex(format!("password-{i}").as_bytes()), i as u64 + 1))
            .collect();
        entries.sort();
        let path = dir.join(format!("pwned-{n}-{}.txt", line_end.len()));
        let mut f = File::create(&path).unwrap();
        for (hash, count) in &entries {
            write!(f, "{hash}:{count}{line_end}").unwrap();
        }
        (path, entries)
    }

    #[test]
    fn every_entry_is_found_and_neighbours_are_not_at_any_step_size() {
        let dir = tempfile::tempdir().unwrap();
        for line_end in ["\n", "\r\n"] {
            let (path, entries) = list(300, line_end, dir.path());
            for scan in [1, 7, 64, 1000, SCAN_BYTES] {
                for (hash, count) in &entries {
                    assert_eq!(
                        search_file_in_steps(&path, hash, scan).unwrap(),
                        Finding::Breached(*count),
                        "{hash} with scan {scan}"
                    );
                }
                for i in 300..400 {
                    let miss = sha1_hex(format!("password-{i}").as_bytes());
                    assert_eq!(
                        search_file_in_steps(&path, &miss, scan).unwrap(),
                        Finding::NotFound
                    );
                }
                for edge in ["0".repeat(40), "F".repeat(40)] {
                    assert_eq!(
                        search_file_in_steps(&path, &edge, scan).unwrap(),
                        Finding::NotFound
                    );
                }
            }
        }
    }

    #[test]
    fn no_final_line_end_a_blank_last_line_and_a_one_line_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = format!("{}:3", "A".repeat(40));
        let b = format!("{}:9", "B".repeat(40));
        for (name, text) in [
            ("no-end", format!("{a}\n{b}")),
            ("blank", format!("{a}\r\n{b}\r\n\r\n")),
            ("one", format!("{b}\n")),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            for scan in [1, 5, SCAN_BYTES] {
                let hit = search_file_in_steps(&path, &"b".repeat(40), scan).unwrap();
                assert_eq!(hit, Finding::Breached(9), "{name}");
                let miss = search_file_in_steps(&path, &"C".repeat(40), scan).unwrap();
                assert_eq!(miss, Finding::NotFound, "{name}");
            }
        }
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(
            search_file(&empty, &"A".repeat(40)).unwrap(),
            Finding::NotFound
        );
    }

    #[test]
    fn a_file_of_other_lines_is_an_error_not_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk");
        std::fs::write(&path, vec![b'x'; 100_000]).unwrap();
        assert!(search_file(&path, &"A".repeat(40)).is_err());
    }

    #[test]
    fn sha1_is_uppercase_hex() {
        // The well-known Pwned Passwords entry for "password".
        assert_eq!(
            sha1_hex(b"password"),
            "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
        );
    }
}
