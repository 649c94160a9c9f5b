//! Sign-up, login, refresh and logout.

use latchkey_core::claims::AccessClaims;
use latchkey_core::password_hash::Verdict;
use latchkey_core::session::Session;
use latchkey_core::token::SecretToken;
use latchkey_core::{Email, Error, NewUser, Password, SessionId, User, UserId, Username};
use latchkey_store::{Conflict, NewSession, StoreError, Write};
use serde_json::{Map, Value};
use tracing::instrument;

use latchkey_core::audit::AuditKind;

use crate::mail::MailKind;
use crate::mfa::LoginOutcome;
use crate::throttle::{Endpoint, Guarded, Identifier};

/// The `amr` of a password login.
pub(crate) const PASSWORD_AMR: &[&str] = &["pwd"];

/// How long a login's access token and session last.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access_ttl_secs: i64,
    /// The session's absolute limit.
    pub session_secs: i64,
    /// The session's idle limit, if not the configured one.
    pub idle_secs: Option<i64>,
}

/// A refused login: the answer, and for the audit trail why and whose.
struct Failed {
    error: Error,
    reason: &'static str,
    user: Option<UserId>,
}

impl Failed {
    fn credentials(reason: &'static str, user: Option<UserId>) -> Self {
        Self {
            error: Error::InvalidCredentials,
            reason,
            user,
        }
    }
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        let reason = match &error {
            Error::TooManyAttempts { .. } => "locked",
            Error::RateLimited { .. } => "rate_limited",
            Error::Overloaded { .. } => "overloaded",
            _ => "error",
        };
        Self {
            error,
            reason,
            user: None,
        }
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Error::from(e).into()
    }
}

/// How a login names the account.
#[derive(Debug, Clone)]
pub enum LoginId {
    Email(Email),
    Username(Username),
    /// Input that names no possible account; still checked and counted
    /// like one, so it answers the same.
    Unparseable(String),
}

impl LoginId {
    pub fn from_email_input(raw: &str) -> Self {
        Email::parse(raw).map_or_else(|_| Self::Unparseable(raw.to_owned()), Self::Email)
    }

    pub fn from_username_input(raw: &str) -> Self {
        Username::parse(raw).map_or_else(|_| Self::Unparseable(raw.to_owned()), Self::Username)
    }

    fn identifier(&self) -> Identifier {
        match self {
            Self::Email(e) => Identifier::email(e),
            Self::Username(u) => Identifier::username(u),
            Self::Unparseable(raw) => Identifier::raw(raw),
        }
    }
}

use crate::context::{ClientInfo, Ctx, Issued, capability};

capability!(
    /// Sign-up and login.
    Auth
);

impl Auth {
    /// Creates an account. An address that is already registered gets the
    /// same answer and leaves the existing account untouched, so sign-up
    /// reveals nothing about who has an account.
    #[instrument(skip_all)]
    pub async fn signup(
        &self,
        email: Email,
        username: Option<Username>,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        self.rate_limit(Endpoint::Signup, client, None).await?;
        let context = Ctx::password_context(Some(&email), username.as_ref());
        let hash = self.hash_new_password(password, context).await?;
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
                self.audit(
                    AuditKind::Registration,
                    "success",
                    Some(id),
                    Some(client),
                    Value::Null,
                )
                .await;
                Ok(())
            }
            Err(StoreError::Conflict(Conflict::Email)) => {
                metrics::counter!("latchkey_signups_total", "result" => "existing").increment(1);
                self.audit(
                    AuditKind::Registration,
                    "email_taken",
                    None,
                    Some(client),
                    Value::Null,
                )
                .await;
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
        client: &ClientInfo,
    ) -> Result<User, Error> {
        self.rate_limit(Endpoint::Signup, client, None).await?;
        let context = Ctx::password_context(None, Some(&username));
        let password = self.acceptable_password(password, context).await?;
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
        self.audit(
            AuditKind::Registration,
            "success",
            Some(user.id),
            Some(client),
            Value::Null,
        )
        .await;
        Ok(user)
    }

    /// Checks a password and opens a session. A wrong password, an unknown
    /// account and a disabled account are the same error, and each costs one
    /// hash; an unverified email is told apart only after a correct password.
    #[instrument(skip_all)]
    pub async fn login(
        &self,
        id: LoginId,
        password: &str,
        client: ClientInfo,
    ) -> Result<LoginOutcome, Error> {
        let user = self.password_step(id, password, &client).await?;
        if self.has_second_factor(user.id).await? {
            let mfa_token = self.mfa_challenge(user.id).await?;
            return Ok(LoginOutcome::SecondFactorRequired { mfa_token });
        }
        let issued = self
            .open_session(user, client, self.standard_lifetimes(), PASSWORD_AMR)
            .await?;
        Ok(LoginOutcome::SignedIn(Box::new(issued)))
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
    /// (for the hosted page and compatibility routes, which have no second
    /// step: a user with a second factor is refused).
    pub async fn login_for(
        &self,
        id: LoginId,
        password: &str,
        client: ClientInfo,
        lifetimes: Lifetimes,
    ) -> Result<Issued, Error> {
        let user = self.password_step(id, password, &client).await?;
        if self.has_second_factor(user.id).await? {
            return Err(Error::SecondFactorRequired);
        }
        self.open_session(user, client, lifetimes, PASSWORD_AMR)
            .await
    }

    /// The password check of a login, audited and counted.
    async fn password_step(
        &self,
        id: LoginId,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User, Error> {
        let started = std::time::Instant::now();
        let who = id.identifier();
        let result = self.check_login(id, &who, password, client).await;
        // The audit trail (private) keeps the precise reason.
        let result = match result {
            Ok(user) => Ok(user),
            // A refusal for load, or a store that cannot answer (so it
            // could not take the audit event either), checked no
            // password: metrics count it.
            Err(failed)
                if matches!(failed.error, Error::Overloaded { .. } | Error::Unavailable) =>
            {
                Err(failed.error)
            }
            Err(failed) => {
                let detail = serde_json::json!({ "identifier": who.as_str() });
                self.audit(
                    AuditKind::LoginFailed,
                    failed.reason,
                    failed.user,
                    Some(client),
                    detail,
                )
                .await;
                Err(failed.error)
            }
        };
        // Reasons on /metrics stay coarse: it is public, and "unknown
        // account" against "wrong password" would enumerate accounts.
        let label = match &result {
            Ok(_) => "success",
            Err(Error::EmailNotVerified) => "unverified",
            Err(Error::InvalidCredentials) => "invalid_credentials",
            Err(Error::TooManyAttempts { .. }) => "locked",
            Err(Error::RateLimited { .. }) => "rate_limited",
            Err(Error::Overloaded { .. }) => "overloaded",
            Err(_) => "error",
        };
        metrics::counter!("latchkey_login_attempts_total", "result" => label).increment(1);
        metrics::counter!("latchkey_auth_login_attempts_total").increment(1);
        metrics::histogram!("latchkey_auth_login_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if result.is_ok() {
            metrics::counter!("latchkey_auth_login_success_total").increment(1);
        } else {
            metrics::counter!("latchkey_auth_login_failures_total", "reason" => label).increment(1);
        }
        result
    }
}

impl Ctx {
    /// The address already has an account: its owner hears of the attempt
    /// (at the address as stored), and the account itself is left alone.
    pub(crate) async fn tell_owner_of_signup_attempt(&self, email: &Email) -> Result<(), Error> {
        let Some(owner) = self.store.user_by_email(email.key()).await? else {
            return Ok(());
        };
        if let Some(write) = self.notice(MailKind::SignupAttempt, &owner, None)? {
            self.commit(vec![write]).await?;
        }
        Ok(())
    }

    async fn check_login(
        &self,
        id: LoginId,
        who: &Identifier,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User, Failed> {
        // A place for the password check first: when the pool is full the
        // answer is a quick 503, before any other work and without counting
        // an attempt against the account (no password was checked).
        let place = self.pool.reserve().map_err(|error| Failed {
            error,
            reason: "overloaded",
            user: None,
        })?;
        self.rate_limit(Endpoint::Login, client, Some(who)).await?;
        let user = match id {
            LoginId::Email(e) => self.store.user_by_email(e.key()).await?,
            LoginId::Username(u) => self.store.user_by_username(u.key()).await?,
            LoginId::Unparseable(_) => None,
        };
        // One lockout per account, whichever name reaches it; a name that
        // names no account is counted by itself, exactly alike.
        let guarded = user
            .as_ref()
            .map_or_else(|| Guarded::name(who), |u| Guarded::account(u.id));
        self.admit_login(&guarded).await?;
        // Over the size bound: no stored password can match. The answer and
        // cost do not depend on the account, so this reveals nothing.
        let Some(password) = Password::parse_attempt(password) else {
            self.login_failed(&guarded).await;
            return Err(Failed::credentials("password_too_long", user.map(|u| u.id)));
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let hasher = self.hasher.clone();
        let candidate = password.clone();
        let verdict = place
            .run(move || hasher.verify(&candidate, stored.as_deref()))
            .await?;
        let (Verdict::Match { needs_rehash }, Some(user)) = (verdict, user.clone()) else {
            self.login_failed(&guarded).await;
            let reason = if user.is_some() {
                "wrong_password"
            } else {
                "unknown_account"
            };
            return Err(Failed::credentials(reason, user.map(|u| u.id)));
        };
        if user.disabled {
            self.login_failed(&guarded).await;
            return Err(Failed::credentials("disabled", Some(user.id)));
        }
        self.login_succeeded(&guarded).await;
        if needs_rehash {
            self.rehash_later(&user, password);
        }
        if self.config.require_verified_email && user.awaits_verification() {
            return Err(Failed {
                error: Error::EmailNotVerified,
                reason: "email_not_verified",
                user: Some(user.id),
            });
        }
        Ok(user)
    }

    /// Upgrades a stored hash to the current parameters, off the request path.
    pub(crate) fn rehash_later(&self, user: &User, password: Password) {
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

    pub(crate) async fn open_session(
        &self,
        user: User,
        client: ClientInfo,
        lifetimes: Lifetimes,
        amr: &[&str],
    ) -> Result<Issued, Error> {
        let now = self.clock.now();
        let cookie = SecretToken::generate();
        let refresh = SecretToken::generate();
        let new = NewSession {
            id: SessionId::generate(),
            user_id: user.id,
            token_hash: cookie.hash(),
            refresh_hash: refresh.hash(),
            now,
            expires_at: now + lifetimes.session_secs,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            idle_timeout_secs: lifetimes.idle_secs,
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        };
        // The session and the events that record it, in one transaction.
        let detail = serde_json::json!({ "session": new.id });
        let (uid, from) = (Some(user.id), Some(&client));
        let events = [AuditKind::LoginSucceeded, AuditKind::SessionCreated]
            .map(|kind| self.audit_event(kind, "success", uid, from, detail.clone()));
        let session = new.opened();
        let mut writes = vec![Write::CreateSession(new)];
        writes.extend(events.into_iter().map(Write::Audit));
        self.commit(writes).await?;
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

    pub(crate) fn access_token(
        &self,
        user: &User,
        session: &Session,
        ttl_secs: i64,
    ) -> Result<String, Error> {
        let mut claims = AccessClaims::new(
            user,
            session.id,
            self.keys.issuer(),
            self.keys.audience(),
            self.clock.now(),
            ttl_secs,
        );
        claims.amr.clone_from(&session.amr);
        self.keys.sign(&claims)
    }
}
