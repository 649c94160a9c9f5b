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

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::{Error, Password};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::config::ConfigError;
use crate::outbound::Fetch;

/// The longest line the file may hold: 40 hex digits, `:`, a count, CR LF.
const MAX_LINE: usize = 256;
/// Below this many bytes the search reads the rest in one go and scans it.
const SCAN_BYTES: u64 = 8 * 1024;
/// A range answer larger than this is refused (a real one is ~40 KiB).
const MAX_RANGE_BODY: usize = 4 * 1024 * 1024;
/// What a fail-closed check tells the client to wait before retrying.
const RETRY_AFTER_SECS: u32 = 5;

/// `[breached]`: where to look for breached passwords. Nothing set, no check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreachedConfig {
    /// A local Pwned Passwords file (SHA-1, sorted by hash).
    pub file: Option<PathBuf>,
    /// A range API base URL, e.g. `https://api.pwnedpasswords.com`; empty is off.
    pub range_url: String,
    /// The range API's whole exchange must finish within this.
    pub timeout_ms: u64,
    /// When a source cannot answer: refuse (503) instead of accepting.
    pub fail_closed: bool,
}

impl Default for BreachedConfig {
    fn default() -> Self {
        Self {
            file: None,
            range_url: String::new(),
            timeout_ms: 2000,
            fail_closed: false,
        }
    }
}

fn invalid(key: &str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{key}: {problem}"))
}

impl BreachedConfig {
    /// Checks the values, naming the key at fault; the file must exist and
    /// start with a SHA-1 line (an NTLM list would never match).
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.file {
            if !path.is_file() {
                return Err(invalid(
                    "breached.file",
                    format!("no such file: {}", path.display()),
                ));
            }
            let first = File::open(path)
                .and_then(|mut f| line_at(&mut f, 0))
                .map_err(|e| invalid("breached.file", format!("{}: {e}", path.display())))?;
            match first {
                Some(line) if parse_line(&line, 40).is_some() => {}
                Some(_) => {
                    return Err(invalid(
                        "breached.file",
                        format!(
                            "{} does not look like a SHA-1 Pwned Passwords list \
                             (lines of 40 hex digits, ':' and a count)",
                            path.display()
                        ),
                    ));
                }
                None => {
                    return Err(invalid(
                        "breached.file",
                        format!("{} is empty", path.display()),
                    ));
                }
            }
        }
        self.range_url = self.range_url.trim().trim_end_matches('/').to_owned();
        if !self.range_url.is_empty() {
            let url = url::Url::parse(&self.range_url).map_err(|e| {
                invalid(
                    "breached.range_url",
                    format!("{:?} is not a URL: {e}", self.range_url),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https")
                || url.host().is_none()
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(invalid(
                    "breached.range_url",
                    "must be an http:// or https:// URL with a host and no query",
                ));
            }
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(invalid(
                "breached.timeout_ms",
                "must be between 1 and 60000",
            ));
        }
        Ok(())
    }
}

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

/// `HEX:COUNT` with `hex_len` hex digits; `None` if the line is not that.
fn parse_line(line: &[u8], hex_len: usize) -> Option<(&[u8], u64)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (key, count) = (&line[..colon], &line[colon + 1..]);
    if key.len() != hex_len || !key.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let count = std::str::from_utf8(count).ok()?.trim().parse().ok()?;
    Some((key, count))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads from `pos` until `buf` is full or the file ends.
fn read_at(file: &mut File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(pos))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The line that starts at `start`, without its line end; `None` at the end.
fn line_at(file: &mut File, start: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = [0; MAX_LINE];
    let n = read_at(file, start, &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    let end = match buf[..n].iter().position(|&b| b == b'\n') {
        Some(i) => i,
        None if n < MAX_LINE => n,
        None => return Err(too_long(start)),
    };
    Ok(Some(trim_cr(&buf[..end]).to_vec()))
}

/// The first line start at or after `pos` (> 0); the file's length if none.
fn next_line_start(file: &mut File, pos: u64, len: u64) -> io::Result<u64> {
    let mut buf = [0; MAX_LINE];
    let n = read_at(file, pos - 1, &mut buf)?;
    match buf[..n].iter().position(|&b| b == b'\n') {
        Some(i) => Ok(pos + i as u64),
        None if pos - 1 + n as u64 >= len => Ok(len),
        None => Err(too_long(pos)),
    }
}

fn too_long(at: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("no line end within {MAX_LINE} bytes of offset {at}: not a Pwned Passwords file"),
    )
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
    fn config_names_the_key_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let missing = BreachedConfig {
            file: Some(dir.path().join("nope.txt")),
            ..BreachedConfig::default()
        };
        let e = missing.clone().validate().unwrap_err().0;
        assert!(e.starts_with("breached.file: no such file"), "{e}");
        let ntlm = dir.path().join("ntlm.txt");
        std::fs::write(&ntlm, format!("{}:1\n", "A".repeat(32))).unwrap();
        let e = BreachedConfig {
            file: Some(ntlm),
            ..BreachedConfig::default()
        }
        .validate()
        .unwrap_err()
        .0;
        assert!(e.contains("does not look like a SHA-1"), "{e}");
        let e = BreachedConfig {
            range_url: "ftp://example.com".into(),
            ..BreachedConfig::default()
        }
        .validate()
        .unwrap_err()
        .0;
        assert!(e.starts_with("breached.range_url"), "{e}");
        let e = BreachedConfig {
            timeout_ms: 0,
            ..BreachedConfig::default()
        }
        .validate()
        .unwrap_err()
        .0;
        assert!(e.starts_with("breached.timeout_ms"), "{e}");
        let mut ok = BreachedConfig {
            range_url: "https://api.pwnedpasswords.com/".into(),
            ..BreachedConfig::default()
        };
        ok.validate().unwrap();
        assert_eq!(ok.range_url, "https://api.pwnedpasswords.com");
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
