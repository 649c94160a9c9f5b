//! What every capability works with: the shared parts of the running
//! application, and the request-independent types they pass around.

use std::sync::Arc;

use latchkey_core::password_hash::Hasher;
use latchkey_core::session::Session;
use latchkey_core::token::SecretToken;
use latchkey_core::{Clock, User};
use latchkey_store::Store;
use latchkey_store::ephemeral::Ephemeral;

use crate::breached::BreachedChecker;
use crate::check_cache::{SessionCache, TokenCache};
use crate::config::Config;
use crate::hash_pool::HashPool;
use crate::keys::KeyRing;
use crate::mail::Mailer;

/// The parts every capability shares, built once by [`crate::App::start`].
/// Opaque outside this crate: callers reach it only through a capability.
#[derive(Debug)]
pub struct Ctx {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hasher: Arc<Hasher>,
    pub(crate) pool: HashPool,
    pub(crate) keys: KeyRing,
    pub(crate) mailer: Arc<Mailer>,
    /// Breached-password lists, if configured.
    pub(crate) breached: BreachedChecker,
    pub(crate) ephemeral: Arc<dyn Ephemeral>,
    /// Bounds the work requests leave running after their answer.
    pub(crate) background: Arc<tokio::sync::Semaphore>,
    /// Parsed once from `trusted_proxies`.
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Open sessions recently checked (see [`SessionCache`]).
    pub(crate) session_cache: SessionCache,
    /// Access tokens recently verified.
    pub(crate) token_cache: TokenCache,
}

/// Declares a capability: a cheap handle (one `Arc`) on the shared parts,
/// whose methods are the use cases of one module.
macro_rules! capability {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub(crate) std::sync::Arc<$crate::context::Ctx>);

        impl std::ops::Deref for $name {
            type Target = $crate::context::Ctx;

            fn deref(&self) -> &$crate::context::Ctx {
                &self.0
            }
        }
    };
}
pub(crate) use capability;

/// What the client told us about itself, bounded.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// This request's id, for the audit trail.
    pub request_id: Option<String>,
}

/// A signed-in caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub session: Session,
    /// Where the request came from (for the audit trail).
    pub client: ClientInfo,
}

/// Tokens handed out at login or refresh.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: SecretToken,
    /// Only at login: the new session cookie.
    pub cookie_token: Option<SecretToken>,
    pub session: Session,
    pub user: User,
}
