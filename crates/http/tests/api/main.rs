//! End-to-end tests of the HTTP API against a real server, each run once on
//! SQLite and once on Postgres; and the breached-password check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../store/tests/store/harness.rs"]
mod harness;
mod helpers;
mod smtp;

mod abuse;
mod account;
mod audit;
mod auth;
mod breached;
mod compat;
mod connections;
mod email;
mod input;
mod mfa;
mod ops;
mod outage;
mod policy;
mod tokens;
mod ui;

fn main() {
    harness::run([
        abuse::backend_tests(),
        abuse::tests(),
        account::backend_tests(),
        audit::backend_tests(),
        auth::backend_tests(),
        breached::tests(),
        compat::backend_tests(),
        connections::tests(),
        email::backend_tests(),
        input::backend_tests(),
        mfa::backend_tests(),
        ops::backend_tests(),
        outage::tests(),
        ops::tests(),
        policy::backend_tests(),
        tokens::backend_tests(),
        ui::backend_tests(),
        ui::tests(),
        vec![harness::no_attribute_tests_in(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api"
        ))],
    ])
}

/// Runs each named test on both backends: `sqlite::name` and
/// `postgres::name`, all listed as `backend_tests()`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
            $crate::tests![$(multi_thread $name),*];
        }
        mod postgres {
            $(
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
            $crate::tests![$(multi_thread $name),*];
        }

        pub(crate) fn backend_tests() -> Vec<libtest_mimic::Trial> {
            sqlite::tests().into_iter().chain(postgres::tests()).collect()
        }
    };
}
