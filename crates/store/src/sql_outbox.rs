//! The outbox (and the lockout's unlock records), written once for both
//! backends like [`crate::sql`]. `$lock` is what the outbox claim adds to
//! its row selection: `FOR UPDATE SKIP LOCKED` on Postgres, nothing on
//! SQLite (where one writer at a time makes the claim atomic anyway).

macro_rules! mail_columns {
    () => {
        "id, kind, recipient, payload, status, attempts, next_attempt_at, last_error, \
         created_at, sent_at"
    };
}

macro_rules! impl_sql_outbox {
    ($store:ty, $lock:literal) => {
        const _: () = {
            use $crate::model::{MailRecord, MailStatus};
            use $crate::rows::MailRow;

        #[async_trait]
            impl $crate::UnlockStore for $store {
                async fn record_unlock(&self, identifiers: &[String], now: UnixTime) -> Result<()> {
                    let mut tx = self.writer.begin().await?;
                    for identifier in identifiers {
                        sqlx::query(
                            "INSERT INTO unlocks (identifier, unlocked_at) VALUES ($1, $2) \
                             ON CONFLICT (identifier) DO UPDATE SET unlocked_at = CASE \
                             WHEN excluded.unlocked_at > unlocks.unlocked_at THEN excluded.unlocked_at \
                             ELSE unlocks.unlocked_at + 1 END",
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
                        $crate::sql_outbox::mail_columns!()
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
                        "SELECT ", $crate::sql_outbox::mail_columns!(),
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
    };
}

pub(crate) use {impl_sql_outbox, mail_columns};
