//! `latchkey import users FILE --format jsonl|csv`: bring in accounts from
//! another system with their hashes as they are (bcrypt, scrypt, PBKDF2,
//! argon2); each is upgraded to argon2id at its owner's next login.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use latchkey_core::import::ImportRow;
use latchkey_core::{NewUser, UnixTime, UserId};
use latchkey_store::{Conflict, Store, StoreError, Write};

/// Rows written per transaction.
const BATCH: usize = 1000;
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

struct Importer<'a> {
    store: &'a dyn Store,
    now: UnixTime,
    batch: Vec<(u64, NewUser)>,
    seen_emails: HashMap<String, u64>,
    seen_usernames: HashMap<String, u64>,
    imported: u64,
    rejected: Vec<(u64, String)>,
}

pub async fn run(store: &dyn Store, now: UnixTime, cmd: ImportCommand) -> anyhow::Result<()> {
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
    let mut importer = Importer {
        store,
        now,
        batch: Vec::with_capacity(BATCH),
        seen_emails: HashMap::new(),
        seen_usernames: HashMap::new(),
        imported: 0,
        rejected: Vec::new(),
    };
    match format {
        Format::Jsonl => read_jsonl(&file, &mut importer, &progress).await?,
        Format::Csv => read_csv(&file, &mut importer, &progress).await?,
    }
    importer.flush().await?;
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
    importer: &mut Importer<'_>,
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
    importer: &mut Importer<'_>,
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
                importer.rejected.push((line, e.to_string()));
            }
        }
        progress.set_position(reader.position().byte());
        progress.set_message(format!("{} imported", importer.imported));
    }
    Ok(())
}

impl Importer<'_> {
    async fn row(&mut self, line: u64, row: Result<ImportRow, String>) -> anyhow::Result<()> {
        let user = match row.and_then(ImportRow::into_new_user) {
            Ok(user) => user,
            Err(why) => {
                self.rejected.push((line, why));
                return Ok(());
            }
        };
        if let Some(email) = &user.email
            && let Some(first) = self.seen_emails.insert(email.key().to_owned(), line)
        {
            self.rejected
                .push((line, format!("email: the same address is on line {first}")));
            return Ok(());
        }
        if let Some(name) = &user.username
            && let Some(first) = self.seen_usernames.insert(name.key().to_owned(), line)
        {
            self.rejected.push((
                line,
                format!("username: the same username is on line {first}"),
            ));
            return Ok(());
        }
        self.batch.push((line, user));
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the batch in one transaction; when an account in it already
    /// exists, writes its rows one by one to find and report which.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let batch = std::mem::take(&mut self.batch);
        let writes = batch
            .iter()
            .map(|(_, new)| Write::InsertUser {
                id: UserId::generate(),
                new: new.clone(),
            })
            .collect();
        match self.store.apply(writes, self.now).await {
            Ok(()) => self.imported += batch.len() as u64,
            Err(StoreError::Conflict(_)) => {
                for (line, new) in batch {
                    let write = Write::InsertUser {
                        id: UserId::generate(),
                        new,
                    };
                    match self.store.apply(vec![write], self.now).await {
                        Ok(()) => self.imported += 1,
                        Err(StoreError::Conflict(which)) => {
                            let why = match which {
                                Conflict::Email => {
                                    "email: an account with this address already exists"
                                }
                                Conflict::Username => {
                                    "username: an account with this username already exists"
                                }
                                Conflict::Other => "the account collides with an existing one",
                            };
                            self.rejected.push((line, why.into()));
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}
