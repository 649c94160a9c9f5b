//! Sign-up, login, refresh and logout.

use latchkey_core::claims::AccessClaims;
use latchkey_core::password_hash::Verdict;
use latchkey_core::session::Session;
use latchkey_core::token::{SecretToken, TokenHash};
use latchkey_core::{Email, Error, NewUser, Password, SessionId, User, UserId, Username};
use latchkey_store::{Conflict, EndReason, NewSession, RefreshOutcome, StoreError, Write};
use serde_json::Map;
use tracing::instrument;

use super::{App, ClientInfo, Issued, Principal};
use crate::mail::MailKind;

/// How long a login's access token and session last.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access_ttl_secs: i64,
    /// The session's absolute limit.
    pub session_secs: i64,
    /// The session's idle limit, if not the configured one.
    pub idle_secs: Option<i64>,
}

/// How a login names the account.
#[derive(Debug, Clone)]
pub enum LoginId {
    Email(Email),
    Username(Username),
}

impl App {
    /// Creates an account. An address that is already registered gets the
    /// same answer and leaves the existing account untouched, so sign-up
    /// reveals nothing about who has an account.
    #[instrument(skip_all)]
    pub async fn signup(
        &self,
        email: Email,
        username: Option<Username>,
        password: &str,
    ) -> Result<(), Error> {
        let password = self.acceptable_password(password)?;
        let hasher = self.hasher.clone();
        let hash = self
            .pool
            .run(move || hasher.hash(&password))
            .await?
            .map_err(|e| Error::Internal(e.to_string()))?;
        let id = UserId::generate();
        let mut writes = vec![Write::InsertUser {
            id,
            new: NewUser {
                email: Some(email.clone()),
                username,
                password_hash: hash,
                email_verified: false,
                custom_claims: Map::new(),
            },
        }];
        writes.extend(self.verification_writes(id, &email)?);
        match self.commit(writes).await {
            Ok(()) => {
                metrics::counter!("latchkey_signups_total", "result" => "created").increment(1);
                Ok(())
            }
            Err(StoreError::Conflict(Conflict::Email)) => {
                metrics::counter!("latchkey_signups_total", "result" => "existing").increment(1);
                self.tell_owner_of_signup_attempt(&email).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an account named only by a username (leochilds.uk). Unlike
    /// email sign-up, a taken username is an error: usernames are public.
    #[instrument(skip_all)]
    pub async fn signup_with_username(
        &self,
        username: Username,
        password: &str,
    ) -> Result<User, Error> {
        let password = self.acceptable_password(password)?;
        if self.store.user_by_username(username.key()).await?.is_some() {
            return Err(Error::UsernameTaken);
        }
        let hasher = self.hasher.clone();
        let hash = self
            .pool
            .run(move || hasher.hash(&password))
            .await?
            .map_err(|e| Error::Internal(e.to_string()))?;
        let new = NewUser {
            email: None,
            username: Some(username),
            password_hash: hash,
            email_verified: false,
            custom_claims: Map::new(),
        };
        let user = self.store.create_user(new, self.clock.now()).await?;
        metrics::counter!("latchkey_signups_total", "result" => "created").increment(1);
        Ok(user)
    }

    /// The address already has an account: its owner hears of the attempt
    /// (at the address as stored), and the account itself is left alone.
    async fn tell_owner_of_signup_attempt(&self, email: &Email) -> Result<(), Error> {
        let Some(owner) = self.store.user_by_email(email.key()).await? else {
            return Ok(());
        };
        if let Some(write) = self.notice(MailKind::SignupAttempt, &owner, None)? {
            self.commit(vec![write]).await?;
        }
        Ok(())
    }

    /// Checks a password and opens a session. A wrong password, an unknown
    /// account and a disabled account are the same error, and each costs one
    /// hash; an unverified email is told apart only after a correct password.
    #[instrument(skip_all)]
    pub async fn login(
        &self,
        id: Option<LoginId>,
        password: &str,
        client: ClientInfo,
    ) -> Result<Issued, Error> {
        self.login_for(id, password, client, self.standard_lifetimes())
            .await
    }

    /// The lifetimes the configuration gives a login.
    pub fn standard_lifetimes(&self) -> Lifetimes {
        Lifetimes {
            access_ttl_secs: self.keys.access_ttl_secs(),
            session_secs: self.config.session.absolute_timeout_secs,
            idle_secs: None,
        }
    }

    /// A login whose token and session last as long as `lifetimes` says
    /// (for compatibility routes that promise longer-lived tokens).
    pub async fn login_for(
        &self,
        id: Option<LoginId>,
        password: &str,
        client: ClientInfo,
        lifetimes: Lifetimes,
    ) -> Result<Issued, Error> {
        let result = self.check_login(id, password).await;
        let label = match &result {
            Ok(_) => "success",
            Err(Error::EmailNotVerified) => "unverified",
            Err(Error::InvalidCredentials) => "invalid_credentials",
            Err(Error::Overloaded { .. }) => "overloaded",
            Err(_) => "error",
        };
        metrics::counter!("latchkey_login_attempts_total", "result" => label).increment(1);
        let user = result?;
        self.open_session(user, client, lifetimes).await
    }

    async fn check_login(&self, id: Option<LoginId>, password: &str) -> Result<User, Error> {
        let user = match id {
            Some(LoginId::Email(e)) => self.store.user_by_email(e.key()).await?,
            Some(LoginId::Username(u)) => self.store.user_by_username(u.key()).await?,
            None => None,
        };
        // Over the size bound: no stored password can match. The answer and
        // cost do not depend on the account, so this reveals nothing.
        let Some(password) = Password::parse_attempt(password) else {
            return Err(Error::InvalidCredentials);
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let hasher = self.hasher.clone();
        let candidate = password.clone();
        let verdict = self
            .pool
            .run(move || hasher.verify(&candidate, stored.as_deref()))
            .await?;
        let (Verdict::Match { needs_rehash }, Some(user)) = (verdict, user) else {
            return Err(Error::InvalidCredentials);
        };
        if user.disabled {
            return Err(Error::InvalidCredentials);
        }
        if needs_rehash {
            self.rehash_later(&user, password);
        }
        if self.config.require_verified_email && user.awaits_verification() {
            return Err(Error::EmailNotVerified);
        }
        Ok(user)
    }

    /// Upgrades a stored hash to the current parameters, off the request path.
    fn rehash_later(&self, user: &User, password: Password) {
        let (pool, hasher, store, clock) = (
            self.pool.clone(),
            self.hasher.clone(),
            self.store.clone(),
            self.clock.clone(),
        );
        let id = user.id;
        tokio::spawn(async move {
            if let Ok(Ok(hash)) = pool.run(move || hasher.hash(&password)).await
                && let Err(e) = store.replace_password_hash(id, &hash, clock.now()).await
            {
                tracing::warn!(error = %e, "could not store an upgraded password hash");
            }
        });
    }

    async fn open_session(
        &self,
        user: User,
        client: ClientInfo,
        lifetimes: Lifetimes,
    ) -> Result<Issued, Error> {
        let now = self.clock.now();
        let cookie = SecretToken::generate();
        let refresh = SecretToken::generate();
        let session = self
            .store
            .create_session(NewSession {
                id: SessionId::generate(),
                user_id: user.id,
                token_hash: cookie.hash(),
                refresh_hash: refresh.hash(),
                now,
                expires_at: now + lifetimes.session_secs,
                ip: client.ip,
                user_agent: client.user_agent,
                idle_timeout_secs: lifetimes.idle_secs,
            })
            .await?;
        metrics::counter!("latchkey_sessions_created_total").increment(1);
        let access_token = self.access_token(&user, &session, lifetimes.access_ttl_secs)?;
        Ok(Issued {
            access_token,
            expires_in: lifetimes.access_ttl_secs,
            refresh_token: refresh,
            cookie_token: Some(cookie),
            session,
            user,
        })
    }

    fn access_token(&self, user: &User, session: &Session, ttl_secs: i64) -> Result<String, Error> {
        let claims = AccessClaims::new(
            user,
            session.id,
            self.keys.issuer(),
            self.keys.audience(),
            self.clock.now(),
            ttl_secs,
        );
        self.keys.sign(&claims)
    }

    /// Rotates a refresh token. A token presented a second time ends its
    /// whole session (RFC 9700 reuse detection).
    #[instrument(skip_all)]
    pub async fn refresh(&self, presented: &str) -> Result<Issued, Error> {
        let result = self.rotate(presented).await;
        let label = match &result {
            Ok(_) => "success",
            Err(Error::RefreshTokenReused) => "reused",
            Err(_) => "invalid",
        };
        metrics::counter!("latchkey_token_refresh_total", "result" => label).increment(1);
        result
    }

    async fn rotate(&self, presented: &str) -> Result<Issued, Error> {
        let presented = TokenHash::of_presented(presented).ok_or(Error::InvalidRefreshToken)?;
        let next = SecretToken::generate();
        let now = self.clock.now();
        let outcome = self
            .store
            .rotate_refresh_token(&presented, &next.hash(), now, &self.config.session)
            .await?;
        let session = match outcome {
            RefreshOutcome::Rotated(session) => session,
            RefreshOutcome::Reused(id) => {
                tracing::warn!(session = %id, "refresh token reuse detected; session ended");
                return Err(Error::RefreshTokenReused);
            }
            RefreshOutcome::SessionEnded | RefreshOutcome::Unknown => {
                return Err(Error::InvalidRefreshToken);
            }
        };
        let user = self
            .store
            .user_by_id(session.user_id)
            .await?
            .ok_or(Error::InvalidRefreshToken)?;
        if user.disabled {
            self.store
                .end_session(user.id, session.id, now, EndReason::Revoked)
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

    /// Ends the caller's session and with it its refresh token.
    pub async fn logout(&self, principal: &Principal) -> Result<(), Error> {
        self.store
            .end_session(
                principal.user.id,
                principal.session.id,
                self.clock.now(),
                EndReason::Logout,
            )
            .await?;
        Ok(())
    }

    /// A new password checked against the policy; every failed rule is named.
    pub(super) fn acceptable_password(&self, raw: &str) -> Result<Password, Error> {
        Password::parse_new(raw, &self.config.password).map_err(Error::WeakPassword)
    }
}
