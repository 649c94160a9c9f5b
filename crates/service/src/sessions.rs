//! Sessions: who a token or cookie belongs to, refresh, logout, and a
//! user's list of their own sessions.

use latchkey_core::audit::AuditKind;
use latchkey_core::session::Session;
use latchkey_core::token::{SecretToken, TokenHash};
use latchkey_core::{Error, SessionId, UserId};
use latchkey_store::{EndReason, RefreshOutcome, Write};
use tracing::instrument;

use crate::check_cache::{TokenCache, VerifiedToken};
use crate::context::{ClientInfo, Ctx, Issued, Principal, capability};
use crate::keys::{VerifyError, within_lifetime};
use crate::throttle::Endpoint;

capability!(
    /// Sessions: checks, refresh, logout, listing.
    Sessions
);

impl Sessions {
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
    pub async fn list(&self, principal: &Principal) -> Result<Vec<Session>, Error> {
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
        self.audit_success(principal, AuditKind::SessionEnded, detail)
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
        self.audit_success(principal, AuditKind::SessionEnded, detail)
            .await;
        Ok(())
    }

    /// Rotates a refresh token. A token presented a second time ends its
    /// whole session (RFC 9700 reuse detection).
    #[instrument(skip_all)]
    pub async fn refresh(&self, presented: &str, client: &ClientInfo) -> Result<Issued, Error> {
        self.rate_limit(Endpoint::Refresh, client, None).await?;
        let result = self.rotate(presented, client).await;
        let label = match &result {
            Ok(_) => "success",
            Err(Error::RefreshTokenReused) => "reused",
            Err(_) => "invalid",
        };
        metrics::counter!("latchkey_token_refresh_total", "result" => label).increment(1);
        metrics::counter!("latchkey_auth_token_refresh_total").increment(1);
        result
    }

    /// Ends the caller's session and with it its refresh token.
    pub async fn logout(&self, principal: &Principal) -> Result<(), Error> {
        self.end_one_session(principal.user.id, principal.session.id, EndReason::Logout)
            .await?;
        let detail = serde_json::json!({ "session": principal.session.id });
        self.audit_success(principal, AuditKind::Logout, detail)
            .await;
        Ok(())
    }
}

impl Ctx {
    /// Keeps a used session from going idle, writing at most once a minute.
    pub(crate) async fn record_activity(
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

    pub(crate) async fn rotate(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<Issued, Error> {
        let presented = TokenHash::of_presented(presented).ok_or(Error::InvalidRefreshToken)?;
        let next = SecretToken::generate();
        let now = self.clock.now();
        let outcome = self
            .store
            .rotate_refresh_token(&presented, &next.hash(), now, &self.config.session)
            .await?;
        let (session, user) = match outcome {
            RefreshOutcome::Rotated(session, user) => (session, user),
            RefreshOutcome::Reused(id) => {
                self.session_cache.forget_session(&id);
                tracing::warn!(session = %id, "refresh token reuse detected; session ended");
                let owner = self.store.session_with_user(id).await?.map(|(_, u)| u.id);
                let detail = serde_json::json!({ "session": id });
                self.audit(
                    AuditKind::RefreshTokenReuse,
                    "session_ended",
                    owner,
                    Some(client),
                    detail,
                )
                .await;
                return Err(Error::RefreshTokenReused);
            }
            RefreshOutcome::Expired(session) => {
                self.session_cache.forget_session(&session.id);
                let detail = serde_json::json!({ "session": session.id });
                self.audit(
                    AuditKind::SessionExpired,
                    "success",
                    Some(session.user_id),
                    Some(client),
                    detail,
                )
                .await;
                return Err(Error::InvalidRefreshToken);
            }
            RefreshOutcome::SessionEnded | RefreshOutcome::Unknown => {
                return Err(Error::InvalidRefreshToken);
            }
        };
        if user.disabled {
            self.end_one_session(user.id, session.id, EndReason::Revoked)
                .await?;
            return Err(Error::InvalidRefreshToken);
        }
        let access_token = self.access_token(&user, &session, self.keys.access_ttl_secs())?;
        Ok(Issued {
            access_token,
            expires_in: self.keys.access_ttl_secs(),
            refresh_token: next,
            cookie_token: None,
            session,
            user,
        })
    }

    /// Deletes sessions (and their refresh tokens) that have been over for
    /// a week: their record stays in the audit trail.
    pub(crate) async fn prune_sessions(&self) {
        const KEPT_AFTER_END_SECS: i64 = 7 * 86_400;
        match self
            .store
            .prune_sessions(self.clock.now() - KEPT_AFTER_END_SECS)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "deleted sessions over for a week"),
            Err(e) => tracing::warn!(error = %e, "could not prune old sessions"),
        }
    }

    /// Ends a session (and with it its refresh token and access tokens).
    pub(crate) async fn end_one_session(
        &self,
        user: UserId,
        id: SessionId,
        reason: EndReason,
    ) -> Result<bool, Error> {
        let ended = self
            .store
            .end_session(user, id, self.clock.now(), reason)
            .await?;
        self.session_cache.forget_session(&id);
        Ok(ended)
    }
}
