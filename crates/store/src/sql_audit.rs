//! The audit trail's storage, for both backends (see [`crate::sql`]).
//! Appends serialize on the single `audit_head` row: its `UPDATE` comes
//! first, which takes the row lock on Postgres (nodes queue there) and the
//! write lock on SQLite, so no append can read a stale head.

macro_rules! impl_sql_audit {
    ($store:ty, $conn:ty) => {
        use latchkey_core::audit::{AuditEvent, AuditRecord};
        use $crate::rows::AuditRow;

        impl $store {
            /// An append inside the caller's transaction.
            async fn append_audit_in(tx: &mut $conn, event: &AuditEvent) -> Result<i64> {
                let (seq, previous): (i64, Vec<u8>) = sqlx::query_as(
                    "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
                )
                .fetch_one(&mut *tx)
                .await?;
                let hash = event.chain_hash(seq, &previous).to_vec();
                sqlx::query(
                    "INSERT INTO audit_events (seq, at, kind, result, user_id, ip, user_agent, \
                     request_id, detail, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(seq)
                .bind(event.at)
                .bind(&event.kind)
                .bind(&event.result)
                .bind(event.user_id.map(|u| u.to_string()))
                .bind(event.ip.as_deref())
                .bind(event.user_agent.as_deref())
                .bind(event.request_id.as_deref())
                .bind(&event.detail)
                .bind(&previous)
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                Ok(seq)
            }
        }

        #[async_trait]
        impl $crate::AuditStore for $store {
            async fn append_audit(&self, event: &AuditEvent) -> Result<i64> {
                let event = event.clone();
                self.write_unit(move |conn| {
                    let event = event.clone();
                    Box::pin(async move { <$store>::append_audit_in(conn, &event).await })
                })
                .await
            }

            async fn audit_events(
                &self,
                user: Option<UserId>,
                since: Option<UnixTime>,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<AuditRecord>> {
                sqlx::query_as::<_, AuditRow>(
                    "SELECT seq, at, kind, result, user_id, ip, user_agent, request_id, detail, \
                     prev_hash, hash FROM audit_events \
                     WHERE seq > $1 AND ($2 = '' OR user_id = $2) AND at >= $3 \
                     ORDER BY seq LIMIT $4",
                )
                .bind(after_seq)
                .bind(user.map(|u| u.to_string()).unwrap_or_default())
                .bind(since.unwrap_or(i64::MIN))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(AuditRecord::try_from)
                .collect()
            }

            async fn recent_audit_events(&self, user: UserId, limit: u32) -> Result<Vec<AuditRecord>> {
                sqlx::query_as::<_, AuditRow>(
                    "SELECT seq, at, kind, result, user_id, ip, user_agent, request_id, detail, \
                     prev_hash, hash FROM audit_events WHERE user_id = $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(user.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(AuditRecord::try_from)
                .collect()
            }

            async fn audit_bounds(&self) -> Result<(i64, Vec<u8>, i64)> {
                let (first_seq, first_prev, head): (i64, Vec<u8>, i64) =
                    sqlx::query_as("SELECT first_seq, first_prev, seq FROM audit_head WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await?;
                Ok((first_seq, first_prev, head))
            }

            async fn prune_audit(&self, before: UnixTime) -> Result<u64> {
                let mut tx = self.writer.begin().await?;
                // A write first: appends wait behind us, and we behind them.
                sqlx::query("UPDATE audit_head SET first_seq = first_seq WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                let last: Option<(i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_events WHERE at < $1 ORDER BY seq DESC LIMIT 1",
                )
                .bind(before)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((through, hash)) = last else {
                    return Ok(0);
                };
                let gone = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
                    .bind(through)
                    .execute(&mut *tx)
                    .await?;
                // The remaining chain now starts after the last pruned row.
                sqlx::query("UPDATE audit_head SET first_seq = $1, first_prev = $2 WHERE id = 1")
                    .bind(through + 1)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(gone.rows_affected())
            }
        }
    };
}

pub(crate) use impl_sql_audit;
