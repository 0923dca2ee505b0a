//! Property tests (issue 10, "so it stays fixed"): proptest generates inputs for the readers and
//! encoders whose bugs were fixed, so that each fix stays fixed for inputs nobody wrote down. Each
//! suite has a fixed number of cases (a few seconds in a debug build); a failure shrinks to a
//! minimal input, which proptest saves under `proptest-regressions/` and replays first on every
//! later run. Inputs that found a bug in a file another change owned are pinned as plain tests.
//!
//! * [`recipients`]: the recipients CSV reader: any bytes, generated lists with every line
//!   accounted for, and quotes that swallow rows;
//! * [`result_log`]: the result log reader: any bytes, logs the writer wrote, logs cut anywhere;
//! * [`config`]: `campaign.toml`: any TOML-ish text, errors with file:line:column;
//! * [`transfer`]: the parts' transfer encoding decodes back to the text, lines within limits;
//! * [`shape`]: the page shape cache gives css-inline's own bytes on generated pages.

/// The config of a suite: `cases` cases (`PROPTEST_CASES` in the environment overrides it, for a
/// longer hunt), failures saved to (and replayed from) `proptest-regressions/<file>` in the package
/// (proptest's default place needs a `lib.rs` beside the test, which an integration test lacks).
macro_rules! config {
    ($cases:expr, $file:literal) => {
        proptest::prelude::ProptestConfig {
            cases: std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|cases| cases.parse().ok())
                .unwrap_or($cases),
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::Direct(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/proptest-regressions/",
                    $file
                )),
            )),
            ..proptest::prelude::ProptestConfig::with_cases($cases)
        }
    };
}

#[path = "properties/config.rs"]
mod config;
#[path = "properties/recipients.rs"]
mod recipients;
#[path = "properties/result_log.rs"]
mod result_log;
#[path = "properties/shape.rs"]
mod shape;
#[path = "properties/transfer.rs"]
mod transfer;
