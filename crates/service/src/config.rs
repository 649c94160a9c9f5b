//! Configuration: defaults, then a TOML file, then `LATCHKEY_*` environment
//! variables, then command-line flags. Unknown keys are refused, and every
//! error names the key it is about.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use latchkey_core::password::PasswordPolicy;
use latchkey_core::password_hash::HashParams;
use latchkey_core::session::SessionPolicy;
use latchkey_core::throttle::Limit;
use serde::{Deserialize, Serialize};

/// Environment variables and the configuration keys they set.
const ENV_KEYS: &[(&str, &str)] = &[
    ("LISTEN", "listen"),
    ("DATA_DIR", "data_dir"),
    ("DATABASE_URL", "database_url"),
    ("PUBLIC_URL", "public_url"),
    ("REQUIRE_VERIFIED_EMAIL", "require_verified_email"),
    ("PASSWORD_MIN_LENGTH", "password.min_length"),
    ("PASSWORD_REQUIRE_UPPERCASE", "password.require_uppercase"),
    ("PASSWORD_REQUIRE_LOWERCASE", "password.require_lowercase"),
    ("PASSWORD_REQUIRE_DIGIT", "password.require_digit"),
    ("PASSWORD_REQUIRE_SYMBOL", "password.require_symbol"),
    ("PASSWORD_HISTORY", "password.history"),
    ("BREACHED_FILE", "breached.file"),
    ("BREACHED_RANGE_URL", "breached.range_url"),
    ("BREACHED_TIMEOUT_MS", "breached.timeout_ms"),
    ("BREACHED_FAIL_CLOSED", "breached.fail_closed"),
    ("ARGON2_MEMORY_KIB", "argon2.memory_kib"),
    ("ARGON2_ITERATIONS", "argon2.iterations"),
    ("ARGON2_PARALLELISM", "argon2.parallelism"),
    ("SESSION_IDLE_TIMEOUT_SECS", "session.idle_timeout_secs"),
    (
        "SESSION_ABSOLUTE_TIMEOUT_SECS",
        "session.absolute_timeout_secs",
    ),
    ("SESSION_CHECK_CACHE_MS", "session.check_cache_ms"),
    ("TOKEN_ALGORITHM", "tokens.algorithm"),
    ("TOKEN_AUDIENCE", "tokens.audience"),
    ("TOKEN_ACCESS_TTL_SECS", "tokens.access_ttl_secs"),
    ("HASH_POOL_THREADS", "hash_pool.threads"),
    ("HASH_POOL_QUEUE", "hash_pool.queue"),
    ("SMTP_HOST", "smtp.host"),
    ("SMTP_PORT", "smtp.port"),
    ("SMTP_TLS", "smtp.tls"),
    ("SMTP_USERNAME", "smtp.username"),
    ("SMTP_PASSWORD", "smtp.password"),
    ("SMTP_FROM", "smtp.from"),
    ("SMTP_TIMEOUT_SECS", "smtp.timeout_secs"),
    ("EMAIL_TEMPLATES_DIR", "email.templates_dir"),
    ("EMAIL_PRODUCT_NAME", "email.product_name"),
    ("EMAIL_VERIFY_PATH", "email.verify_path"),
    ("EMAIL_RESET_PATH", "email.reset_path"),
    ("EMAIL_VERIFICATION_TTL_SECS", "email.verification_ttl_secs"),
    ("EMAIL_RESET_TTL_SECS", "email.reset_ttl_secs"),
    ("EMAIL_MAX_ATTEMPTS", "email.max_attempts"),
    ("EMAIL_RETRY_BASE_SECS", "email.retry_base_secs"),
    ("COMPAT", "compat"),
    ("AUDIT_RETENTION_DAYS", "audit_retention_days"),
    ("REDIS_URL", "redis_url"),
    ("TRUSTED_PROXIES", "trusted_proxies"),
    ("CORS_ORIGINS", "cors_origins"),
    ("LOCKOUT_THRESHOLD", "lockout.threshold"),
    ("LOCKOUT_LOCK_SECS", "lockout.lock_secs"),
    ("LOCKOUT_MAX_LOCK_SECS", "lockout.max_lock_secs"),
    ("LOCKOUT_HOURLY_CAP", "lockout.hourly_cap"),
    ("RATE_LIMIT_LOGIN_PER_IP", "rate_limit.login_per_ip"),
    (
        "RATE_LIMIT_LOGIN_PER_ACCOUNT",
        "rate_limit.login_per_account",
    ),
    ("RATE_LIMIT_SIGNUP_PER_IP", "rate_limit.signup_per_ip"),
    ("RATE_LIMIT_FORGOT_PER_IP", "rate_limit.forgot_per_ip"),
    (
        "RATE_LIMIT_FORGOT_PER_ACCOUNT",
        "rate_limit.forgot_per_account",
    ),
    ("RATE_LIMIT_RESEND_PER_IP", "rate_limit.resend_per_ip"),
    (
        "RATE_LIMIT_RESEND_PER_ACCOUNT",
        "rate_limit.resend_per_account",
    ),
    ("RATE_LIMIT_REFRESH_PER_IP", "rate_limit.refresh_per_ip"),
    ("UI_PRODUCT_NAME", "ui.product_name"),
    ("UI_ACCENT_COLOR", "ui.accent_color"),
    ("UI_LOGO_URL", "ui.logo_url"),
    ("UI_RETURN_TO_ORIGINS", "ui.return_to_origins"),
    ("UI_THEME_DIR", "ui.theme_dir"),
];

/// Compatibility route sets that configuration can switch on.
pub const COMPAT_SETS: &[&str] = &["sanctumtools", "leochilds"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    /// Empty means SQLite inside the data directory.
    pub database_url: String,
    /// Empty means `http://<listen>`. Every link and the token issuer derive from it.
    pub public_url: String,
    pub require_verified_email: bool,
    pub password: PasswordPolicy,
    /// Breached-password lists (a local file, a range API); none by default.
    pub breached: crate::breached::BreachedConfig,
    pub argon2: HashParams,
    pub session: SessionPolicy,
    pub tokens: TokenConfig,
    pub hash_pool: HashPoolConfig,
    pub smtp: SmtpConfig,
    pub email: EmailConfig,
    /// Compatibility routes: `sanctumtools`, `leochilds` (a list, or a
    /// comma-separated string in `LATCHKEY_COMPAT`).
    #[serde(deserialize_with = "list_or_csv")]
    pub compat: Vec<String>,
    /// Redis for counters shared by several nodes; empty keeps them in process.
    pub redis_url: String,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "list_or_csv")]
    pub trusted_proxies: Vec<String>,
    /// Browser origins allowed to call the API; none means CORS is off.
    #[serde(deserialize_with = "list_or_csv")]
    pub cors_origins: Vec<String>,
    pub rate_limit: RateLimits,
    pub lockout: latchkey_core::throttle::LockoutPolicy,
    /// Audit events older than this many days are pruned; 0 keeps them all.
    pub audit_retention_days: u32,
    /// The hosted pages (`/login`, `/signup`, `/account`…).
    pub ui: UiConfig,
    /// Set when `public_url` was derived from `listen` (not configured).
    #[serde(skip)]
    pub public_url_from_listen: bool,
}

/// Per-IP and per-account request limits, each `"N/window"` or `"off"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
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

impl UiConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.product_name.trim().is_empty() || self.product_name.chars().count() > 64 {
            return Err(invalid("ui.product_name", "must be 1 to 64 characters"));
        }
        let c = self.accent_color.as_str();
        let hex = c.strip_prefix('#').unwrap_or("");
        let colour_ok = c.is_empty()
            || (matches!(hex.len(), 3 | 6) && hex.chars().all(|ch| ch.is_ascii_hexdigit()));
        if !colour_ok {
            return Err(invalid(
                "ui.accent_color",
                format!("{c:?} is not a colour like #3b5bdb"),
            ));
        }
        let logo = self.logo_url.as_str();
        let logo_ok = logo.is_empty()
            || (logo.starts_with('/') && !logo.starts_with("//") && !logo.contains('\\'))
            || url::Url::parse(logo).is_ok_and(|u| u.scheme() == "https" && u.host().is_some());
        if !logo_ok || logo.chars().any(char::is_control) {
            return Err(invalid(
                "ui.logo_url",
                "must be a path starting with / or an https:// URL",
            ));
        }
        for origin in &self.return_to_origins {
            let parsed = url::Url::parse(origin).map_err(|_| {
                invalid(
                    "ui.return_to_origins",
                    format!("{origin:?} is not an origin"),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.origin().ascii_serialization() != origin.trim_end_matches('/')
            {
                return Err(invalid(
                    "ui.return_to_origins",
                    format!("{origin:?} must be a bare origin like https://app.example.com"),
                ));
            }
        }
        if let Some(dir) = &self.theme_dir
            && !dir.is_dir()
        {
            return Err(invalid(
                "ui.theme_dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(())
    }
}

fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(v) => v,
        ListOrCsv::Csv(s) => s
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// `EdDSA` (default), `ES256` or `RS256`.
    pub algorithm: String,
    pub audience: String,
    pub access_ttl_secs: i64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashPoolConfig {
    /// Threads hashing passwords; 0 means one per core.
    pub threads: usize,
    /// Hash jobs allowed to wait; beyond it requests get 503. 0 means 8 per thread.
    pub queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./latchkey-data"),
            database_url: String::new(),
            public_url: String::new(),
            require_verified_email: true,
            password: PasswordPolicy::default(),
            breached: crate::breached::BreachedConfig::default(),
            argon2: HashParams::default(),
            session: SessionPolicy::default(),
            tokens: TokenConfig::default(),
            hash_pool: HashPoolConfig::default(),
            smtp: SmtpConfig::default(),
            email: EmailConfig::default(),
            compat: Vec::new(),
            redis_url: String::new(),
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            rate_limit: RateLimits::default(),
            lockout: latchkey_core::throttle::LockoutPolicy::default(),
            audit_retention_days: 400,
            ui: UiConfig::default(),
            public_url_from_listen: false,
        }
    }
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

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// An error about one key: `key: problem`.
pub fn invalid(key: &str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{key}: {problem}"))
}

impl Config {
    /// Reads the layers and checks the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(invalid(
                    "config",
                    format!("no such file: {}", file.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("LATCHKEY_").filter_map(|key| {
            ENV_KEYS
                .iter()
                .find(|(env, _)| key.as_str().eq_ignore_ascii_case(env))
                .map(|(_, path)| (*path).into())
        }));
        let mut config: Config = figment.extract().map_err(|e| {
            let key = if e.path.is_empty() {
                String::from("(top level)")
            } else {
                e.path.join(".")
            };
            invalid(&key, e.kind)
        })?;
        if let Some(v) = &overrides.listen {
            config.listen.clone_from(v);
        }
        if let Some(v) = &overrides.data_dir {
            config.data_dir.clone_from(v);
        }
        if let Some(v) = &overrides.database_url {
            config.database_url.clone_from(v);
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every value and fills in the ones derived from others.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let addr: SocketAddr = self.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{:?} is not an address like 127.0.0.1:8080", self.listen),
            )
        })?;
        if self.database_url.is_empty() {
            self.database_url = latchkey_store::sqlite_url_in(&self.data_dir);
        } else if latchkey_store::Backend::from_url(&self.database_url).is_none() {
            return Err(invalid(
                "database_url",
                "must start with sqlite: or postgres://",
            ));
        }
        if self.public_url.is_empty() {
            self.public_url = format!("http://{addr}");
            self.public_url_from_listen = true;
        }
        let url = url::Url::parse(&self.public_url).map_err(|e| {
            invalid(
                "public_url",
                format!("{:?} is not a URL: {e}", self.public_url),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(
                "public_url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("public_url", "must not have a query or fragment"));
        }
        self.public_url = self.public_url.trim_end_matches('/').to_owned();
        if !(1..=1024).contains(&self.password.min_length) {
            return Err(invalid("password.min_length", "must be between 1 and 1024"));
        }
        if self.password.history > 50 {
            return Err(invalid("password.history", "must be between 0 and 50"));
        }
        self.breached.validate()?;
        latchkey_core::password_hash::Hasher::new(self.argon2).map_err(|e| invalid("argon2", e))?;
        let s = &self.session;
        if s.idle_timeout_secs < 60 {
            return Err(invalid("session.idle_timeout_secs", "must be at least 60"));
        }
        if s.check_cache_ms > 60_000 {
            return Err(invalid(
                "session.check_cache_ms",
                "must be between 0 and 60000",
            ));
        }
        if s.absolute_timeout_secs < s.idle_timeout_secs {
            return Err(invalid(
                "session.absolute_timeout_secs",
                "must not be shorter than session.idle_timeout_secs",
            ));
        }
        if !matches!(self.tokens.algorithm.as_str(), "EdDSA" | "ES256" | "RS256") {
            return Err(invalid(
                "tokens.algorithm",
                format!(
                    "must be EdDSA, ES256 or RS256, not {:?}",
                    self.tokens.algorithm
                ),
            ));
        }
        if !(60..=86_400).contains(&self.tokens.access_ttl_secs) {
            return Err(invalid(
                "tokens.access_ttl_secs",
                "must be between 60 and 86400",
            ));
        }
        if self.tokens.audience.is_empty() {
            return Err(invalid("tokens.audience", "must not be empty"));
        }
        if let Some(unknown) = self
            .compat
            .iter()
            .find(|c| !COMPAT_SETS.contains(&c.as_str()))
        {
            return Err(invalid(
                "compat",
                format!("unknown set {unknown:?}; known: {}", COMPAT_SETS.join(", ")),
            ));
        }
        let e = &self.email;
        for (key, path) in [
            ("email.verify_path", &e.verify_path),
            ("email.reset_path", &e.reset_path),
        ] {
            if !path.starts_with('/') || path.contains(['?', '#']) {
                return Err(invalid(
                    key,
                    "must be a path starting with / and without ? or #",
                ));
            }
        }
        if !(60..=30 * 86_400).contains(&e.verification_ttl_secs) {
            return Err(invalid(
                "email.verification_ttl_secs",
                "must be between 60 and 2592000",
            ));
        }
        if !(60..=86_400).contains(&e.reset_ttl_secs) {
            return Err(invalid(
                "email.reset_ttl_secs",
                "must be between 60 and 86400",
            ));
        }
        if !(1..=50).contains(&e.max_attempts) {
            return Err(invalid("email.max_attempts", "must be between 1 and 50"));
        }
        if !(1..=86_400).contains(&e.retry_base_secs) {
            return Err(invalid(
                "email.retry_base_secs",
                "must be between 1 and 86400",
            ));
        }
        if let Some(dir) = &e.templates_dir
            && !dir.is_dir()
        {
            return Err(invalid(
                "email.templates_dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        self.trusted_proxy_nets()?;
        self.ui.validate()?;
        for origin in &self.cors_origins {
            let parsed = url::Url::parse(origin)
                .map_err(|_| invalid("cors_origins", format!("{origin:?} is not an origin")))?;
            if parsed.origin().ascii_serialization() != origin.trim_end_matches('/') {
                return Err(invalid(
                    "cors_origins",
                    format!("{origin:?} must be a bare origin like https://app.example.com"),
                ));
            }
        }
        let l = &self.lockout;
        if l.threshold == 0 || l.lock_secs == 0 || l.hourly_cap == 0 {
            return Err(invalid(
                "lockout",
                "threshold, lock_secs and hourly_cap must be above 0",
            ));
        }
        if self.smtp.from.is_empty() {
            let host = url
                .host_str()
                .filter(|h| {
                    h.contains('.') && !h.starts_with('[') && h.parse::<std::net::IpAddr>().is_err()
                })
                .unwrap_or("localhost");
            self.smtp.from = format!("{} <noreply@{host}>", self.email.product_name);
        }
        if self.smtp.port == 0 {
            self.smtp.port = match self.smtp.tls {
                SmtpTls::None => 25,
                SmtpTls::Starttls => 587,
                SmtpTls::Tls => 465,
            };
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|_| invalid("listen", "not an address"))
    }

    /// The trusted proxies as networks (a bare address is a /32 or /128).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "trusted_proxies",
                            format!("{p:?} is not an address or CIDR range"),
                        )
                    })
            })
            .collect()
    }

    pub fn compat(&self, set: &str) -> bool {
        self.compat.iter().any(|c| c == set)
    }

    /// A link for an emailed token, always built from the configured public
    /// URL, never from anything in a request.
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.public_url)
    }

    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn hash_threads(&self) -> usize {
        match self.hash_pool.threads {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        }
    }

    pub fn hash_queue(&self) -> usize {
        match self.hash_pool.queue {
            0 => self.hash_threads() * 2,
            n => n,
        }
    }
}
