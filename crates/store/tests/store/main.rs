//! The store's tests: the conformance suite on both backends, and the
//! ephemeral-state trait on the in-process map and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod conformance;
mod ephemeral;

fn main() {
    harness::run([
        conformance::tests(),
        ephemeral::tests(),
        vec![harness::no_attribute_tests_in(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/store"
        ))],
    ])
}
