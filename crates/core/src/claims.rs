//! What an access token claims.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{SessionId, UnixTime, User};

/// The JOSE `typ` of our access tokens (RFC 9068). A token of any other type
/// is never accepted as an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Names a custom claim may not take, because they carry our own meaning.
pub const RESERVED_CLAIMS: &[&str] = &[
    "username",
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "sid",
    "email",
    "email_verified",
    "typ",
    "azp",
    "scope",
    "client_id",
    "auth_time",
    "amr",
    "acr",
    "nonce",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub nbf: UnixTime,
    pub jti: String,
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// How the user signed in (RFC 8176): `["pwd"]`, or `["pwd","otp","mfa"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

impl AccessClaims {
    pub fn new(
        user: &User,
        session: SessionId,
        issuer: &str,
        audience: &str,
        now: UnixTime,
        ttl_secs: i64,
    ) -> Self {
        let custom = user
            .custom_claims
            .iter()
            .filter(|(k, _)| !RESERVED_CLAIMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self {
            iss: issuer.to_owned(),
            sub: user.id.to_string(),
            aud: audience.to_owned(),
            exp: now + ttl_secs,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session.to_string(),
            email: user.email_str().map(str::to_owned),
            email_verified: user.email_verified,
            username: user.username.as_ref().map(|u| u.as_str().to_owned()),
            amr: Vec::new(),
            custom,
        }
    }
}
