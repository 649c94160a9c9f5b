//! Routes that answer in the shapes of systems Latchkey replaces, each set
//! switched on by configuration (`compat = ["sanctumtools", "leochilds"]`).
//! They share accounts, sessions and everything else with `/api/v1`; only
//! the request and response shapes differ, and each set maps errors to its
//! own shape in one function.

mod leochilds;
mod sanctumtools;

use axum::Router;

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
