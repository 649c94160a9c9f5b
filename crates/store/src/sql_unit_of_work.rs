//! The unit of work, written once for both backends like [`crate::sql`]:
//! every [`Write`](crate::model::Write) of a unit applied inside the
//! caller's transaction (`apply_in`), and `apply`, which runs one unit
//! through the store's group commit. Also the emailed-token lookup, since
//! tokens are written only in units.

macro_rules! impl_sql_unit_of_work {
    ($store:ty, $conn:ty) => {
        const _: () = {
            use $crate::model::{EmailTokenRecord, Write};
            use $crate::rows::EmailTokenRow;

        impl $store {
                /// A unit of work inside the caller's transaction.
                async fn apply_in(tx: &mut $conn, writes: Vec<Write>, now: UnixTime) -> Result<()> {
                    for write in writes {
                        match write {
                            Write::InsertUser { id, new } => {
                                let claims = serde_json::Value::Object(new.custom_claims).to_string();
                                sqlx::query(
                                    "INSERT INTO users (id, email, email_key, username, username_key, \
                                     password_hash, email_verified, disabled, custom_claims, created_at, \
                                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9, $9)",
                                )
                                .bind(id.to_string())
                                .bind(new.email.as_ref().map(|e| e.as_str()))
                                .bind(new.email.as_ref().map(|e| e.key()))
                                .bind(new.username.as_ref().map(|u| u.as_str()))
                                .bind(new.username.as_ref().map(|u| u.key()))
                                .bind(&new.password_hash)
                                .bind(new.email_verified)
                                .bind(claims)
                                .bind(now)
                                .execute(&mut *tx)
                                .await
                                .map_err(StoreError::from_write)?;
                            }
                            Write::InsertEmailToken(t) => {
                                sqlx::query(
                                    "INSERT INTO email_tokens (token_hash, user_id, purpose, new_email, \
                                     created_at, expires_at, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                )
                                .bind(t.hash.as_bytes())
                                .bind(t.user_id.to_string())
                                .bind(t.purpose.as_str())
                                .bind(t.new_email.as_ref().map(|e| e.as_str()))
                                .bind(now)
                                .bind(t.expires_at)
                                .bind(t.session_id.map(|s| s.to_string()))
                                .execute(&mut *tx)
                                .await
                                .map_err(StoreError::from_write)?;
                            }
                            Write::ConsumeEmailToken { hash, purpose } => {
                                let done = sqlx::query(
                                    "UPDATE email_tokens SET used_at = $3 WHERE token_hash = $1 \
                                     AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
                                )
                                .bind(hash.as_bytes())
                                .bind(purpose.as_str())
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                                if done.rows_affected() == 0 {
                                    return Err(StoreError::TokenUnusable);
                                }
                            }
                            Write::RevokeEmailTokens { user, purpose } => {
                                sqlx::query(
                                    "UPDATE email_tokens SET used_at = $3 \
                                     WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
                                )
                                .bind(user.to_string())
                                .bind(purpose.as_str())
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                            }
                            Write::Enqueue(mail) => {
                                sqlx::query(
                                    "INSERT INTO outbox (id, kind, recipient, payload, next_attempt_at, \
                                     created_at) VALUES ($1, $2, $3, $4, $5, $5)",
                                )
                                .bind(&mail.id)
                                .bind(&mail.kind)
                                .bind(&mail.recipient)
                                .bind(&mail.payload)
                                .bind(now)
                                .execute(&mut *tx)
                                .await
                                .map_err(StoreError::from_write)?;
                            }
                            Write::SetPassword { user, hash } => {
                                sqlx::query(
                                    "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
                                )
                                .bind(user.to_string())
                                .bind(hash)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                            }
                            Write::RecordPasswordHistory { user, keep } => {
                                if keep > 0 {
                                    sqlx::query(
                                        "INSERT INTO password_history (user_id, password_hash, created_at) \
                                         SELECT id, password_hash, $2 FROM users WHERE id = $1",
                                    )
                                    .bind(user.to_string())
                                    .bind(now)
                                    .execute(&mut *tx)
                                    .await?;
                                }
                                sqlx::query(
                                    "DELETE FROM password_history WHERE user_id = $1 AND id NOT IN \
                                     (SELECT id FROM password_history WHERE user_id = $1 \
                                     ORDER BY id DESC LIMIT $2)",
                                )
                                .bind(user.to_string())
                                .bind(i64::from(keep))
                                .execute(&mut *tx)
                                .await?;
                            }
                            Write::EndSessions { user, except, reason } => {
                                sqlx::query(
                                    "UPDATE sessions SET ended_at = $3, end_reason = $4 \
                                     WHERE user_id = $1 AND ended_at IS NULL AND id <> $2",
                                )
                                .bind(user.to_string())
                                .bind(except.map(|k| k.to_string()).unwrap_or_default())
                                .bind(now)
                                .bind(reason.as_str())
                                .execute(&mut *tx)
                                .await?;
                            }
                            Write::MarkEmailVerified { user } => {
                                sqlx::query(
                                    "UPDATE users SET email_verified = TRUE, updated_at = $2 WHERE id = $1",
                                )
                                .bind(user.to_string())
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                            }
                            Write::CreateSession(new) => {
                                <$store>::create_session_in(&mut *tx, &new).await?;
                            }
                            Write::Audit(event) => {
                                <$store>::append_audit_in(&mut *tx, &event).await?;
                            }
                            Write::SetEmail { user, email } => {
                                sqlx::query(
                                    "UPDATE users SET email = $2, email_key = $3, email_verified = TRUE, \
                                     updated_at = $4 WHERE id = $1",
                                )
                                .bind(user.to_string())
                                .bind(email.as_str())
                                .bind(email.key())
                                .bind(now)
                                .execute(&mut *tx)
                                .await
                                .map_err(StoreError::from_write)?;
                            }
                        }
                    }
                    Ok(())
                }
            }

            #[async_trait]
            impl $crate::UnitOfWork for $store {
                async fn apply(&self, writes: Vec<Write>, now: UnixTime) -> Result<()> {
                    self.write_unit(move |conn| {
                        let writes = writes.clone();
                        Box::pin(async move { <$store>::apply_in(conn, writes, now).await })
                    })
                    .await
                }

                async fn email_token(&self, hash: &TokenHash) -> Result<Option<EmailTokenRecord>> {
                    sqlx::query_as::<_, EmailTokenRow>(
                        "SELECT user_id, purpose, new_email, session_id, created_at, expires_at, used_at \
                         FROM email_tokens WHERE token_hash = $1",
                    )
                    .bind(hash.as_bytes())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(EmailTokenRecord::try_from)
                    .transpose()
                }
            }
        };
    };
}

pub(crate) use impl_sql_unit_of_work;
