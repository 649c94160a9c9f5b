//! The configuration's checks: every value against its allowed range or
//! form, each error naming its key; and the values derived from others
//! (the database URL, the public URL, the sender, the SMTP port) filled in.

use std::fs::File;
use std::net::SocketAddr;

use super::{BreachedConfig, COMPAT_SETS, Config, ConfigError, SmtpTls, UiConfig, invalid};
use crate::pwned_file::{line_at, parse_line};

impl Config {
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
        if !self.redis_url.is_empty() {
            // Only the form is checked here: a Redis that does not answer
            // is no reason to stay down (the node counts on its own).
            let scheme = url::Url::parse(&self.redis_url)
                .ok()
                .map(|u| u.scheme().to_owned());
            if !matches!(
                scheme.as_deref(),
                Some("redis" | "rediss" | "redis+unix" | "unix" | "valkey" | "valkeys")
            ) {
                return Err(invalid(
                    "redis_url",
                    "must be a URL like redis://host:6379 or rediss://host:6379",
                ));
            }
        }
        if !(32..=128).contains(&self.rate_limit.ipv6_prefix) {
            return Err(invalid(
                "rate_limit.ipv6_prefix",
                "must be between 32 and 128",
            ));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_prefix_and_redis_url_are_checked() {
        for (prefix, ok) in [
            (31, false),
            (32, true),
            (64, true),
            (128, true),
            (129, false),
        ] {
            let mut c = Config::default();
            c.rate_limit.ipv6_prefix = prefix;
            let got = c.validate();
            assert_eq!(got.is_ok(), ok, "{prefix}");
            if let Err(e) = got {
                assert!(e.0.starts_with("rate_limit.ipv6_prefix"), "{}", e.0);
            }
        }
        for (url, ok) in [
            ("redis://127.0.0.1:6379", true),
            ("rediss://cache.example.com", true),
            ("http://127.0.0.1:6379", false),
            ("127.0.0.1:6379", false),
        ] {
            let mut c = Config {
                redis_url: url.into(),
                ..Config::default()
            };
            let got = c.validate();
            assert_eq!(got.is_ok(), ok, "{url}");
            if let Err(e) = got {
                assert!(e.0.starts_with("redis_url"), "{}", e.0);
            }
        }
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
}
