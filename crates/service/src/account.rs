//! The signed-in user's own account: password and email changes, and
//! their security events.

use latchkey_core::audit::{AuditKind, AuditRecord};
use latchkey_core::{Email, Error, Password, UserId};
use latchkey_store::{EndReason, TokenPurpose, Write};
use serde_json::Value;
use tracing::instrument;

use crate::audit::RECENT_EVENTS;
use crate::context::{Ctx, Principal, capability};
use crate::mail::MailKind;
use crate::throttle::Guarded;

capability!(
    /// The signed-in user's own account.
    Account
);

impl Account {
    /// Proves again who the user is (the password, counted against the
    /// lockout like a login), so that changes that need a recent login are
    /// allowed for the next minutes in this session.
    #[instrument(skip_all)]
    pub async fn reauthenticate(&self, principal: &Principal, password: &str) -> Result<(), Error> {
        self.check_current_password(principal, password).await?;
        let id = principal.session.id;
        if !self.store.mark_authenticated(id, self.clock.now()).await? {
            return Err(Error::SessionEnded);
        }
        self.session_cache.forget_session(&id);
        Ok(())
    }

    /// Changes the password after checking the current one; every other
    /// session of the user ends.
    #[instrument(skip_all)]
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), Error> {
        let account = &principal.user;
        let context = Ctx::password_context(account.email.as_ref(), account.username.as_ref());
        let new = self.acceptable_password(new, context).await?;
        // The current password is checked under the account's lockout,
        // like a login: refused while locked, a wrong one counted.
        let guarded = Guarded::account(account.id);
        self.admit_login(&guarded).await?;
        let Some(current) = Password::parse_attempt(current) else {
            self.login_failed(&guarded).await;
            return Err(Error::CurrentPasswordWrong);
        };
        let hash = match self.replacement_hash(account, new, Some(current)).await {
            Ok(hash) => hash,
            Err(Error::CurrentPasswordWrong) => {
                self.login_failed(&guarded).await;
                return Err(Error::CurrentPasswordWrong);
            }
            // Only a right current password gets as far as the history.
            Err(e @ Error::WeakPassword(_)) => {
                self.login_succeeded(&guarded).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.login_succeeded(&guarded).await;
        let user = principal.user.id;
        let mut writes = vec![
            self.password_history_write(user),
            Write::SetPassword { user, hash },
            Write::EndSessions {
                user,
                except: Some(principal.session.id),
                reason: EndReason::PasswordChanged,
            },
            Write::RevokeEmailTokens {
                user,
                purpose: TokenPurpose::ResetPassword,
            },
        ];
        writes.extend(self.notice(MailKind::PasswordChanged, &principal.user, None)?);
        self.commit(writes).await?;
        self.audit(
            AuditKind::PasswordChanged,
            "success",
            Some(user),
            Some(&principal.client),
            serde_json::Value::Null,
        )
        .await;
        Ok(())
    }

    /// Starts an email change: a link to the new address (the change takes
    /// effect when it is used, and then every other session of the user
    /// ends) and a notice to the old one. An address that
    /// belongs to another account gets nothing, and the answer is the same.
    #[instrument(skip_all)]
    pub async fn request_email_change(
        &self,
        principal: &Principal,
        new_email: Email,
        current_password: &str,
    ) -> Result<(), Error> {
        self.check_current_password(principal, current_password)
            .await?;
        if self.store.user_by_email(new_email.key()).await?.is_some() {
            return Ok(());
        }
        let user = &principal.user;
        let mut writes = self.link_writes(
            user.id,
            TokenPurpose::ChangeEmail,
            Some(&new_email),
            Some(principal.session.id),
            &new_email,
        )?;
        writes.extend(self.notice(MailKind::EmailChanged, user, Some(&new_email))?);
        self.commit(writes).await?;
        self.audit(
            AuditKind::EmailChangeRequested,
            "success",
            Some(user.id),
            Some(&principal.client),
            Value::Null,
        )
        .await;
        Ok(())
    }

    /// The signed-in user's latest security events.
    pub async fn my_events(&self, user: UserId) -> Result<Vec<AuditRecord>, Error> {
        Ok(self.store.recent_audit_events(user, RECENT_EVENTS).await?)
    }
}

impl Ctx {
    /// Checks the signed-in user's current password (for sensitive
    /// changes), under the account's lockout like a login: refused while
    /// locked, a wrong one counted towards the lock.
    pub(crate) async fn check_current_password(
        &self,
        principal: &Principal,
        given: &str,
    ) -> Result<(), Error> {
        let guarded = Guarded::account(principal.user.id);
        self.admit_login(&guarded).await?;
        let Some(given) = Password::parse_attempt(given) else {
            self.login_failed(&guarded).await;
            return Err(Error::CurrentPasswordWrong);
        };
        let stored = principal.user.password_hash.clone();
        let hasher = self.hasher.clone();
        let verdict = self
            .pool
            .run(move || hasher.verify(&given, Some(&stored)))
            .await?;
        match verdict {
            latchkey_core::password_hash::Verdict::Match { .. } => {
                self.login_succeeded(&guarded).await;
                Ok(())
            }
            latchkey_core::password_hash::Verdict::Mismatch => {
                self.login_failed(&guarded).await;
                Err(Error::CurrentPasswordWrong)
            }
        }
    }
}
