//! The SQL both backends run. Written once and instantiated for each pool
//! type by [`impl_sql_store!`], so SQLite and Postgres cannot drift apart:
//! the schemas use the same column types, and SQLite accepts `$N` parameters.

macro_rules! user_columns {
    () => {
        "u.id, u.email, u.username, u.password_hash, u.email_verified, u.disabled, \
         u.custom_claims, u.created_at, u.updated_at"
    };
}

macro_rules! session_columns {
    () => {
        "s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
         s.last_seen_at AS s_last_seen_at, s.expires_at AS s_expires_at, \
         s.ended_at AS s_ended_at, s.ip AS s_ip, s.user_agent AS s_user_agent, \
         s.idle_timeout_secs AS s_idle_timeout_secs, \
         s.authenticated_at AS s_authenticated_at, s.amr AS s_amr"
    };
}

macro_rules! impl_sql_store {
    ($store:ty, $conn:ty) => {
        impl $store {
            /// Ends a session, if still open, inside the caller's transaction.
            async fn end_session_in(
                tx: &mut $conn,
                session_id: &str,
                now: UnixTime,
                reason: EndReason,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE sessions SET ended_at = $2, end_reason = $3 \
                     WHERE id = $1 AND ended_at IS NULL",
                )
                .bind(session_id)
                .bind(now)
                .bind(reason.as_str())
                .execute(&mut *tx)
                .await?;
                Ok(())
            }

            /// A session and its first refresh token, inside the caller's
            /// transaction.
            async fn create_session_in(tx: &mut $conn, new: &NewSession) -> Result<()> {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, \
                     expires_at, ip, user_agent, idle_timeout_secs, amr) \
                     VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9)",
                )
                .bind(new.id.to_string())
                .bind(new.user_id.to_string())
                .bind(new.token_hash.as_bytes())
                .bind(new.now)
                .bind(new.expires_at)
                .bind(new.ip.as_deref())
                .bind(new.user_agent.as_deref())
                .bind(new.idle_timeout_secs)
                .bind(new.amr.join(" "))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(new.refresh_hash.as_bytes())
                .bind(new.id.to_string())
                .bind(new.now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                Ok(())
            }
            /// A refresh inside the caller's transaction (see
            /// [`$crate::SessionStore::rotate_refresh_token`]).
            async fn rotate_in(
                tx: &mut $conn,
                presented: &TokenHash,
                replacement: &TokenHash,
                now: UnixTime,
                policy: &SessionPolicy,
            ) -> Result<RefreshOutcome> {
                // The claim is one conditional UPDATE: of two racing callers
                // only one can flip `used_at` from NULL.
                let claimed: Option<String> = sqlx::query_scalar(
                    "UPDATE refresh_tokens SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL RETURNING session_id",
                )
                .bind(presented.as_bytes())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(session_id) = claimed else {
                    let known: Option<String> = sqlx::query_scalar(
                        "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
                    )
                    .bind(presented.as_bytes())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(session_id) = known else {
                        return Ok(RefreshOutcome::Unknown);
                    };
                    <$store>::end_session_in(tx, &session_id, now, EndReason::RefreshReuse).await?;
                    let id = SessionId::parse(&session_id)
                        .ok_or_else(|| StoreError::Corrupt("refresh_tokens.session_id".into()))?;
                    return Ok(RefreshOutcome::Reused(id));
                };
                let row = sqlx::query_as::<_, SessionUserRow>(concat!(
                    "SELECT ", $crate::sql::session_columns!(), ", ", $crate::sql::user_columns!(),
                    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
                ))
                .bind(&session_id)
                .fetch_one(&mut *tx)
                .await?;
                let (mut session, user): (Session, User) = row.try_into()?;
                if !session.is_active(now, policy) {
                    <$store>::end_session_in(tx, &session_id, now, EndReason::Expired).await?;
                    return Ok(if session.ended_at.is_none() {
                        RefreshOutcome::Expired(session)
                    } else {
                        RefreshOutcome::SessionEnded
                    });
                }
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(replacement.as_bytes())
                .bind(&session_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                if session.activity_is_stale(now) {
                    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
                        .bind(&session_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    session.last_seen_at = now;
                }
                Ok(RefreshOutcome::Rotated(session, user))
            }
        }

        use async_trait::async_trait;
        use latchkey_core::session::{Session, SessionPolicy};
        use latchkey_core::token::TokenHash;
        use latchkey_core::{NewUser, SessionId, UnixTime, User, UserId};

        use $crate::rows::{KeyRow, SessionRow, SessionUserRow, UserRow};
        use $crate::{
            EndReason, NewSession, RefreshOutcome, Result, StoreError, StoredKey,
        };

        #[async_trait]
        impl $crate::UserStore for $store {
            async fn create_user(&self, new: NewUser, now: UnixTime) -> Result<User> {
                let id = UserId::generate();
                $crate::UnitOfWork::apply(self, vec![$crate::Write::InsertUser { id, new: new.clone() }], now)
                    .await?;
                Ok(User {
                    id,
                    email: new.email,
                    username: new.username,
                    password_hash: new.password_hash,
                    email_verified: new.email_verified,
                    disabled: false,
                    custom_claims: new.custom_claims,
                    created_at: now,
                    updated_at: now,
                })
            }

            async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ", $crate::sql::user_columns!(), " FROM users u WHERE u.id = $1"
                ))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .map(User::try_from)
                .transpose()
            }

            async fn user_by_email(&self, email_key: &str) -> Result<Option<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ", $crate::sql::user_columns!(), " FROM users u WHERE u.email_key = $1"
                ))
                .bind(email_key)
                .fetch_optional(&self.pool)
                .await?
                .map(User::try_from)
                .transpose()
            }

            async fn user_by_username(&self, username_key: &str) -> Result<Option<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ", $crate::sql::user_columns!(), " FROM users u WHERE u.username_key = $1"
                ))
                .bind(username_key)
                .fetch_optional(&self.pool)
                .await?
                .map(User::try_from)
                .transpose()
            }

            async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ", $crate::sql::user_columns!(),
                    " FROM users u WHERE u.id > $1 ORDER BY u.id LIMIT $2"
                ))
                .bind(after.map(|a| a.to_string()).unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(User::try_from)
                .collect()
            }

            async fn set_disabled(&self, id: UserId, disabled: bool, now: UnixTime) -> Result<bool> {
                let mut tx = self.writer.begin().await?;
                let done = sqlx::query(
                    "UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(disabled)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if disabled {
                    sqlx::query(
                        "UPDATE sessions SET ended_at = $2, end_reason = $3 \
                         WHERE user_id = $1 AND ended_at IS NULL",
                    )
                    .bind(id.to_string())
                    .bind(now)
                    .bind(EndReason::Disabled.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn replace_password_hash(&self, id: UserId, hash: &str, now: UnixTime) -> Result<()> {
                sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(hash)
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn password_history(&self, id: UserId, limit: u32) -> Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT password_hash FROM password_history WHERE user_id = $1 \
                     ORDER BY id DESC LIMIT $2",
                )
                .bind(id.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(hash,)| hash).collect())
            }
        }

        #[async_trait]
        impl $crate::SessionStore for $store {
            async fn create_session(&self, new: NewSession) -> Result<Session> {
                $crate::UnitOfWork::apply(self, vec![$crate::Write::CreateSession(new.clone())], new.now)
                    .await?;
                Ok(new.opened())
            }

            async fn session_by_token(&self, token: &TokenHash) -> Result<Option<(Session, User)>> {
                sqlx::query_as::<_, SessionUserRow>(concat!(
                    "SELECT ", $crate::sql::session_columns!(), ", ", $crate::sql::user_columns!(),
                    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
                ))
                .bind(token.as_bytes())
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            async fn session_with_user(&self, id: SessionId) -> Result<Option<(Session, User)>> {
                sqlx::query_as::<_, SessionUserRow>(concat!(
                    "SELECT ", $crate::sql::session_columns!(), ", ", $crate::sql::user_columns!(),
                    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
                ))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            async fn touch_session(&self, id: SessionId, now: UnixTime) -> Result<()> {
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $2 \
                     WHERE id = $1 AND ended_at IS NULL AND last_seen_at < $2",
                )
                .bind(id.to_string())
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn mark_authenticated(&self, id: SessionId, now: UnixTime) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE sessions SET authenticated_at = $2 WHERE id = $1 AND ended_at IS NULL",
                )
                .bind(id.to_string())
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn rotate_refresh_token(
                &self,
                presented: &TokenHash,
                replacement: &TokenHash,
                now: UnixTime,
                policy: &SessionPolicy,
            ) -> Result<RefreshOutcome> {
                let (presented, replacement, policy) = (presented.clone(), replacement.clone(), *policy);
                self.write_unit(move |conn| {
                    let (presented, replacement) = (presented.clone(), replacement.clone());
                    Box::pin(async move {
                        <$store>::rotate_in(conn, &presented, &replacement, now, &policy).await
                    })
                })
                .await
            }

            async fn end_session(
                &self,
                user: UserId,
                id: SessionId,
                now: UnixTime,
                reason: EndReason,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE sessions SET ended_at = $3, end_reason = $4 \
                     WHERE id = $1 AND user_id = $2 AND ended_at IS NULL",
                )
                .bind(id.to_string())
                .bind(user.to_string())
                .bind(now)
                .bind(reason.as_str())
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn prune_sessions(&self, before: UnixTime) -> Result<u64> {
                // Refresh tokens go with their session (ON DELETE CASCADE). At
                // most 10,000 at a time, so a backlog is cleared over several
                // runs rather than in one long transaction.
                let done = sqlx::query(
                    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                     WHERE ended_at < $1 OR expires_at < $1 LIMIT 10000)",
                )
                .bind(before)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected())
            }

            async fn open_sessions(&self, user: UserId) -> Result<Vec<Session>> {
                sqlx::query_as::<_, SessionRow>(concat!(
                    "SELECT ", $crate::sql::session_columns!(),
                    " FROM sessions s WHERE s.user_id = $1 AND s.ended_at IS NULL \
                     ORDER BY s.created_at DESC, s.id DESC LIMIT 500"
                ))
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Session::try_from)
                .collect()
            }
        }

        #[async_trait]
        impl $crate::KeyStore for $store {
            async fn add_signing_key(&self, key: StoredKey, retire_others: bool) -> Result<()> {
                let mut tx = self.writer.begin().await?;
                if retire_others {
                    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                        .bind(key.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.private_key_encrypted)
                .bind(&key.public_jwk)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                tx.commit().await?;
                Ok(())
            }

            async fn signing_keys(&self) -> Result<Vec<StoredKey>> {
                Ok(sqlx::query_as::<_, KeyRow>(
                    "SELECT kid, alg, private_key, public_jwk, created_at, retired_at \
                     FROM signing_keys ORDER BY created_at, kid",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(StoredKey::from)
                .collect())
            }
        }
    };
}

pub(crate) use {impl_sql_store, session_columns, user_columns};
