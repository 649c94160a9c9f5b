//! The harness of this crate's test binary, and (by `#[path]`) of those of
//! `latchkey-http` and `latchkey-cli`: every test is a `libtest_mimic`
//! trial, so that one whose Postgres or Redis cannot be reached outside CI
//! is reported as ignored rather than passed (see
//! `latchkey_store::testing`). `#[test]` and `#[tokio::test]` do nothing in
//! such a binary: each module lists its tests with [`tests!`] instead.

// Shared by three test binaries, not each of which uses every helper.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;

use latchkey_store::testing::{self, Flavor};
use libtest_mimic::{Arguments, Completion, Trial};

/// The full name of test `name` in module `module` (`module_path!()`): its
/// path below the crate root, as the built-in harness names it.
pub fn name(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_owned(),
    }
}

/// A plain `#[test]`.
pub fn sync_trial(name: String, test: fn()) -> Trial {
    Trial::test(name, move || {
        test();
        Ok(())
    })
}

/// An async test on a runtime of its own, as `#[tokio::test]` builds it;
/// ignored when it stops for want of Postgres or Redis.
pub fn async_trial<F, T>(name: String, flavor: Flavor, test: T) -> Trial
where
    F: Future<Output = ()>,
    T: FnOnce() -> F + Send + 'static,
{
    Trial::ignorable_test(name, move || {
        Ok(match testing::run_test(flavor, test()) {
            Ok(()) => Completion::Completed,
            Err(skip) => Completion::ignored_with(format!("no {}", skip.service)),
        })
    })
}

/// Lists a module's tests, each with the runtime its attribute used to ask
/// for, as `pub(crate) fn tests()`:
///
/// ```ignore
/// crate::tests![
///     sync a_plain_test,                 // #[test]
///     current_thread an_async_test,      // #[tokio::test]
///     multi_thread a_threaded_test,      // #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// ];
/// ```
#[macro_export]
macro_rules! tests {
    ($($flavor:ident $name:ident),* $(,)?) => {
        pub(crate) fn tests() -> Vec<libtest_mimic::Trial> {
            vec![$($crate::trial!($flavor $name)),*]
        }
    };
}

/// One entry of [`tests!`].
#[macro_export]
macro_rules! trial {
    (sync $name:ident) => {
        $crate::harness::sync_trial(
            $crate::harness::name(module_path!(), stringify!($name)),
            $name,
        )
    };
    (current_thread $name:ident) => {
        $crate::harness::async_trial(
            $crate::harness::name(module_path!(), stringify!($name)),
            latchkey_store::testing::Flavor::CurrentThread,
            $name,
        )
    };
    (multi_thread $name:ident) => {
        $crate::harness::async_trial(
            $crate::harness::name(module_path!(), stringify!($name)),
            latchkey_store::testing::Flavor::MultiThread,
            $name,
        )
    };
}

/// A test that no `#[test]` or `#[tokio::test]` is left in `dir`, the
/// directory of a test binary's sources: such a test would never run.
pub fn no_attribute_tests_in(dir: &'static str) -> Trial {
    Trial::test("harness::no_test_is_left_to_an_attribute", move || {
        let found = testing::attribute_tests_in(Path::new(dir))
            .map_err(|e| format!("cannot read {dir}: {e}"))?;
        if found.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "these tests never run (list them with crate::tests! instead): {}",
                found.join(", ")
            )
            .into())
        }
    })
}

/// Runs the trials of every module as the built-in harness would (in the
/// order of their names), then says how many were skipped for want of
/// Postgres or Redis, one line each.
pub fn run(modules: impl IntoIterator<Item = Vec<Trial>>) -> ! {
    let mut trials: Vec<Trial> = modules.into_iter().flatten().collect();
    trials.sort_by(|a, b| a.name().cmp(b.name()));
    let mut args = Arguments::from_args();
    args.test_threads = args.test_threads.or_else(testing::test_threads_from_env);
    let conclusion = libtest_mimic::run(&args, trials);
    for line in testing::skip_summary() {
        eprintln!("{line}");
    }
    conclusion.exit()
}
