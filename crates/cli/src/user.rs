//! `latchkey user ...`: create, list, disable and enable accounts.

use std::io::BufRead as _;

use anyhow::Context as _;
use clap::Subcommand;
use latchkey_core::clock::rfc3339;
use latchkey_core::{User, UserId};
use latchkey_service::App;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Mark the email address as verified.
        #[arg(long)]
        verified: bool,
    },
    /// List accounts.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account (by email or username) and end its sessions.
    Disable {
        #[arg(value_name = "EMAIL_OR_USERNAME")]
        user: String,
    },
    /// Enable a disabled account (by email or username).
    Enable {
        #[arg(value_name = "EMAIL_OR_USERNAME")]
        user: String,
    },
    /// Lift a login lockout of the account (by email or username), on every node.
    Unlock {
        #[arg(value_name = "EMAIL_OR_USERNAME")]
        user: String,
    },
}

pub async fn run(app: &App, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            email,
            username,
            password_stdin: _,
            verified,
        } => {
            let email = App::parse_email(&email)?;
            let username = username.as_deref().map(App::parse_username).transpose()?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.strip_suffix('\n').unwrap_or(&password);
            let password = password.strip_suffix('\r').unwrap_or(password);
            let user = app
                .admin()
                .create_user(email, username, password, verified)
                .await
                .map_err(describe)?;
            println!("created user {} <{}>", user.id, email_of(&user));
        }
        UserCommand::List { json } => {
            let mut after: Option<UserId> = None;
            if !json {
                println!(
                    "{:<36}  {:<32}  {:<16}  {:<8}  {:<8}  created",
                    "id", "email", "username", "verified", "disabled"
                );
            }
            loop {
                let page = app.admin().list_users(after, 500).await?;
                for u in &page {
                    print_user(u, json);
                }
                match page.last() {
                    Some(last) if page.len() == 500 => after = Some(last.id),
                    _ => break,
                }
            }
        }
        UserCommand::Disable { user } => set_disabled(app, &user, true).await?,
        UserCommand::Enable { user } => set_disabled(app, &user, false).await?,
        UserCommand::Unlock { user } => {
            let user = find(app, &user).await?;
            app.admin().unlock(&user).await?;
            println!("{} unlocked", name_of(&user));
        }
    }
    Ok(())
}

/// The account an email address or a username names.
pub async fn find(app: &App, who: &str) -> anyhow::Result<User> {
    app.admin().find_user(who).await.map_err(|e| match e {
        latchkey_core::Error::NotFound => anyhow::anyhow!("no account {who:?}"),
        other => other.into(),
    })
}

async fn set_disabled(app: &App, who: &str, disabled: bool) -> anyhow::Result<()> {
    let user = find(app, who).await?;
    app.admin().set_disabled(&user, disabled).await?;
    let word = if disabled {
        "disabled (all sessions ended)"
    } else {
        "enabled"
    };
    println!("{} {word}", name_of(&user));
    Ok(())
}

fn print_user(u: &User, json: bool) {
    if json {
        let line = serde_json::json!({
            "id": u.id.to_string(),
            "email": u.email_str(),
            "username": u.username.as_ref().map(|n| n.as_str()),
            "email_verified": u.email_verified,
            "disabled": u.disabled,
            "created_at": rfc3339(u.created_at),
        });
        println!("{line}");
    } else {
        println!(
            "{:<36}  {:<32}  {:<16}  {:<8}  {:<8}  {}",
            u.id.to_string(),
            email_of(u),
            u.username.as_ref().map_or("-", |n| n.as_str()),
            u.email_verified,
            u.disabled,
            rfc3339(u.created_at)
        );
    }
}

fn describe(e: latchkey_core::Error) -> anyhow::Error {
    match e {
        latchkey_core::Error::WeakPassword(rules) => anyhow::anyhow!(
            "the password {}",
            rules
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!(other),
    }
}

fn email_of(u: &User) -> &str {
    u.email_str().unwrap_or("-")
}

/// The account's address, or its username when it has none.
fn name_of(u: &User) -> &str {
    u.email_str()
        .or_else(|| u.username.as_ref().map(|n| n.as_str()))
        .unwrap_or("-")
}
