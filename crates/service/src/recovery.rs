//! Getting back in and proving an address: email verification, resending
//! it, forgotten password and reset.

use latchkey_core::token::{SecretToken, TokenHash};
use latchkey_core::{Email, Error, SessionId, User, UserId};
use latchkey_store::{EmailTokenRecord, EndReason, NewEmailToken, StoreError, TokenPurpose, Write};
use tracing::instrument;

use latchkey_core::audit::AuditKind;
use serde_json::Value;

use crate::mail::MailKind;
use crate::throttle::{Endpoint, Identifier};

use crate::context::{ClientInfo, Ctx, capability};

capability!(
    /// Email verification and password recovery.
    Recovery
);

impl Recovery {
    /// Confirms an address: a sign-up's, or the new one of an email change.
    /// A confirmed change ends every session of the account but the one
    /// that asked for it (all of them if that is not known), as a password
    /// change does: whoever controlled the old address is signed out.
    #[instrument(skip_all)]
    pub async fn verify_email(&self, token: &str, client: &ClientInfo) -> Result<(), Error> {
        let (hash, record) = self
            .usable_token(
                token,
                &[TokenPurpose::VerifyEmail, TokenPurpose::ChangeEmail],
            )
            .await?;
        let mut writes = vec![Write::ConsumeEmailToken {
            hash,
            purpose: record.purpose,
        }];
        let kind = match record.purpose {
            TokenPurpose::ChangeEmail => AuditKind::EmailChanged,
            _ => AuditKind::EmailVerification,
        };
        match (record.purpose, record.new_email) {
            (TokenPurpose::ChangeEmail, Some(new)) => {
                let email = Email::parse(&new).map_err(|_| Error::TokenInvalid)?;
                writes.push(Write::SetEmail {
                    user: record.user_id,
                    email,
                });
                writes.push(Write::EndSessions {
                    user: record.user_id,
                    except: record.session_id,
                    reason: EndReason::EmailChanged,
                });
            }
            _ => writes.push(Write::MarkEmailVerified {
                user: record.user_id,
            }),
        }
        match self.commit(writes).await {
            Ok(()) => {
                metrics::counter!("latchkey_email_verified_total").increment(1);
                self.audit(
                    kind,
                    "success",
                    Some(record.user_id),
                    Some(client),
                    Value::Null,
                )
                .await;
                Ok(())
            }
            Err(StoreError::TokenUnusable) => Err(Error::TokenExpired),
            Err(StoreError::Conflict(_)) => Err(Error::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a new verification link if the address belongs to an account
    /// that has not verified it. The caller answers the same either way,
    /// and the work happens after the answer, so time tells nothing either.
    pub async fn resend_verification(
        &self,
        email: Email,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        self.rate_limit(Endpoint::Resend, client, Some(&Identifier::email(&email)))
            .await?;
        let permit = self.background_permit()?;
        let app = self.0.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let result = async {
                let Some(user) = app.store.user_by_email(email.key()).await? else {
                    return Ok(());
                };
                let Some(stored) = user
                    .email
                    .as_ref()
                    .filter(|_| !user.email_verified && !user.disabled)
                else {
                    return Ok(());
                };
                app.commit(app.verification_writes(user.id, stored)?)
                    .await?;
                Ok::<(), Error>(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not queue a verification email");
            }
        });
        Ok(())
    }

    /// Sends a reset link to the stored address of an existing, enabled
    /// account; nothing otherwise. Same answer and timing either way.
    pub async fn forgot_password(&self, email: Email, client: &ClientInfo) -> Result<(), Error> {
        self.rate_limit(Endpoint::Forgot, client, Some(&Identifier::email(&email)))
            .await?;
        metrics::counter!("latchkey_password_reset_requests_total").increment(1);
        metrics::counter!("latchkey_auth_password_reset_requests_total").increment(1);
        let permit = self.background_permit()?;
        let app = self.0.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let result = async {
                let Some(user) = app.store.user_by_email(email.key()).await? else {
                    return Ok(());
                };
                let Some(stored) = user.email.as_ref().filter(|_| !user.disabled) else {
                    return Ok(());
                };
                let writes =
                    app.link_writes(user.id, TokenPurpose::ResetPassword, None, None, stored)?;
                app.commit(writes).await?;
                app.audit(
                    AuditKind::PasswordResetRequested,
                    "success",
                    Some(user.id),
                    Some(&client),
                    Value::Null,
                )
                .await;
                Ok::<(), Error>(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not queue a password reset email");
            }
        });
        Ok(())
    }

    /// The address a reset link is for, if the link can still be used.
    pub async fn validate_reset(&self, token: &str) -> Result<String, Error> {
        let (_, record) = self
            .usable_token(token, &[TokenPurpose::ResetPassword])
            .await?;
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(Error::TokenInvalid)?;
        Ok(user.email_str().unwrap_or_default().to_owned())
    }

    /// Sets a new password with a reset link: the link works once, every
    /// session and refresh token of the user ends, other reset links die,
    /// and a notice goes to the account's address.
    #[instrument(skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        let (hash, record) = self
            .usable_token(token, &[TokenPurpose::ResetPassword])
            .await?;
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(Error::TokenInvalid)?;
        let context = Ctx::password_context(user.email.as_ref(), user.username.as_ref());
        let password = self.acceptable_password(new_password, context).await?;
        let new_hash = self.replacement_hash(&user, password, None).await?;
        let mut writes = vec![
            Write::ConsumeEmailToken {
                hash,
                purpose: TokenPurpose::ResetPassword,
            },
            self.password_history_write(user.id),
            Write::SetPassword {
                user: user.id,
                hash: new_hash,
            },
            Write::EndSessions {
                user: user.id,
                except: None,
                reason: EndReason::PasswordChanged,
            },
            Write::RevokeEmailTokens {
                user: user.id,
                purpose: TokenPurpose::ResetPassword,
            },
        ];
        writes.extend(self.notice(MailKind::PasswordChanged, &user, None)?);
        match self.commit(writes).await {
            Ok(()) => {
                // Proving the mailbox lifts any lockout of the account.
                self.lift_account_locks(&user).await?;
                self.audit(
                    AuditKind::PasswordResetCompleted,
                    "success",
                    Some(user.id),
                    Some(client),
                    Value::Null,
                )
                .await;
                Ok(())
            }
            Err(StoreError::TokenUnusable) => Err(Error::TokenExpired),
            Err(e) => Err(e.into()),
        }
    }
}

impl Ctx {
    /// A place for work done after the answer (so its time tells nothing);
    /// bounded, so a flood gets `503` instead of piling up tasks.
    pub(crate) fn background_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        self.background
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Overloaded {
                retry_after_secs: 1,
            })
    }

    /// A new emailed token and the row that remembers its hash (for an
    /// email change, with the new address and the session that asked).
    pub(crate) fn new_email_token(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        new_email: Option<Email>,
        session_id: Option<SessionId>,
    ) -> (SecretToken, NewEmailToken) {
        let ttl = match purpose {
            TokenPurpose::ResetPassword => self.config.email.reset_ttl_secs,
            TokenPurpose::VerifyEmail | TokenPurpose::ChangeEmail => {
                self.config.email.verification_ttl_secs
            }
        };
        let secret = SecretToken::generate();
        let row = NewEmailToken {
            hash: secret.hash(),
            user_id: user,
            purpose,
            new_email,
            session_id,
            expires_at: self.clock.now() + ttl,
        };
        (secret, row)
    }

    /// The writes that send `user` a fresh verification link.
    pub(crate) fn verification_writes(
        &self,
        user: UserId,
        to: &Email,
    ) -> Result<Vec<Write>, Error> {
        metrics::counter!("latchkey_auth_email_verification_sent_total").increment(1);
        self.link_writes(user, TokenPurpose::VerifyEmail, None, None, to)
    }

    /// A new emailed token and the message carrying its link to `to`: the
    /// link's path, the message and the lifetime follow from the purpose.
    /// `new_email` and `session` are an email change's new address and the
    /// session that asked for it.
    pub(crate) fn link_writes(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        new_email: Option<&Email>,
        session: Option<SessionId>,
        to: &Email,
    ) -> Result<Vec<Write>, Error> {
        let e = &self.config.email;
        let (kind, path, ttl) = match purpose {
            TokenPurpose::ResetPassword => {
                (MailKind::PasswordReset, &e.reset_path, e.reset_ttl_secs)
            }
            TokenPurpose::VerifyEmail | TokenPurpose::ChangeEmail => (
                MailKind::VerifyEmail,
                &e.verify_path,
                e.verification_ttl_secs,
            ),
        };
        let (secret, row) = self.new_email_token(user, purpose, new_email.cloned(), session);
        let mail = self.mailer.compose(
            kind,
            to.as_str(),
            Some(self.config.link(path, secret.expose())),
            new_email.map(|n| n.as_str().to_owned()),
            Some(human_duration(ttl)),
        )?;
        Ok(vec![Write::InsertEmailToken(row), Write::Enqueue(mail)])
    }

    /// A notice without a link, e.g. "your password was changed".
    pub(crate) fn notice(
        &self,
        kind: MailKind,
        user: &User,
        new_email: Option<&Email>,
    ) -> Result<Option<Write>, Error> {
        let Some(to) = user.email_str() else {
            return Ok(None);
        };
        let mail = self.mailer.compose(
            kind,
            to,
            None,
            new_email.map(|e| e.as_str().to_owned()),
            None,
        )?;
        Ok(Some(Write::Enqueue(mail)))
    }

    /// Looks up an emailed token: unknown or of another purpose is invalid
    /// (400), used or expired is gone (410).
    pub(crate) async fn usable_token(
        &self,
        presented: &str,
        purposes: &[TokenPurpose],
    ) -> Result<(TokenHash, EmailTokenRecord), Error> {
        let hash = TokenHash::of_presented(presented).ok_or(Error::TokenInvalid)?;
        let record = self
            .store
            .email_token(&hash)
            .await?
            .ok_or(Error::TokenInvalid)?;
        if !purposes.contains(&record.purpose) {
            return Err(Error::TokenInvalid);
        }
        if record.used_at.is_some() || record.expires_at <= self.clock.now() {
            return Err(Error::TokenExpired);
        }
        Ok((hash, record))
    }
}

/// "24 hours", "1 hour", "30 minutes": for the expiry line of a message.
pub fn human_duration(secs: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if secs % 86_400 == 0 && secs >= 2 * 86_400 {
        plural(secs / 86_400, "day")
    } else if secs % 3600 == 0 {
        plural(secs / 3600, "hour")
    } else {
        plural((secs + 59) / 60, "minute")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_well() {
        assert_eq!(super::human_duration(86_400), "24 hours");
        assert_eq!(super::human_duration(3600), "1 hour");
        assert_eq!(super::human_duration(1800), "30 minutes");
        assert_eq!(super::human_duration(3 * 86_400), "3 days");
    }
}
