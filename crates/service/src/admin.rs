//! What an operator does (the CLI today, the admin API later): accounts,
//! signing keys, the audit trail and the outbox.

use latchkey_core::audit::{AuditKind, AuditRecord, ChainBreak, ChainCheck};
use latchkey_core::{Email, Error, UnixTime, User, UserId, Username};
use latchkey_store::{MailRecord, MailStatus};

use crate::context::{Ctx, capability};

/// Audit events read per page when walking the chain.
const AUDIT_PAGE: u32 = 1000;

capability!(
    /// Operator actions: see the module documentation.
    Admin
);

/// What walking the audit chain found.
#[derive(Debug)]
pub enum ChainVerdict {
    /// Every event from `first` to `head` follows its predecessor.
    Intact { checked: u64, first: i64, head: i64 },
    /// The first event changed, removed or inserted.
    Broken(ChainBreak),
}

impl Admin {
    /// An account made by an administrator: unlike sign-up, a taken address
    /// is an error the administrator sees.
    pub async fn create_user(
        &self,
        email: latchkey_core::Email,
        username: Option<latchkey_core::Username>,
        password: &str,
        verified: bool,
    ) -> Result<latchkey_core::User, Error> {
        let context = Ctx::password_context(Some(&email), username.as_ref());
        let hash = self.hash_new_password(password, context).await?;
        let new = latchkey_core::NewUser {
            email: Some(email),
            username,
            password_hash: hash,
            email_verified: verified,
            custom_claims: serde_json::Map::new(),
        };
        self.store
            .create_user(new, self.clock.now())
            .await
            .map_err(|e| match e {
                latchkey_store::StoreError::Conflict(latchkey_store::Conflict::Email) => {
                    Error::invalid("email", "an account with this address already exists")
                }
                other => other.into(),
            })
    }

    /// The account an email address or a username names.
    pub async fn find_user(&self, who: &str) -> Result<User, Error> {
        let who = who.trim();
        let found = if who.contains('@') {
            let email = Email::parse(who).map_err(|e| Error::invalid("email", e.to_string()))?;
            self.store.user_by_email(email.key()).await?
        } else {
            let name =
                Username::parse(who).map_err(|e| Error::invalid("username", e.to_string()))?;
            self.store.user_by_username(name.key()).await?
        };
        found.ok_or(Error::NotFound)
    }

    /// A page of accounts, in id order, after `after`.
    pub async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, Error> {
        Ok(self.store.list_users(after, limit).await?)
    }

    /// Disables an account (ending its sessions) or enables it again.
    pub async fn set_disabled(&self, user: &User, disabled: bool) -> Result<(), Error> {
        self.store
            .set_disabled(user.id, disabled, self.clock.now())
            .await?;
        self.session_cache.forget_user(user.id);
        let kind = if disabled {
            AuditKind::AccountDisabled
        } else {
            AuditKind::AccountEnabled
        };
        self.audit(
            kind,
            "success",
            Some(user.id),
            None,
            serde_json::Value::Null,
        )
        .await;
        Ok(())
    }

    /// Lifts a login lockout of the account, on every node.
    pub async fn unlock(&self, user: &User) -> Result<(), Error> {
        self.lift_account_locks(user).await
    }

    /// A new signing key; the earlier ones stay published until their
    /// tokens expire. Returns the new key's id.
    pub async fn rotate_keys(&self) -> Result<String, Error> {
        let kid = self.keys.rotate(self.clock.now()).await?;
        let detail = serde_json::json!({ "kid": kid });
        self.audit(AuditKind::KeysRotated, "success", None, None, detail)
            .await;
        Ok(kid)
    }

    /// Walks the whole audit chain, page by page.
    pub async fn verify_audit_chain(&self) -> Result<ChainVerdict, Error> {
        let (first, previous, head) = self.store.audit_bounds().await?;
        let mut check = ChainCheck::start(first, previous);
        let mut after = first - 1;
        let outcome = loop {
            let page = self
                .store
                .audit_events(None, None, after, AUDIT_PAGE)
                .await?;
            let Some(last) = page.last() else {
                break check.finish(head);
            };
            after = last.seq;
            if let Err(e) = page.iter().try_for_each(|row| check.next(row)) {
                break Err(e);
            }
        };
        Ok(match outcome {
            Ok(()) => ChainVerdict::Intact {
                checked: check.checked,
                first,
                head,
            },
            Err(e) => ChainVerdict::Broken(e),
        })
    }

    /// Audit events in order after `after` (a sequence number), optionally
    /// one account's and from a time on.
    pub async fn audit_events(
        &self,
        user: Option<UserId>,
        since: Option<UnixTime>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, Error> {
        Ok(self.store.audit_events(user, since, after, limit).await?)
    }

    /// Messages in the outbox, optionally only pending or dead ones.
    pub async fn list_mail(
        &self,
        status: Option<MailStatus>,
        limit: u32,
    ) -> Result<Vec<MailRecord>, Error> {
        Ok(self.store.list_mail(status, limit).await?)
    }

    /// Puts a dead message back in the queue; false if there is none by
    /// that id.
    pub async fn requeue_mail(&self, id: &str) -> Result<bool, Error> {
        let requeued = self.store.requeue_mail(id, self.clock.now()).await?;
        if requeued {
            self.mailer.queued.notify_one();
        }
        Ok(requeued)
    }
}
