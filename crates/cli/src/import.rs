//! `latchkey import users FILE --format jsonl|csv`: bring in accounts from
//! another system with their hashes as they are (bcrypt, scrypt, PBKDF2,
//! argon2); each is upgraded to argon2id at its owner's next login.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use latchkey_core::import::ImportRow;
use latchkey_service::{App, Importer};

/// Rejected rows printed in full; the rest are counted.
const SHOW_REJECTED: usize = 200;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import accounts: email, username, password_hash, email_verified, custom_claims.
    Users {
        file: PathBuf,
        #[arg(long, value_enum)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header row, then one account per row; custom_claims as JSON text.
    Csv,
}

pub async fn run(app: &App, cmd: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Users { file, format } = cmd;
    let started = Instant::now();
    let size = std::fs::metadata(&file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let progress = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{bar:40} {percent:>3}% {msg} [{elapsed_precise}, {eta} left]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut importer = app.admin().importer();
    match format {
        Format::Jsonl => read_jsonl(&file, &mut importer, &progress).await?,
        Format::Csv => read_csv(&file, &mut importer, &progress).await?,
    }
    importer.finish().await?;
    progress.finish_and_clear();
    for (line, why) in importer.rejected.iter().take(SHOW_REJECTED) {
        eprintln!("line {line}: {why}");
    }
    if importer.rejected.len() > SHOW_REJECTED {
        eprintln!(
            "... and {} more rejected rows",
            importer.rejected.len() - SHOW_REJECTED
        );
    }
    println!(
        "imported {} users in {:.1} s; rejected {} rows",
        importer.imported,
        started.elapsed().as_secs_f64(),
        importer.rejected.len()
    );
    if !importer.rejected.is_empty() {
        bail!(
            "{} rows were rejected (listed above with their line numbers)",
            importer.rejected.len()
        );
    }
    Ok(())
}

async fn read_jsonl(
    file: &Path,
    importer: &mut Importer,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let reader = BufReader::new(std::fs::File::open(file)?);
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", i + 1))?;
        progress.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str::<ImportRow>(&line).map_err(|e| e.to_string());
        importer.row(i as u64 + 1, row).await?;
        progress.set_message(format!("{} imported", importer.imported));
    }
    Ok(())
}

async fn read_csv(
    file: &Path,
    importer: &mut Importer,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let headers = reader.headers()?.clone();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, csv::Position::line);
                let row = record
                    .deserialize::<ImportRow>(Some(&headers))
                    .map_err(|e| e.to_string());
                importer.row(line, row).await?;
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                importer.reject(line, e.to_string());
            }
        }
        progress.set_position(reader.position().byte());
        progress.set_message(format!("{} imported", importer.imported));
    }
    Ok(())
}
