//! Rate limits and lockout, counted in the ephemeral store (in process, or
//! Redis shared by every node). Accounts are named by a hash of the login
//! identifier, so unknown names are throttled exactly like real accounts and
//! no address is written to Redis.

use latchkey_core::throttle::Limit;
use latchkey_core::{Email, Error, Username};
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

    fn hashed(kind: &str, key: &str) -> Self {
        let digest = Sha256::digest(format!("{kind}:{key}").as_bytes());
        Self(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
        let ip = client.ip.as_deref().unwrap_or("unknown");
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

    /// Lets a password check through unless the name is locked or has used
    /// up its attempts. Every admitted check is counted first, so concurrent
    /// guesses are counted exactly and at most `threshold` get through.
    pub(crate) async fn admit_login(&self, who: &Identifier) -> Result<(), Error> {
        let now = self.clock.now();
        let policy = self.config.lockout;
        let lock = format!("lk:lock:{}", who.as_str());
        let result = async {
            if let Some((locked_at, left)) = self.ephemeral.get(&lock, now).await? {
                if self.unlocked_since(who, locked_at).await {
                    self.lift_lock(who).await;
                } else {
                    return Ok(Err(Error::TooManyAttempts {
                        retry_after_secs: left,
                    }));
                }
            }
            let (hour, hour_left) = self
                .ephemeral
                .hit(&format!("lk:hour:{}", who.as_str()), 3600, now)
                .await?;
            if hour > policy.hourly_cap {
                return Ok(Err(Error::TooManyAttempts {
                    retry_after_secs: hour_left,
                }));
            }
            let (tries, _) = self
                .ephemeral
                .hit(&format!("lk:try:{}", who.as_str()), policy.lock_secs, now)
                .await?;
            if tries > policy.threshold {
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
    pub(crate) async fn login_failed(&self, who: &Identifier) {
        let now = self.clock.now();
        let key = format!("lk:try:{}", who.as_str());
        if let Ok(Some((tries, _))) = self.ephemeral.get(&key, now).await
            && u64::try_from(tries).unwrap_or(0) >= self.config.lockout.threshold
        {
            self.lock(who).await;
        }
    }

    /// A correct password clears the count and the growth of lock periods.
    pub(crate) async fn login_succeeded(&self, who: &Identifier) {
        for prefix in ["lk:try:", "lk:locks:"] {
            let _ = self
                .ephemeral
                .remove(&format!("{prefix}{}", who.as_str()))
                .await;
        }
    }

    /// Locks the name (if not already) for a period that grows with each
    /// lockout in a day; answers with the time left.
    pub(crate) async fn lock(&self, who: &Identifier) -> Error {
        let now = self.clock.now();
        let policy = self.config.lockout;
        let lock = format!("lk:lock:{}", who.as_str());
        if let Ok(Some((_, left))) = self.ephemeral.get(&lock, now).await {
            return Error::TooManyAttempts {
                retry_after_secs: left,
            };
        }
        let n = self
            .ephemeral
            .hit(&format!("lk:locks:{}", who.as_str()), 86_400, now)
            .await
            .map_or(1, |(n, _)| n);
        let secs = policy.lock_duration(n);
        let _ = self.ephemeral.put(&lock, now, secs, now).await;
        let _ = self
            .ephemeral
            .remove(&format!("lk:try:{}", who.as_str()))
            .await;
        metrics::counter!("latchkey_auth_account_lockouts_total").increment(1);
        tracing::warn!(
            lock_secs = secs,
            lockouts_today = n,
            "login locked after repeated failures"
        );
        let detail = serde_json::json!({ "identifier": who.as_str(), "lock_secs": secs, "lockouts_today": n });
        self.audit(
            latchkey_core::audit::AuditKind::Lockout,
            "locked",
            None,
            None,
            detail,
        )
        .await;
        Error::TooManyAttempts {
            retry_after_secs: secs,
        }
    }

    /// Ends a lock and its counters (after a password reset, or an unlock).
    pub(crate) async fn lift_lock(&self, who: &Identifier) {
        for prefix in ["lk:lock:", "lk:try:", "lk:locks:", "lk:hour:"] {
            let _ = self
                .ephemeral
                .remove(&format!("{prefix}{}", who.as_str()))
                .await;
        }
    }

    pub(crate) async fn unlocked_since(&self, who: &Identifier, locked_at: i64) -> bool {
        matches!(self.store.last_unlock(who.as_str()).await, Ok(Some(at)) if at > locked_at)
    }

    /// Lifts the locks on an account's names, on every node: recorded in the
    /// database (which in-process counters consult) and removed from the
    /// ephemeral store (which Redis shares).
    pub(crate) async fn lift_account_locks(&self, user: &latchkey_core::User) -> Result<(), Error> {
        let names: Vec<Identifier> = user
            .email
            .iter()
            .map(Identifier::email)
            .chain(user.username.iter().map(Identifier::username))
            .collect();
        let keys: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
        self.store.record_unlock(&keys, self.clock.now()).await?;
        for name in &names {
            self.lift_lock(name).await;
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
