//! Rate limits and lockout, counted in the ephemeral store (in process, or
//! Redis shared by every node). Names are counted by a hash of the login
//! identifier, so unknown names are throttled exactly like real accounts and
//! no address is written to Redis; a lockout counts every password check of
//! an account (login by any of its names, the current-password checks of
//! sensitive changes) against one lock.

use std::net::IpAddr;

use latchkey_core::throttle::Limit;
use latchkey_core::{Email, Error, UserId, Username};
use sha2::{Digest, Sha256};

/// What a login names, as the throttle counts it.
#[derive(Debug, Clone)]
pub struct Identifier(String);

impl Identifier {
    pub fn email(e: &Email) -> Self {
        Self::hashed("e", e.key())
    }

    pub fn username(u: &Username) -> Self {
        Self::hashed("u", u.key())
    }

    /// Input that is neither a valid address nor a valid username.
    pub fn raw(input: &str) -> Self {
        Self::hashed("r", &input.trim().to_lowercase())
    }

    /// An account, whichever name it was reached by.
    pub fn account(id: UserId) -> Self {
        Self::hashed("a", &id.to_string())
    }

    /// The second step of a user's logins (its own lockout).
    pub fn mfa(id: UserId) -> Self {
        Self::hashed("m", &id.to_string())
    }

    fn hashed(kind: &str, key: &str) -> Self {
        let digest = Sha256::digest(format!("{kind}:{key}").as_bytes());
        Self(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose password checks one lockout counts: an account, once a name
/// resolves to one (so its email and its username share one count), or
/// the name itself when it names no account (counted exactly alike, so a
/// lockout tells nothing about who has an account).
#[derive(Debug, Clone)]
pub(crate) struct Guarded {
    key: Identifier,
    user: Option<UserId>,
    /// Failures that lock, if not the configured threshold.
    threshold: Option<u64>,
}

/// Wrong second-factor codes that lock the second step.
pub(crate) const MFA_THRESHOLD: u64 = 5;

impl Guarded {
    pub(crate) fn account(user: UserId) -> Self {
        Self {
            key: Identifier::account(user),
            user: Some(user),
            threshold: None,
        }
    }

    /// The second step of a user's logins.
    pub(crate) fn mfa(user: UserId) -> Self {
        Self {
            key: Identifier::mfa(user),
            user: Some(user),
            threshold: Some(MFA_THRESHOLD),
        }
    }

    /// A login name that names no account.
    pub(crate) fn name(who: &Identifier) -> Self {
        Self {
            key: who.clone(),
            user: None,
            threshold: None,
        }
    }

    fn key(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.key.as_str())
    }
}

/// What a per-IP limit counts: the address, IPv4-mapped IPv6 addresses as
/// the IPv4 address they carry, and IPv6 by its first `v6_prefix` bits (one
/// client usually holds a whole /64). The audit trail keeps the full address.
pub(crate) fn ip_key(ip: Option<&str>, v6_prefix: u8) -> String {
    let Some(raw) = ip else {
        return "unknown".into();
    };
    match raw.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => ipnet::Ipv6Net::new(v6, v6_prefix.min(128))
            .map_or_else(|_| v6.to_string(), |net| net.trunc().to_string()),
        Err(_) => raw.to_owned(),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Endpoint {
    Login,
    Signup,
    Forgot,
    Resend,
    Refresh,
}

impl Endpoint {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Signup => "signup",
            Self::Forgot => "forgot_password",
            Self::Resend => "verification_resend",
            Self::Refresh => "token_refresh",
        }
    }
}

use crate::context::{ClientInfo, Ctx};

impl Ctx {
    pub(crate) fn limits(&self, endpoint: Endpoint) -> (Limit, Limit) {
        let l = &self.config.rate_limit;
        match endpoint {
            Endpoint::Login => (l.login_per_ip, l.login_per_account),
            Endpoint::Signup => (l.signup_per_ip, Limit::OFF),
            Endpoint::Forgot => (l.forgot_per_ip, l.forgot_per_account),
            Endpoint::Resend => (l.resend_per_ip, l.resend_per_account),
            Endpoint::Refresh => (l.refresh_per_ip, Limit::OFF),
        }
    }

    /// Counts one request against the endpoint's per-IP and per-account
    /// limits; over either, `429` with the seconds until the window ends.
    pub(crate) async fn rate_limit(
        &self,
        endpoint: Endpoint,
        client: &ClientInfo,
        account: Option<&Identifier>,
    ) -> Result<(), Error> {
        let (per_ip, per_account) = self.limits(endpoint);
        let ip = ip_key(client.ip.as_deref(), self.config.rate_limit.ipv6_prefix);
        self.count(
            endpoint,
            per_ip,
            &format!("lk:rl:{}:ip:{ip}", endpoint.name()),
        )
        .await?;
        if let Some(account) = account {
            let key = format!("lk:rl:{}:acct:{}", endpoint.name(), account.as_str());
            self.count(endpoint, per_account, &key).await?;
        }
        Ok(())
    }

    pub(crate) async fn count(
        &self,
        endpoint: Endpoint,
        limit: Limit,
        key: &str,
    ) -> Result<(), Error> {
        if limit.is_off() {
            return Ok(());
        }
        match self
            .ephemeral
            .hit(key, limit.window_secs, self.clock.now())
            .await
        {
            Ok((count, left)) if count > limit.max => {
                metrics::counter!("latchkey_auth_rate_limited_total", "endpoint" => endpoint.name())
                    .increment(1);
                Err(Error::RateLimited {
                    retry_after_secs: left,
                })
            }
            Ok(_) => Ok(()),
            // Counters are a defence, not the service: without them, serve.
            Err(e) => {
                tracing::warn!(error = %e, "rate limit counter unavailable; not limiting");
                Ok(())
            }
        }
    }

    /// Lets a password check through unless the account (or unknown name)
    /// is locked or has used up its attempts. Every admitted check is
    /// counted first, so concurrent guesses are counted exactly and at most
    /// `threshold` get through.
    pub(crate) async fn admit_login(&self, who: &Guarded) -> Result<(), Error> {
        let now = self.clock.now();
        let policy = self.config.lockout;
        let result = async {
            if let Some((seen, left)) = self.ephemeral.get(&who.key("lk:lock:"), now).await? {
                if self.unlocked_since(&who.key, seen).await {
                    self.lift_lock(&who.key).await;
                } else {
                    return Ok(Err(Error::TooManyAttempts {
                        retry_after_secs: left,
                    }));
                }
            }
            let (hour, hour_left) = self.ephemeral.hit(&who.key("lk:hour:"), 3600, now).await?;
            if hour > policy.hourly_cap {
                return Ok(Err(Error::TooManyAttempts {
                    retry_after_secs: hour_left,
                }));
            }
            let (tries, _) = self
                .ephemeral
                .hit(&who.key("lk:try:"), policy.lock_secs, now)
                .await?;
            if tries > who.threshold.unwrap_or(policy.threshold) {
                return Ok(Err(self.lock(who).await));
            }
            Ok(Ok(()))
        }
        .await;
        match result {
            Ok(answer) => answer,
            Err(e) => {
                let e: latchkey_store::ephemeral::EphemeralError = e;
                tracing::warn!(error = %e, "lockout counters unavailable; not limiting");
                Ok(())
            }
        }
    }

    /// After a wrong password: the attempt that reaches the threshold locks.
    pub(crate) async fn login_failed(&self, who: &Guarded) {
        let now = self.clock.now();
        if let Ok(Some((tries, _))) = self.ephemeral.get(&who.key("lk:try:"), now).await
            && u64::try_from(tries).unwrap_or(0)
                >= who.threshold.unwrap_or(self.config.lockout.threshold)
        {
            self.lock(who).await;
        }
    }

    /// A correct password clears the count and the growth of lock periods.
    pub(crate) async fn login_succeeded(&self, who: &Guarded) {
        for prefix in ["lk:try:", "lk:locks:"] {
            let _ = self.ephemeral.remove(&who.key(prefix)).await;
        }
    }

    /// Locks the account or name (if not already) for a period that grows
    /// with each lockout in a day; answers with the time left. The lock
    /// holds the last unlock recorded when it was set: a later unlock, from
    /// any process, lifts it ([`Self::unlocked_since`]).
    pub(crate) async fn lock(&self, who: &Guarded) -> Error {
        let now = self.clock.now();
        let policy = self.config.lockout;
        let lock = who.key("lk:lock:");
        if let Ok(Some((_, left))) = self.ephemeral.get(&lock, now).await {
            return Error::TooManyAttempts {
                retry_after_secs: left,
            };
        }
        let n = self
            .ephemeral
            .hit(&who.key("lk:locks:"), 86_400, now)
            .await
            .map_or(1, |(n, _)| n);
        let secs = policy.lock_duration(n);
        let seen = match self.store.last_unlock(who.key.as_str()).await {
            Ok(last) => last.unwrap_or(i64::MIN),
            // Unknown: an unlock recorded after this second still lifts it.
            Err(_) => now,
        };
        let _ = self.ephemeral.put(&lock, seen, secs, now).await;
        let _ = self.ephemeral.remove(&who.key("lk:try:")).await;
        metrics::counter!("latchkey_auth_account_lockouts_total").increment(1);
        tracing::warn!(
            lock_secs = secs,
            lockouts_today = n,
            "login locked after repeated failures"
        );
        let detail = serde_json::json!({ "identifier": who.key.as_str(), "lock_secs": secs, "lockouts_today": n });
        self.audit(
            latchkey_core::audit::AuditKind::Lockout,
            "locked",
            who.user,
            None,
            detail,
        )
        .await;
        Error::TooManyAttempts {
            retry_after_secs: secs,
        }
    }

    /// Ends a lock and its counters (after a password reset, or an unlock).
    pub(crate) async fn lift_lock(&self, key: &Identifier) {
        for prefix in ["lk:lock:", "lk:try:", "lk:locks:", "lk:hour:"] {
            let _ = self
                .ephemeral
                .remove(&format!("{prefix}{}", key.as_str()))
                .await;
        }
    }

    /// Whether an unlock was recorded after the lock that saw `seen` was
    /// set: how a node on in-process counters hears of an unlock made by
    /// another process (`latchkey user unlock`, another node).
    pub(crate) async fn unlocked_since(&self, key: &Identifier, seen: i64) -> bool {
        matches!(self.store.last_unlock(key.as_str()).await, Ok(Some(at)) if at > seen)
    }

    /// Lifts the lock on an account, on every node: recorded in the
    /// database (which every node consults when it finds a lock) and
    /// removed from the ephemeral store (which Redis shares).
    pub(crate) async fn lift_account_locks(&self, user: &latchkey_core::User) -> Result<(), Error> {
        // The password's lock and the second step's.
        let keys = [Identifier::account(user.id), Identifier::mfa(user.id)];
        let names: Vec<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
        self.store.record_unlock(&names, self.clock.now()).await?;
        for key in &keys {
            self.lift_lock(key).await;
        }
        self.audit(
            latchkey_core::audit::AuditKind::Unlock,
            "success",
            Some(user.id),
            None,
            serde_json::Value::Null,
        )
        .await;
        Ok(())
    }
}
