//! Routes that answer in the shapes of systems Latchkey replaces, each set
//! switched on by configuration (`compat = ["sanctumtools", "leochilds"]`).
//! They share accounts, sessions and everything else with `/api/v1`; only
//! the request and response shapes differ. Each set puts errors in its own
//! body shape in one place; their statuses come from `error.rs`.

mod leochilds;
mod sanctumtools;

use std::marker::PhantomData;

use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use latchkey_core::Error;
use latchkey_core::password::RuleFailure;
use serde_json::Value;

use super::error::{ApiError, Surface};
use super::extract::AppState;
use latchkey_service::config::Config;

pub fn router(config: &Config) -> Router<AppState> {
    let mut router = Router::new();
    if config.compat("sanctumtools") {
        router = router.merge(sanctumtools::router());
    }
    if config.compat("leochilds") {
        router = router.merge(leochilds::router());
    }
    router
}

/// A weak password's failed rules as the seeds said them: `Password must …;
/// Password must …`.
fn rule_sentences(rules: &[RuleFailure]) -> String {
    rules
        .iter()
        .map(|r| format!("Password {}", r.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How a set of routes says an error.
trait Shape {
    /// Whose statuses (`error.rs`) the set answers with.
    const SURFACE: Surface;

    /// The seed's words for the errors it had an answer for; for the others
    /// the standard problem document stands (503, 500…).
    fn words(e: &Error) -> Option<&'static str>;

    /// The seed's error body around a message.
    fn body(message: String) -> Value;
}

/// What a set says for `e`: its own words, or what every seed said about a
/// request it could not take.
fn message<S: Shape>(e: &ApiError) -> Option<String> {
    match e {
        ApiError::Domain(Error::WeakPassword(rules)) => Some(rule_sentences(rules)),
        ApiError::Domain(Error::Invalid { message, .. }) => Some(message.clone()),
        ApiError::Domain(e) => S::words(e).map(str::to_owned),
        ApiError::BadRequest(_) | ApiError::UnsupportedMediaType | ApiError::PayloadTooLarge => {
            Some("Invalid request".to_owned())
        }
        ApiError::RouteNotFound | ApiError::MethodNotAllowed | ApiError::CrossSite => None,
    }
}

/// An error, answered in `S`'s shape.
struct Failure<S>(ApiError, PhantomData<S>);

impl<S> From<ApiError> for Failure<S> {
    fn from(e: ApiError) -> Self {
        Self(e, PhantomData)
    }
}

impl<S> From<Error> for Failure<S> {
    fn from(e: Error) -> Self {
        Self(e.into(), PhantomData)
    }
}

impl<S: Shape> IntoResponse for Failure<S> {
    fn into_response(self) -> Response {
        match message::<S>(&self.0) {
            Some(message) => self.0.respond(S::SURFACE, Json(S::body(message))),
            None => self.0.into_response(),
        }
    }
}
