//! Where configuration comes from, each layer over the one before:
//! defaults, a TOML file, `LATCHKEY_*` environment variables (the table
//! below), then command-line [`Overrides`].

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::{Config, ConfigError, Overrides, invalid};

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
    ("RATE_LIMIT_IPV6_PREFIX", "rate_limit.ipv6_prefix"),
    ("UI_PRODUCT_NAME", "ui.product_name"),
    ("UI_ACCENT_COLOR", "ui.accent_color"),
    ("UI_LOGO_URL", "ui.logo_url"),
    ("UI_RETURN_TO_ORIGINS", "ui.return_to_origins"),
    ("UI_THEME_DIR", "ui.theme_dir"),
];

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
}
