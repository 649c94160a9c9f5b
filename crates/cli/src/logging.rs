//! Log output: JSON lines for machines, readable lines on a terminal.
//! `LATCHKEY_LOG` (or `RUST_LOG`) sets the filter; the default is `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Json,
    Pretty,
}

pub fn init(format: Option<Format>) {
    let filter = EnvFilter::try_from_env("LATCHKEY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        Format::Pretty
    } else {
        Format::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        Format::Pretty => builder.compact().init(),
    }
}
