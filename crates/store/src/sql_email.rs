//! The unit of work, emailed tokens and the outbox, written once for both
//! backends like [`crate::sql`]. `$lock` is what the outbox claim adds to
//! its row selection: `FOR UPDATE SKIP LOCKED` on Postgres, nothing on
//! SQLite (where one writer at a time makes the claim atomic anyway).

macro_rules! mail_columns {
    () => {
        "id, kind, recipient, payload, status, attempts, next_attempt_at, last_error, \
         created_at, sent_at"
    };
}

macro_rules! impl_sql_email {
    ($store:ty, $conn:ty, $lock:literal) => {
        use $crate::model::{EmailTokenRecord, MailRecord, MailStatus, Write};
        use $crate::rows::{EmailTokenRow, MailRow};

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
                                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                            )
                            .bind(t.hash.as_bytes())
                            .bind(t.user_id.to_string())
                            .bind(t.purpose.as_str())
                            .bind(t.new_email.as_ref().map(|e| e.as_str()))
                            .bind(now)
                            .bind(t.expires_at)
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
                    "SELECT user_id, purpose, new_email, created_at, expires_at, used_at \
                     FROM email_tokens WHERE token_hash = $1",
                )
                .bind(hash.as_bytes())
                .fetch_optional(&self.pool)
                .await?
                .map(EmailTokenRecord::try_from)
                .transpose()
            }
        }

        #[async_trait]
        impl $crate::UnlockStore for $store {
            async fn record_unlock(&self, identifiers: &[String], now: UnixTime) -> Result<()> {
                let mut tx = self.writer.begin().await?;
                for identifier in identifiers {
                    sqlx::query(
                        "INSERT INTO unlocks (identifier, unlocked_at) VALUES ($1, $2) \
                         ON CONFLICT (identifier) DO UPDATE SET unlocked_at = excluded.unlocked_at",
                    )
                    .bind(identifier)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn last_unlock(&self, identifier: &str) -> Result<Option<UnixTime>> {
                Ok(sqlx::query_scalar("SELECT unlocked_at FROM unlocks WHERE identifier = $1")
                    .bind(identifier)
                    .fetch_optional(&self.pool)
                    .await?)
            }
        }

        #[async_trait]
        impl $crate::Outbox for $store {
            async fn claim_mail(
                &self,
                now: UnixTime,
                lease_secs: i64,
                limit: u32,
            ) -> Result<Vec<MailRecord>> {
                sqlx::query_as::<_, MailRow>(concat!(
                    "UPDATE outbox SET locked_until = $2 WHERE id IN (SELECT id FROM outbox \
                     WHERE status = 'pending' AND next_attempt_at <= $1 AND locked_until <= $1 \
                     ORDER BY next_attempt_at LIMIT $3", $lock, ") RETURNING ",
                    $crate::sql_email::mail_columns!()
                ))
                .bind(now)
                .bind(now + lease_secs)
                .bind(i64::from(limit))
                .fetch_all(&self.writer)
                .await?
                .into_iter()
                .map(MailRecord::try_from)
                .collect::<Result<Vec<_>>>()
                // RETURNING does not keep the inner ORDER BY: oldest first again.
                .map(|mut batch| {
                    batch.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
                    batch
                })
            }

            async fn mark_sent(&self, id: &str, lease: UnixTime, now: UnixTime) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1, \
                     payload = $3, locked_until = 0, last_error = NULL \
                     WHERE id = $1 AND status = 'pending' AND locked_until = $4",
                )
                .bind(id)
                .bind(now)
                .bind(Vec::<u8>::new())
                .bind(lease)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn mark_failed(
                &self,
                id: &str,
                lease: UnixTime,
                error: &str,
                retry_at: Option<UnixTime>,
            ) -> Result<bool> {
                let status = if retry_at.is_some() { MailStatus::Pending } else { MailStatus::Dead };
                let error: String = error.chars().take(1000).collect();
                let done = sqlx::query(
                    "UPDATE outbox SET status = $2, attempts = attempts + 1, last_error = $3, \
                     next_attempt_at = COALESCE($4, next_attempt_at), locked_until = 0 \
                     WHERE id = $1 AND status = 'pending' AND locked_until = $5",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(error)
                .bind(retry_at)
                .bind(lease)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_mail(&self, status: Option<MailStatus>, limit: u32) -> Result<Vec<MailRecord>> {
                sqlx::query_as::<_, MailRow>(concat!(
                    "SELECT ", $crate::sql_email::mail_columns!(),
                    " FROM outbox WHERE ($1 = '' OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(status.map_or("", MailStatus::as_str))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(MailRecord::try_from)
                .collect()
            }

            async fn requeue_mail(&self, id: &str, now: UnixTime) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, \
                     locked_until = 0 WHERE id = $1 AND status = 'dead'",
                )
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn mail_counts(&self) -> Result<(u64, u64)> {
                let (pending, dead): (i64, i64) = sqlx::query_as(
                    "SELECT \
                     COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0), \
                     COALESCE(SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END), 0) \
                     FROM outbox WHERE status <> 'sent'",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok((pending.max(0) as u64, dead.max(0) as u64))
            }
        }
    };
}

pub(crate) use {impl_sql_email, mail_columns};
