//! Importing accounts from another system with their hashes as they are:
//! rows are checked, de-duplicated within the file, and written 1,000 to a
//! transaction; the caller reads the file and shows progress.

use std::collections::HashMap;

use latchkey_core::import::ImportRow;
use latchkey_core::{Error, NewUser, UserId};
use latchkey_store::{Conflict, StoreError, Write};

use crate::admin::Admin;

/// Rows written per transaction.
const BATCH: usize = 1000;

/// An import in progress: feed it rows with [`Importer::row`], then
/// [`Importer::finish`].
#[derive(Debug)]
pub struct Importer {
    admin: Admin,
    batch: Vec<(u64, NewUser)>,
    seen_emails: HashMap<String, u64>,
    seen_usernames: HashMap<String, u64>,
    /// Accounts written so far.
    pub imported: u64,
    /// Rows refused, with their line numbers and why.
    pub rejected: Vec<(u64, String)>,
}

impl Admin {
    /// Starts an import of accounts.
    pub fn importer(&self) -> Importer {
        Importer {
            admin: self.clone(),
            batch: Vec::with_capacity(BATCH),
            seen_emails: HashMap::new(),
            seen_usernames: HashMap::new(),
            imported: 0,
            rejected: Vec::new(),
        }
    }
}

impl Importer {
    /// Takes the row read at `line` (or why it could not be read).
    pub async fn row(&mut self, line: u64, row: Result<ImportRow, String>) -> Result<(), Error> {
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

    /// Refuses a row that could not be read at all.
    pub fn reject(&mut self, line: u64, why: String) {
        self.rejected.push((line, why));
    }

    /// Writes what is left.
    pub async fn finish(&mut self) -> Result<(), Error> {
        self.flush().await
    }

    /// Writes the batch in one transaction; when an account in it already
    /// exists, writes its rows one by one to find and report which.
    async fn flush(&mut self) -> Result<(), Error> {
        let batch = std::mem::take(&mut self.batch);
        let store = &self.admin.store;
        let now = self.admin.clock.now();
        let writes = batch
            .iter()
            .map(|(_, new)| Write::InsertUser {
                id: UserId::generate(),
                new: new.clone(),
            })
            .collect();
        match store.apply(writes, now).await {
            Ok(()) => self.imported += batch.len() as u64,
            Err(StoreError::Conflict(_)) => {
                for (line, new) in batch {
                    let write = Write::InsertUser {
                        id: UserId::generate(),
                        new,
                    };
                    match store.apply(vec![write], now).await {
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
