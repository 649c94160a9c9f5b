//! The `latchkey` binary driven from outside: as an operator would, with its
//! email, and its hosted pages in a real browser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../store/tests/store/harness.rs"]
mod harness;

mod binary;
mod browser;
mod mail;

fn main() {
    harness::run([
        binary::tests(),
        browser::tests(),
        mail::tests(),
        vec![harness::no_attribute_tests_in(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cli"
        ))],
    ])
}
