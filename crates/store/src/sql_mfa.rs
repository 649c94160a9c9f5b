//! Second factors, recovery codes and MFA tokens, written once for both
//! backends like [`crate::sql`].

macro_rules! factor_columns {
    () => {
        "id, user_id, kind, name, secret, confirmed_at, last_step, created_at, last_used_at"
    };
}

macro_rules! impl_sql_mfa {
    ($store:ty) => {
        const _: () = {
            use $crate::model::MfaFactor;
            use $crate::{Result, StoreError};
            use latchkey_core::token::TokenHash;
            use latchkey_core::{UnixTime, UserId};

            type FactorRow = (
                String,
                String,
                String,
                String,
                Vec<u8>,
                Option<i64>,
                Option<i64>,
                i64,
                Option<i64>,
            );

            fn factor(r: FactorRow) -> Result<MfaFactor> {
                let user_id = UserId::parse(&r.1).ok_or_else(|| {
                    StoreError::Corrupt(format!("mfa_factors.user_id of row {}", r.0))
                })?;
                Ok(MfaFactor {
                    id: r.0,
                    user_id,
                    kind: r.2,
                    name: r.3,
                    secret: r.4,
                    confirmed_at: r.5,
                    last_step: r.6,
                    created_at: r.7,
                    last_used_at: r.8,
                })
            }

            #[async_trait::async_trait]
            impl $crate::MfaStore for $store {
                async fn add_factor(&self, f: &MfaFactor) -> Result<()> {
                    sqlx::query(concat!(
                        "INSERT INTO mfa_factors (",
                        $crate::sql_mfa::factor_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    ))
                    .bind(&f.id)
                    .bind(f.user_id.to_string())
                    .bind(&f.kind)
                    .bind(&f.name)
                    .bind(&f.secret)
                    .bind(f.confirmed_at)
                    .bind(f.last_step)
                    .bind(f.created_at)
                    .bind(f.last_used_at)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn factors(&self, user: UserId) -> Result<Vec<MfaFactor>> {
                    sqlx::query_as::<_, FactorRow>(concat!(
                        "SELECT ",
                        $crate::sql_mfa::factor_columns!(),
                        " FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(user.to_string())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(factor)
                    .collect()
                }

                async fn accept_step(
                    &self,
                    user: UserId,
                    id: &str,
                    step: i64,
                    now: UnixTime,
                ) -> Result<bool> {
                    let done = sqlx::query(
                        "UPDATE mfa_factors SET last_step = $3, last_used_at = $4, \
                         confirmed_at = COALESCE(confirmed_at, $4) \
                         WHERE user_id = $1 AND id = $2 \
                         AND (last_step IS NULL OR last_step < $3)",
                    )
                    .bind(user.to_string())
                    .bind(id)
                    .bind(step)
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn delete_factor(&self, user: UserId, id: &str) -> Result<bool> {
                    let mut tx = self.writer.begin().await?;
                    let done = sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2")
                        .bind(user.to_string())
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    // With its last confirmed factor go the recovery codes.
                    sqlx::query(
                        "DELETE FROM recovery_codes WHERE user_id = $1 AND NOT EXISTS \
                         (SELECT 1 FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
                    )
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn replace_recovery_codes(
                    &self,
                    user: UserId,
                    hashes: &[[u8; 32]],
                    now: UnixTime,
                ) -> Result<()> {
                    let mut tx = self.writer.begin().await?;
                    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                        .bind(user.to_string())
                        .execute(&mut *tx)
                        .await?;
                    for hash in hashes {
                        sqlx::query(
                            "INSERT INTO recovery_codes (user_id, code_hash, created_at) \
                             VALUES ($1, $2, $3)",
                        )
                        .bind(user.to_string())
                        .bind(hash.as_slice())
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn use_recovery_code(
                    &self,
                    user: UserId,
                    hash: &[u8; 32],
                    now: UnixTime,
                ) -> Result<bool> {
                    let done = sqlx::query(
                        "UPDATE recovery_codes SET used_at = $3 \
                         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                    )
                    .bind(user.to_string())
                    .bind(hash.as_slice())
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn recovery_codes_left(&self, user: UserId) -> Result<u32> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                    )
                    .bind(user.to_string())
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(u32::try_from(n).unwrap_or(u32::MAX))
                }

                async fn create_mfa_token(
                    &self,
                    hash: &TokenHash,
                    user: UserId,
                    expires_at: UnixTime,
                ) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO mfa_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                    )
                    .bind(hash.as_bytes())
                    .bind(user.to_string())
                    .bind(expires_at)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn take_mfa_token(
                    &self,
                    hash: &TokenHash,
                    now: UnixTime,
                ) -> Result<Option<UserId>> {
                    let user: Option<String> = sqlx::query_scalar(
                        "UPDATE mfa_tokens SET used_at = $2 \
                         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                         RETURNING user_id",
                    )
                    .bind(hash.as_bytes())
                    .bind(now)
                    .fetch_optional(&self.writer)
                    .await?;
                    user.map(|u| {
                        UserId::parse(&u)
                            .ok_or_else(|| StoreError::Corrupt(format!("mfa_tokens.user_id {u}")))
                    })
                    .transpose()
                }
            }
        };
    };
}

pub(crate) use {factor_columns, impl_sql_mfa};
