//! The configuration's `[section]` tables (everything but the top-level
//! keys), each with its defaults. Their checks are in `validate`.

use std::path::PathBuf;

use latchkey_core::throttle::Limit;
use serde::{Deserialize, Serialize};

use super::list_or_csv;

/// Per-IP and per-account request limits, each `"N/window"` or `"off"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Per-IP limits count an IPv6 client by this many leading bits of its
    /// address (32 to 128): one client usually holds a whole /64.
    pub ipv6_prefix: u8,
    pub login_per_ip: Limit,
    pub login_per_account: Limit,
    pub signup_per_ip: Limit,
    pub forgot_per_ip: Limit,
    pub forgot_per_account: Limit,
    pub resend_per_ip: Limit,
    pub resend_per_account: Limit,
    pub refresh_per_ip: Limit,
}

impl Default for RateLimits {
    /// Loose enough for an office behind one address, tight enough that a
    /// single source cannot hammer: SUMA's WAF allows 300 requests per 5
    /// minutes per IP, SanctumTools planned 5 reset requests per 15 minutes.
    fn default() -> Self {
        Self {
            ipv6_prefix: 64,
            login_per_ip: Limit::per(60, 60),
            login_per_account: Limit::per(20, 60),
            signup_per_ip: Limit::per(20, 3600),
            forgot_per_ip: Limit::per(5, 900),
            forgot_per_account: Limit::per(3, 3600),
            resend_per_ip: Limit::per(5, 900),
            resend_per_account: Limit::per(3, 3600),
            refresh_per_ip: Limit::per(600, 60),
        }
    }
}

/// SMTP delivery. With no host, messages are written as `.eml` files under
/// the data directory instead (the embedded default).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    /// 0 means the TLS mode's usual port: 25, 587 or 465.
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    #[serde(skip_serializing)]
    pub password: String,
    /// Empty means `<product name> <noreply@host of the public URL>`.
    pub from: String,
    pub timeout_secs: u64,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 0,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: String::new(),
            from: String::new(),
            timeout_secs: 15,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// A directory whose templates override the embedded ones, file by file.
    pub templates_dir: Option<PathBuf>,
    pub product_name: String,
    /// Path (under the public URL) of the link in verification emails.
    pub verify_path: String,
    /// Path (under the public URL) of the link in password reset emails.
    pub reset_path: String,
    pub verification_ttl_secs: i64,
    pub reset_ttl_secs: i64,
    /// Delivery attempts before a message is marked dead.
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long.
    pub retry_base_secs: i64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            templates_dir: None,
            product_name: "Latchkey".into(),
            verify_path: "/verify-email".into(),
            reset_path: "/reset-password".into(),
            verification_ttl_secs: 24 * 3600,
            reset_ttl_secs: 3600,
            max_attempts: 5,
            retry_base_secs: 30,
        }
    }
}

/// Branding of the hosted pages, and where they may send a user back to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    pub product_name: String,
    /// `#rgb` or `#rrggbb`; empty keeps the stylesheet's colour.
    pub accent_color: String,
    /// A path on this server (`/…`) or an `https://` URL; empty shows none.
    /// The pages' CSP allows images from this origin only.
    pub logo_url: String,
    /// Origins (`https://app.example.com`) that `return_to` on `/login`
    /// may point at; relative paths are always allowed.
    #[serde(deserialize_with = "list_or_csv")]
    pub return_to_origins: Vec<String>,
    /// A directory whose files replace the embedded page templates, the
    /// stylesheet (`latchkey.css`) or the messages (`messages.json`), file
    /// by file; checked at start-up.
    pub theme_dir: Option<PathBuf>,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            product_name: "Latchkey".into(),
            accent_color: String::new(),
            logo_url: String::new(),
            return_to_origins: Vec::new(),
            theme_dir: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// `EdDSA` (default), `ES256` or `RS256`.
    pub algorithm: String,
    pub audience: String,
    pub access_ttl_secs: i64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            algorithm: "EdDSA".into(),
            audience: "latchkey".into(),
            access_ttl_secs: 15 * 60,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashPoolConfig {
    /// Threads hashing passwords; 0 means one per core.
    pub threads: usize,
    /// Hash jobs allowed to wait; beyond it requests get 503. 0 means 8 per thread.
    pub queue: usize,
}

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
