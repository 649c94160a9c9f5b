//! Every counter the service increments, registered at zero with each of
//! its known labels when the recorder is installed, so that `/metrics` has
//! the series (and a dashboard or an alert something to read) before the
//! first lockout, rate limit or dead message.
//!
//! A counter added elsewhere belongs here too: the CLI test
//! `metrics_are_listed_at_zero_from_the_start` reads every counter name
//! from the sources and fails on one a fresh server does not show.

use latchkey_core::password::PasswordRule;

use crate::mail::MailKind;
use crate::throttle::Endpoint;

/// Counters without labels.
const PLAIN: &[&str] = &[
    "latchkey_audit_write_failures_total",
    "latchkey_auth_account_lockouts_total",
    "latchkey_auth_email_verification_completed_total",
    "latchkey_auth_email_verification_sent_total",
    "latchkey_auth_login_attempts_total",
    "latchkey_auth_login_success_total",
    "latchkey_auth_password_reset_requests_total",
    "latchkey_auth_registration_total",
    "latchkey_auth_session_created_total",
    "latchkey_auth_session_expired_total",
    "latchkey_auth_token_refresh_total",
    "latchkey_email_verified_total",
    "latchkey_hash_pool_rejected_total",
    "latchkey_password_reset_requests_total",
    "latchkey_sessions_created_total",
];

/// The `reason` of a failed login (`auth.rs`), also a `result` of an attempt.
const LOGIN_FAILURES: &[&str] = &[
    "unverified",
    "invalid_credentials",
    "locked",
    "rate_limited",
    "overloaded",
    "error",
];

/// Every endpoint with rate limits, for `latchkey_auth_rate_limited_total`.
const ENDPOINTS: [Endpoint; 5] = [
    Endpoint::Login,
    Endpoint::Signup,
    Endpoint::Forgot,
    Endpoint::Resend,
    Endpoint::Refresh,
];

/// Fails to compile when an endpoint is added and not listed above.
const _: fn(Endpoint) = |e| match e {
    Endpoint::Login
    | Endpoint::Signup
    | Endpoint::Forgot
    | Endpoint::Resend
    | Endpoint::Refresh => {}
};

/// Registers every counter at zero. Incrementing by zero leaves a counter
/// that has already counted as it is.
pub fn register_all() {
    for name in PLAIN {
        metrics::counter!(*name).increment(0);
    }
    for result in ["created", "existing"] {
        metrics::counter!("latchkey_signups_total", "result" => result).increment(0);
    }
    metrics::counter!("latchkey_login_attempts_total", "result" => "success").increment(0);
    metrics::counter!("latchkey_auth_mfa_challenges_verified_total").increment(0);
    for reason in LOGIN_FAILURES {
        metrics::counter!("latchkey_login_attempts_total", "result" => *reason).increment(0);
        metrics::counter!("latchkey_auth_login_failures_total", "reason" => *reason).increment(0);
    }
    for result in ["success", "reused", "invalid"] {
        metrics::counter!("latchkey_token_refresh_total", "result" => result).increment(0);
    }
    for kind in MailKind::ALL {
        let kind = kind.as_str();
        metrics::counter!("latchkey_mail_sent_total", "kind" => kind).increment(0);
        metrics::counter!("latchkey_mail_retried_total", "kind" => kind).increment(0);
        metrics::counter!("latchkey_mail_dead_total", "kind" => kind).increment(0);
    }
    for result in ["breached", "clean", "error"] {
        metrics::counter!("latchkey_password_breached_checks_total", "result" => result)
            .increment(0);
    }
    for rule in PasswordRule::ALL {
        metrics::counter!("latchkey_password_rejected_total", "rule" => rule.as_str()).increment(0);
    }
    for endpoint in ENDPOINTS {
        metrics::counter!("latchkey_auth_rate_limited_total", "endpoint" => endpoint.name())
            .increment(0);
    }
}
