//! Latchkey's application: the use cases over the core rules and the store.
//! Callers (HTTP handlers, CLI commands) reach them through [`App`]'s
//! capabilities, one module each; nothing here parses HTTP or knows of it.

mod account;
mod admin;
mod app;
mod audit;
mod auth;
mod background;
pub mod breached;
pub mod cache;
mod check_cache;
pub mod config;
mod context;
pub mod hash_pool;
mod import;
pub mod keys;
pub mod mail;
pub mod metrics_names;
mod mfa;
pub mod outbound;
mod policy;
mod pwned_file;
mod recovery;
mod sessions;
mod throttle;
mod unit_of_work;

pub use account::Account;
pub use admin::{Admin, ChainVerdict};
pub use app::{App, StartError, create_data_dir};
pub use auth::{Auth, Lifetimes, LoginId};
pub use background::{Background, Running};
pub use check_cache::{SessionCache, TokenCache};
pub use config::{Config, Overrides};
pub use context::{ClientInfo, Issued, Principal};
pub use import::Importer;
pub use mfa::{Enrolment, FactorKind, LoginOutcome, Mfa, Overview};
pub use recovery::{Recovery, human_duration};
pub use sessions::Sessions;
pub use throttle::Identifier;
