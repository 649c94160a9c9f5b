//! Latchkey's domain: the types that can only hold valid values and the rules
//! that decide (is this password acceptable, is this session still valid, what
//! does this token claim). Nothing here performs I/O.

pub mod audit;
pub mod claims;
pub mod clock;
pub mod email;
pub mod error;
pub mod ids;
pub mod import;
pub mod password;
pub mod password_hash;
pub mod recovery_code;
pub mod session;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod user;
pub mod username;

pub use clock::{Clock, SystemClock, UnixTime};
pub use email::Email;
pub use error::Error;
pub use ids::{SessionId, UserId};
pub use password::{Password, PasswordPolicy};
pub use user::{NewUser, User};
pub use username::Username;
