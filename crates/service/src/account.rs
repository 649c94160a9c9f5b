//! Who is calling, and what a signed-in user can do to their own account.

use latchkey_core::session::Session;
use latchkey_core::token::TokenHash;
use latchkey_core::{Error, Password, SessionId, UserId};
use latchkey_store::{EndReason, TokenPurpose, Write};

use crate::mail::MailKind;
use tracing::instrument;

use latchkey_core::audit::AuditKind;

use crate::check_cache::{TokenCache, VerifiedToken};
use crate::keys::{VerifyError, within_lifetime};
use crate::{App, ClientInfo, Principal};

impl App {
    /// The caller behind a bearer access token. The token must verify and its
    /// session must still be open: logging out revokes access at once.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Principal, Error> {
        let now = self.clock.now();
        let key = TokenCache::key(token);
        let claims = match self.token_cache.get(&key) {
            Some(known) => known,
            None => {
                let claims = match self.keys.verify(token, now) {
                    // Another node may have rotated keys since we loaded them.
                    Err(VerifyError::UnknownKey)
                        if self.keys.reload_for_unknown_key(now).await? =>
                    {
                        self.keys.verify(token, now)
                    }
                    other => other,
                }
                .map_err(|_| Error::Unauthenticated)?;
                let verified = VerifiedToken {
                    sid: SessionId::parse(&claims.sid).ok_or(Error::Unauthenticated)?,
                    sub: UserId::parse(&claims.sub).ok_or(Error::Unauthenticated)?,
                    exp: claims.exp,
                    nbf: claims.nbf,
                };
                self.token_cache.insert(key, verified);
                verified
            }
        };
        if !within_lifetime(claims.exp, claims.nbf, now) {
            return Err(Error::Unauthenticated);
        }
        let sid = claims.sid;
        let (session, user) = match self.session_cache.get(&sid) {
            Some(known) => known,
            None => {
                let epoch = self.session_cache.epoch();
                let read = self
                    .store
                    .session_with_user(sid)
                    .await?
                    .ok_or(Error::Unauthenticated)?;
                self.session_cache.fill(sid, read.clone(), epoch);
                read
            }
        };
        if user.id != claims.sub || user.disabled || !session.is_active(now, &self.config.session) {
            return Err(Error::Unauthenticated);
        }
        let principal = Principal {
            user,
            session,
            client: ClientInfo::default(),
        };
        self.record_activity(principal, now).await
    }

    /// Keeps a used session from going idle, writing at most once a minute.
    async fn record_activity(
        &self,
        mut principal: Principal,
        now: i64,
    ) -> Result<Principal, Error> {
        if principal.session.activity_is_stale(now) {
            self.store.touch_session(principal.session.id, now).await?;
            self.session_cache.touched(&principal.session.id, now);
            principal.session.last_seen_at = now;
        }
        Ok(principal)
    }

    /// The caller behind a session cookie; keeps the session alive.
    pub async fn authenticate_cookie(&self, token: &str) -> Result<Principal, Error> {
        let hash = TokenHash::of_presented(token).ok_or(Error::Unauthenticated)?;
        let (session, user) = self
            .store
            .session_by_token(&hash)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let now = self.clock.now();
        if user.disabled || !session.is_active(now, &self.config.session) {
            return Err(Error::Unauthenticated);
        }
        let principal = Principal {
            user,
            session,
            client: ClientInfo::default(),
        };
        self.record_activity(principal, now).await
    }

    /// The caller's sessions that are still usable, newest first.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<Session>, Error> {
        let now = self.clock.now();
        let open = self.store.open_sessions(principal.user.id).await?;
        Ok(open
            .into_iter()
            .filter(|s| s.is_active(now, &self.config.session))
            .collect())
    }

    /// Ends one of the caller's own sessions.
    pub async fn end_session(&self, principal: &Principal, id: &str) -> Result<(), Error> {
        let id = SessionId::parse(id).ok_or(Error::NotFound)?;
        let ended = self
            .end_one_session(principal.user.id, id, EndReason::Revoked)
            .await?;
        if !ended {
            return Err(Error::NotFound);
        }
        let detail = serde_json::json!({ "session": id, "by": principal.session.id });
        self.audit(
            AuditKind::SessionEnded,
            "success",
            Some(principal.user.id),
            Some(&principal.client),
            detail,
        )
        .await;
        Ok(())
    }

    /// Ends every session of the caller but the current one, in one write.
    pub async fn end_other_sessions(&self, principal: &Principal) -> Result<(), Error> {
        let user = principal.user.id;
        self.commit(vec![Write::EndSessions {
            user,
            except: Some(principal.session.id),
            reason: EndReason::Revoked,
        }])
        .await?;
        let detail = serde_json::json!({ "all_but": principal.session.id });
        self.audit(
            AuditKind::SessionEnded,
            "success",
            Some(user),
            Some(&principal.client),
            detail,
        )
        .await;
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
        let context = Self::password_context(account.email.as_ref(), account.username.as_ref());
        let new = self.acceptable_password(new, context).await?;
        let current = Password::parse_attempt(current).ok_or(Error::CurrentPasswordWrong)?;
        let hash = self.replacement_hash(account, new, Some(current)).await?;
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
}

impl App {
    /// An account made by an administrator: unlike sign-up, a taken address
    /// is an error the administrator sees.
    pub async fn create_user(
        &self,
        email: latchkey_core::Email,
        username: Option<latchkey_core::Username>,
        password: &str,
        verified: bool,
    ) -> Result<latchkey_core::User, Error> {
        let context = Self::password_context(Some(&email), username.as_ref());
        let password = self.acceptable_password(password, context).await?;
        let hasher = self.hasher.clone();
        let hash = self
            .pool
            .run(move || hasher.hash(&password))
            .await?
            .map_err(|e| Error::Internal(e.to_string()))?;
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
}
