//! Server-side sessions and the rules that end them.

use serde::{Deserialize, Serialize};

use crate::{SessionId, UnixTime, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionPolicy {
    /// A session unused for this long ends (seconds).
    pub idle_timeout_secs: i64,
    /// A session ends this long after login whatever happens (seconds).
    pub absolute_timeout_secs: i64,
    /// How long a node may answer token checks from its memory of a session
    /// (milliseconds; 0: always read the store). A node forgets a session
    /// at once when it changes it itself; this bounds how long a change made
    /// on another node takes to be seen.
    pub check_cache_ms: u64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 60 * 60,
            check_cache_ms: 1000,
        }
    }
}

/// Bounds on what we keep from the client's request.
pub const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    /// The absolute limit, fixed at login.
    pub expires_at: UnixTime,
    pub ended_at: Option<UnixTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// This session's own idle limit, instead of the policy's.
    pub idle_timeout_secs: Option<i64>,
    /// When the user last proved who they are in this session: at login,
    /// or later by reauthenticating.
    pub authenticated_at: UnixTime,
    /// How they signed in (RFC 8176): `pwd`, or `pwd otp mfa`.
    pub amr: Vec<String>,
}

/// A session's `last_seen_at` is written at most this often: a token check
/// or a refresh within a minute of the last recorded activity stays a read,
/// and idle limits (minutes to hours) are kept to within a minute.
pub const ACTIVITY_RESOLUTION_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active,
    Ended,
    IdleExpired,
    AbsoluteExpired,
}

impl Session {
    pub fn state(&self, now: UnixTime, policy: &SessionPolicy) -> SessionState {
        if self.ended_at.is_some() {
            SessionState::Ended
        } else if now >= self.expires_at {
            SessionState::AbsoluteExpired
        } else if now
            >= self
                .last_seen_at
                .saturating_add(self.idle_timeout_secs.unwrap_or(policy.idle_timeout_secs))
        {
            SessionState::IdleExpired
        } else {
            SessionState::Active
        }
    }

    pub fn is_active(&self, now: UnixTime, policy: &SessionPolicy) -> bool {
        self.state(now, policy) == SessionState::Active
    }

    /// Whether activity at `now` is worth writing down (see
    /// [`ACTIVITY_RESOLUTION_SECS`]).
    pub fn activity_is_stale(&self, now: UnixTime) -> bool {
        now - self.last_seen_at >= ACTIVITY_RESOLUTION_SECS
    }
}

/// Trims what a client tells us about itself to a bounded size.
pub fn bound_user_agent(ua: &str) -> String {
    ua.chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created: UnixTime) -> Session {
        Session {
            authenticated_at: created,
            amr: vec!["pwd".into()],
            id: SessionId::generate(),
            user_id: UserId::generate(),
            created_at: created,
            last_seen_at: created,
            expires_at: created + SessionPolicy::default().absolute_timeout_secs,
            ended_at: None,
            ip: None,
            user_agent: None,
            idle_timeout_secs: None,
        }
    }

    #[test]
    fn idle_and_absolute_limits() {
        let p = SessionPolicy::default();
        let mut s = session(1000);
        assert_eq!(s.state(1000 + 29 * 60, &p), SessionState::Active);
        assert_eq!(s.state(1000 + 30 * 60, &p), SessionState::IdleExpired);
        // Activity keeps it alive, but only up to the absolute limit.
        s.last_seen_at = 1000 + 12 * 3600 - 60;
        assert_eq!(s.state(1000 + 12 * 3600 - 1, &p), SessionState::Active);
        assert_eq!(s.state(1000 + 12 * 3600, &p), SessionState::AbsoluteExpired);
        s.ended_at = Some(1001);
        assert_eq!(s.state(1002, &p), SessionState::Ended);
    }

    #[test]
    fn user_agent_is_bounded() {
        let ua = "x".repeat(1000) + "\n";
        assert_eq!(bound_user_agent(&ua).len(), MAX_USER_AGENT_CHARS);
    }
}
