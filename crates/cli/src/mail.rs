//! `latchkey mail ...`: look at the outbox and requeue dead messages.

use anyhow::bail;
use clap::Subcommand;
use latchkey_core::clock::rfc3339;
use latchkey_service::App;
use latchkey_store::MailStatus;

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// List messages, newest first.
    List {
        /// Only messages that gave up after the last attempt.
        #[arg(long)]
        dead: bool,
        /// Only messages still waiting to be sent.
        #[arg(long, conflicts_with = "dead")]
        pending: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Put a dead message back in the queue (its attempts start again).
    Requeue { id: String },
}

pub async fn run(app: &App, cmd: MailCommand) -> anyhow::Result<()> {
    match cmd {
        MailCommand::List {
            dead,
            pending,
            limit,
            json,
        } => {
            let status = if dead {
                Some(MailStatus::Dead)
            } else if pending {
                Some(MailStatus::Pending)
            } else {
                None
            };
            let mails = app.admin().list_mail(status, limit).await?;
            if !json {
                println!(
                    "{:<36}  {:<16}  {:<7}  {:>8}  {:<25}  {:<32}  last error",
                    "id", "kind", "status", "attempts", "created", "recipient"
                );
            }
            for m in mails {
                if json {
                    let line = serde_json::json!({
                        "id": m.id,
                        "kind": m.kind,
                        "recipient": m.recipient,
                        "status": m.status.as_str(),
                        "attempts": m.attempts,
                        "next_attempt_at": rfc3339(m.next_attempt_at),
                        "last_error": m.last_error,
                        "created_at": rfc3339(m.created_at),
                        "sent_at": m.sent_at.map(rfc3339),
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{:<36}  {:<16}  {:<7}  {:>8}  {:<25}  {:<32}  {}",
                        m.id,
                        m.kind,
                        m.status.as_str(),
                        m.attempts,
                        rfc3339(m.created_at),
                        m.recipient,
                        m.last_error.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        MailCommand::Requeue { id } => {
            if !app.admin().requeue_mail(&id).await? {
                bail!("no dead message with id {id}");
            }
            println!("requeued {id}; a running server sends it within seconds");
        }
    }
    Ok(())
}
