//! Latchkey's application: the use cases over the core rules and the store.
//! Each public method is one thing a user or an operator can do; nothing
//! here parses HTTP or knows of it.

mod account;
mod app;
mod audit;
mod auth;
pub mod breached;
pub mod cache;
mod check_cache;
pub mod config;
mod email;
pub mod hash_pool;
pub mod keys;
pub mod mail;
pub mod outbound;
mod policy;
mod pwned_file;
mod throttle;

pub use app::{App, ClientInfo, Issued, Principal, StartError};
pub use auth::{Lifetimes, LoginId};
pub use check_cache::{SessionCache, TokenCache};
pub use config::{Config, Overrides};
pub use email::human_duration;
pub use throttle::Identifier;
