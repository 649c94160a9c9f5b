//! Second factors: TOTP enrolment and confirmation, recovery codes, and the
//! second step of a login for a user who has a confirmed factor.

use latchkey_core::audit::AuditKind;
use latchkey_core::recovery_code::{RecoveryCode, hash_presented};
use latchkey_core::token::{SecretToken, TokenHash};
use latchkey_core::totp::TotpSecret;
use latchkey_core::{Error, User, UserId};
use latchkey_store::{MfaFactor, Write};
use serde_json::{Value, json};
use tracing::instrument;

use crate::auth::Lifetimes;
use crate::context::{ClientInfo, Ctx, Issued, Principal, capability};
use crate::mail::MailKind;
use crate::throttle::Guarded;

/// How long an `mfa_token` lasts.
pub const MFA_TOKEN_SECS: i64 = 5 * 60;
/// How recent a login must be to change factors.
pub const RECENT_AUTH_SECS: i64 = 5 * 60;

capability!(
    /// Second factors and the second step of a login.
    Mfa
);

/// A TOTP factor just enrolled: what the authenticator app needs, shown once.
#[derive(Debug)]
pub struct Enrolment {
    pub id: String,
    pub secret_base32: String,
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG), for the app to scan.
    pub qr_svg: String,
}

/// The user's factors (never a secret) and how many recovery codes are left.
#[derive(Debug)]
pub struct Overview {
    pub factors: Vec<MfaFactor>,
    pub recovery_codes_left: u32,
}

/// Which second factor a login presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    Totp,
    RecoveryCode,
}

/// What a password login leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    SignedIn(Box<Issued>),
    /// The user has a second factor: only this token, for the second step.
    SecondFactorRequired {
        mfa_token: SecretToken,
    },
}

fn secret_context(factor_id: &str, user: UserId) -> String {
    format!("mfa_factor:{factor_id}:{user}")
}

impl Mfa {
    /// Starts a TOTP enrolment; the factor is pending until confirmed.
    #[instrument(skip_all)]
    pub async fn enrol_totp(&self, principal: &Principal) -> Result<Enrolment, Error> {
        self.require_recent(principal)?;
        let secret = TotpSecret::generate();
        let id = uuid::Uuid::new_v4().to_string();
        let user = &principal.user;
        let sealed = self
            .keys
            .master()
            .encrypt(secret.as_bytes(), &secret_context(&id, user.id))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let factor = MfaFactor {
            id: id.clone(),
            user_id: user.id,
            kind: "totp".into(),
            name: "Authenticator app".into(),
            secret: sealed,
            confirmed_at: None,
            last_step: None,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        self.store.add_factor(&factor).await?;
        // The issuer authenticator apps show: the product's name.
        let issuer = &self.config.email.product_name;
        let otpauth_uri = secret.otpauth_uri(issuer, &account_name(user));
        Ok(Enrolment {
            id,
            secret_base32: secret.base32(),
            qr_svg: qr_svg(&otpauth_uri)?,
            otpauth_uri,
        })
    }

    /// Confirms a pending TOTP factor with a code from the app. The user's
    /// first factor also gets a set of recovery codes, returned once.
    #[instrument(skip_all)]
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        id: &str,
        code: &str,
    ) -> Result<Option<Vec<RecoveryCode>>, Error> {
        self.require_recent(principal)?;
        let user = principal.user.id;
        let factors = self.store.factors(user).await?;
        let first = !factors.iter().any(|f| f.confirmed_at.is_some());
        let Some(factor) = factors
            .iter()
            .find(|f| f.id == id && f.confirmed_at.is_none())
        else {
            return Err(Error::NotFound);
        };
        if !self.totp_matches(factor, code).await? {
            return Err(Error::InvalidCode);
        }
        let codes = if first {
            let codes = RecoveryCode::generate_set();
            let hashes: Vec<[u8; 32]> = codes.iter().map(RecoveryCode::hash).collect();
            self.store
                .replace_recovery_codes(user, &hashes, self.clock.now())
                .await?;
            Some(codes)
        } else {
            None
        };
        self.audit_success(principal, AuditKind::MfaEnrolled, json!({ "factor": id }))
            .await;
        Ok(codes)
    }

    /// Removes a factor (pending or confirmed). With the last confirmed
    /// one go the recovery codes.
    #[instrument(skip_all)]
    pub async fn remove(&self, principal: &Principal, id: &str) -> Result<(), Error> {
        self.require_recent(principal)?;
        if !self.store.delete_factor(principal.user.id, id).await? {
            return Err(Error::NotFound);
        }
        self.audit_success(principal, AuditKind::MfaRemoved, json!({ "factor": id }))
            .await;
        Ok(())
    }

    /// A new set of recovery codes; the old set stops working. Only for a
    /// user with a confirmed factor.
    #[instrument(skip_all)]
    pub async fn regenerate_recovery_codes(
        &self,
        principal: &Principal,
    ) -> Result<Vec<RecoveryCode>, Error> {
        self.require_recent(principal)?;
        let user = principal.user.id;
        if !self.has_second_factor(user).await? {
            return Err(Error::NotFound);
        }
        let codes = RecoveryCode::generate_set();
        let hashes: Vec<[u8; 32]> = codes.iter().map(RecoveryCode::hash).collect();
        self.store
            .replace_recovery_codes(user, &hashes, self.clock.now())
            .await?;
        Ok(codes)
    }

    /// The user's factors, pending ones included.
    pub async fn overview(&self, user: UserId) -> Result<Overview, Error> {
        Ok(Overview {
            factors: self.store.factors(user).await?,
            recovery_codes_left: self.store.recovery_codes_left(user).await?,
        })
    }

    /// The second step of a login: spends the token (whatever the code),
    /// checks the code and opens the session.
    #[instrument(skip_all)]
    pub async fn complete_login(
        &self,
        mfa_token: &str,
        kind: FactorKind,
        code: &str,
        client: ClientInfo,
        lifetimes: Lifetimes,
    ) -> Result<Issued, Error> {
        let now = self.clock.now();
        let Some(hash) = TokenHash::of_presented(mfa_token) else {
            return Err(Error::InvalidCode);
        };
        let Some(user_id) = self.store.take_mfa_token(&hash, now).await? else {
            return Err(Error::InvalidCode);
        };
        let guarded = Guarded::mfa(user_id);
        self.admit_login(&guarded).await?;
        let Some(user) = self
            .store
            .user_by_id(user_id)
            .await?
            .filter(|u| !u.disabled)
        else {
            return Err(Error::InvalidCode);
        };
        let verified = match kind {
            FactorKind::Totp => self.any_totp_matches(user_id, code).await?,
            FactorKind::RecoveryCode => {
                self.store
                    .use_recovery_code(user_id, &hash_presented(code), now)
                    .await?
            }
        };
        let detail = json!({ "factor": kind.as_str() });
        if !verified {
            self.login_failed(&guarded).await;
            self.audit(
                AuditKind::MfaFailed,
                "wrong_code",
                Some(user_id),
                Some(&client),
                detail,
            )
            .await;
            return Err(Error::InvalidCode);
        }
        self.login_succeeded(&guarded).await;
        metrics::counter!("latchkey_auth_mfa_challenges_verified_total").increment(1);
        if kind == FactorKind::RecoveryCode {
            // The event and the owner's notice, together.
            let event = self.audit_event(
                AuditKind::RecoveryCodeUsed,
                "success",
                Some(user_id),
                Some(&client),
                Value::Null,
            );
            let mut writes = vec![Write::Audit(event)];
            writes.extend(self.notice(MailKind::RecoveryCodeUsed, &user, None)?);
            self.commit(writes).await?;
        }
        self.audit(
            AuditKind::MfaVerified,
            "success",
            Some(user_id),
            Some(&client),
            detail,
        )
        .await;
        self.open_session(user, client, lifetimes, &["pwd", "otp", "mfa"])
            .await
    }

    async fn any_totp_matches(&self, user: UserId, code: &str) -> Result<bool, Error> {
        for factor in self.store.factors(user).await? {
            if factor.kind == "totp"
                && factor.confirmed_at.is_some()
                && self.totp_matches(&factor, code).await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether the code is good for this factor now; if so its step is spent.
    async fn totp_matches(&self, factor: &MfaFactor, code: &str) -> Result<bool, Error> {
        let plain = self
            .keys
            .master()
            .decrypt(&factor.secret, &secret_context(&factor.id, factor.user_id))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let now = self.clock.now();
        let Some(step) = TotpSecret::from_bytes(plain).verify(code, now, factor.last_step) else {
            return Ok(false);
        };
        Ok(self
            .store
            .accept_step(factor.user_id, &factor.id, step, now)
            .await?)
    }

    fn require_recent(&self, principal: &Principal) -> Result<(), Error> {
        if self.clock.now() - principal.session.authenticated_at > RECENT_AUTH_SECS {
            return Err(Error::ReauthenticationRequired);
        }
        Ok(())
    }
}

impl FactorKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "totp" => Some(Self::Totp),
            "recovery_code" => Some(Self::RecoveryCode),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

fn qr_svg(uri: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

fn account_name(user: &User) -> String {
    user.email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .or_else(|| user.username.as_ref().map(|u| u.as_str().to_owned()))
        .unwrap_or_else(|| user.id.to_string())
}

impl Ctx {
    /// Whether a password login must go on to a second step.
    pub(crate) async fn has_second_factor(&self, user: UserId) -> Result<bool, Error> {
        Ok(self
            .store
            .factors(user)
            .await?
            .iter()
            .any(|f| f.confirmed_at.is_some()))
    }

    /// The token for the second step of a login.
    pub(crate) async fn mfa_challenge(&self, user: UserId) -> Result<SecretToken, Error> {
        let token = SecretToken::generate();
        self.store
            .create_mfa_token(&token.hash(), user, self.clock.now() + MFA_TOKEN_SECS)
            .await?;
        Ok(token)
    }
}
