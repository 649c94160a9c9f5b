//! The password policy as a whole: the core's pure rules (length,
//! composition, no email local part or username), the breached-password
//! lists, and the user's recent passwords. Every failed rule is named.

use latchkey_core::password::{PasswordContext, PasswordRule, RuleFailure};
use latchkey_core::password_hash::Verdict;
use latchkey_core::{Email, Error, Password, User, UserId, Username};
use latchkey_store::Write;

/// How the hash-pool job for a replacement password ended.
enum Replacement {
    Hash(String),
    CurrentPasswordWrong,
    Reused,
    Failed(String),
}

use crate::context::Ctx;

impl Ctx {
    /// What a password must not contain, from the account it is for.
    pub(crate) fn password_context<'a>(
        email: Option<&'a Email>,
        username: Option<&'a Username>,
    ) -> PasswordContext<'a> {
        PasswordContext {
            email_local_part: email.map(Email::local_part),
            username: username.map(Username::as_str),
        }
    }

    /// The argon2id hash of an acceptable new password, made on the pool.
    pub(crate) async fn hash_new_password(
        &self,
        password: &str,
        context: PasswordContext<'_>,
    ) -> Result<String, Error> {
        let password = self.acceptable_password(password, context).await?;
        let hasher = self.hasher.clone();
        self.pool
            .run(move || hasher.hash(&password))
            .await?
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// A new password checked against every rule that needs no hashing: the
    /// configured policy and the breached-password lists. All failed rules
    /// are listed together.
    pub(crate) async fn acceptable_password(
        &self,
        raw: &str,
        context: PasswordContext<'_>,
    ) -> Result<Password, Error> {
        let policy = &self.config.password;
        let parsed = Password::parse_new(raw, policy, context);
        // Over the size bound nothing is looked up; otherwise the lists are
        // asked even when another rule failed, so the answer names them all.
        let breached = match Password::parse_attempt(raw) {
            Some(candidate) => match self.breached.is_breached(&candidate).await {
                Ok(breached) => breached,
                // Refused anyway: the other failures are the answer.
                Err(_) if parsed.is_err() => false,
                Err(e) => return Err(e),
            },
            None => false,
        };
        let failed = match parsed {
            Ok(password) if !breached => return Ok(password),
            Ok(_) => vec![PasswordRule::Breached.failure(policy)],
            Err(mut failed) => {
                if breached {
                    failed.push(PasswordRule::Breached.failure(policy));
                }
                failed
            }
        };
        Err(refused(failed))
    }

    /// Hashes `new` as the user's next password in one job on the hash
    /// pool: with `current`, first checks that the caller knows the current
    /// password; then refuses the current password and the previous ones
    /// the history keeps (`password.history` in all, legacy formats too).
    /// Costs one hash per password compared, so it runs only at change
    /// and reset, never at sign-up.
    pub(crate) async fn replacement_hash(
        &self,
        user: &User,
        new: Password,
        current: Option<Password>,
    ) -> Result<String, Error> {
        let history = self.config.password.history;
        let mut recent = Vec::new();
        if history > 0 {
            recent.push(user.password_hash.clone());
        }
        if history > 1 {
            let previous = u32::try_from(history - 1).unwrap_or(u32::MAX);
            recent.extend(self.store.password_history(user.id, previous).await?);
        }
        let stored = user.password_hash.clone();
        let hasher = self.hasher.clone();
        let outcome = self
            .pool
            .run(move || {
                if let Some(current) = current
                    && matches!(hasher.verify(&current, Some(&stored)), Verdict::Mismatch)
                {
                    return Replacement::CurrentPasswordWrong;
                }
                let reused = recent
                    .iter()
                    .any(|old| matches!(hasher.verify(&new, Some(old)), Verdict::Match { .. }));
                if reused {
                    return Replacement::Reused;
                }
                match hasher.hash(&new) {
                    Ok(hash) => Replacement::Hash(hash),
                    Err(e) => Replacement::Failed(e.to_string()),
                }
            })
            .await?;
        match outcome {
            Replacement::Hash(hash) => Ok(hash),
            Replacement::CurrentPasswordWrong => Err(Error::CurrentPasswordWrong),
            Replacement::Reused => Err(refused(vec![
                PasswordRule::Reused.failure(&self.config.password),
            ])),
            Replacement::Failed(e) => Err(Error::Internal(e)),
        }
    }

    /// The write that keeps the outgoing hash in the user's history; it
    /// goes just before the [`Write::SetPassword`] that replaces it.
    pub(crate) fn password_history_write(&self, user: UserId) -> Write {
        let keep = self.config.password.history.saturating_sub(1);
        Write::RecordPasswordHistory {
            user,
            keep: u32::try_from(keep).unwrap_or(u32::MAX),
        }
    }
}

/// The weak-password error, counted by rule.
fn refused(failed: Vec<RuleFailure>) -> Error {
    for failure in &failed {
        metrics::counter!("latchkey_password_rejected_total", "rule" => failure.rule.as_str())
            .increment(1);
    }
    Error::WeakPassword(failed)
}
