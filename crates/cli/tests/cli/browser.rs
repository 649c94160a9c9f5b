//! The hosted pages in a real browser: runs the Node suite in `ui-tests/`
//! (playwright-core driving Debian's headless chromium, with a real SMTP
//! receiver) against this build of the `latchkey` binary.
//!
//! Needs `node`, `npm` and `/usr/bin/chromium` (or `LATCHKEY_CHROMIUM`).
//! Without them the test is skipped with a notice, except under `CI=true`,
//! where it fails: CI must run it. Screenshots of every test's final page
//! go to `target/ui-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Straight to the terminal: the test harness captures `eprintln!`, and
/// these lines must be seen on a passing run too.
fn tell(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What is missing to run the suite, if anything.
fn missing(chromium: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    for tool in ["node", "npm"] {
        if !has(tool) {
            missing.push(format!("{tool} (apt-get install -y nodejs npm)"));
        }
    }
    if !chromium.is_file() {
        missing.push(format!(
            "{} (apt-get install -y chromium)",
            chromium.display()
        ));
    }
    missing
}

fn hosted_pages_in_a_real_browser() {
    let root = repo();
    let suite = root.join("ui-tests");
    let chromium = std::env::var_os("LATCHKEY_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let missing = missing(&chromium);
    if !missing.is_empty() {
        let what = missing.join(", ");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the browser tests cannot run: missing {what}; .ci/run installs them");
        }
        tell(&format!(
            "\n\
             ************************************************************\n\
             SKIPPED: the browser tests (ui-tests/) need {what}.\n\
             Install with: apt-get install -y chromium nodejs npm\n\
             ************************************************************\n"
        ));
        return;
    }
    if !suite.join("node_modules").is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&suite)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .status()
            .unwrap();
        assert!(status.success(), "npm ci in ui-tests failed");
    }
    let screenshots = root.join("target").join("ui-screenshots");
    let started = Instant::now();
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/"])
        .current_dir(&suite)
        .env("LATCHKEY_BIN", BIN)
        .env("LATCHKEY_CHROMIUM", &chromium)
        .env("UI_SCREENSHOTS", &screenshots)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status()
        .unwrap();
    tell(&format!(
        "browser suite: {:.1} s; screenshots in {}\n",
        started.elapsed().as_secs_f64(),
        screenshots.display()
    ));
    assert!(status.success(), "the browser suite failed (see above)");
}

crate::tests![
    sync hosted_pages_in_a_real_browser,
];
