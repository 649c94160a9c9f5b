//! `latchkey audit ...`: read and verify the hash-chained audit trail.

use anyhow::bail;
use clap::Subcommand;
use latchkey_core::audit::ChainBreak;
use latchkey_core::clock::rfc3339;
use latchkey_core::{UnixTime, UserId};
use latchkey_service::{App, ChainVerdict};

const PAGE: u32 = 1000;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the chain; name the first row changed, removed or inserted.
    Verify,
    /// List events in order.
    List {
        /// Only this account's events.
        #[arg(long)]
        user: Option<String>,
        /// From this time on (RFC 3339, e.g. 2026-11-01T00:00:00Z, or Unix seconds).
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify => verify(app).await,
        AuditCommand::List { user, since, json } => {
            let user = match user {
                Some(who) => Some(crate::user::find(app, &who).await?.id),
                None => None,
            };
            let since = since.as_deref().map(parse_time).transpose()?;
            list(app, user, since, json).await
        }
    }
}

async fn verify(app: &App) -> anyhow::Result<()> {
    match app.admin().verify_audit_chain().await? {
        ChainVerdict::Intact {
            checked,
            first,
            head,
        } => {
            println!("audit chain intact: {checked} events (seq {first} to {head})");
            Ok(())
        }
        ChainVerdict::Broken(ChainBreak::Changed { seq }) => {
            bail!("audit chain broken: event {seq} was changed")
        }
        ChainVerdict::Broken(ChainBreak::Broken { seq, expected_seq }) if seq > expected_seq => {
            bail!(
                "audit chain broken: events {expected_seq} to {} were removed",
                seq - 1
            )
        }
        ChainVerdict::Broken(ChainBreak::Broken { seq, expected_seq }) => bail!(
            "audit chain broken at event {seq}: it does not follow event {} (an event was inserted, removed or changed before it)",
            expected_seq - 1
        ),
    }
}

async fn list(
    app: &App,
    user: Option<UserId>,
    since: Option<UnixTime>,
    json: bool,
) -> anyhow::Result<()> {
    let mut after = 0;
    loop {
        let page = app.admin().audit_events(user, since, after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.seq;
        for r in &page {
            let e = &r.event;
            if json {
                let line = serde_json::json!({
                    "seq": r.seq,
                    "at": rfc3339(e.at),
                    "event": e.kind,
                    "result": e.result,
                    "user_id": e.user_id.map(|u| u.to_string()),
                    "ip": e.ip,
                    "user_agent": e.user_agent,
                    "request_id": e.request_id,
                    "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default(),
                });
                println!("{line}");
            } else {
                println!(
                    "{:>6}  {}  {:<26} {:<20} {:<36} {}",
                    r.seq,
                    rfc3339(e.at),
                    e.kind,
                    e.result,
                    e.user_id
                        .map(|u| u.to_string())
                        .unwrap_or_else(|| "-".into()),
                    e.ip.as_deref().unwrap_or("-")
                );
            }
        }
    }
}

fn parse_time(s: &str) -> anyhow::Result<UnixTime> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| anyhow::anyhow!("--since {s:?} is neither RFC 3339 nor Unix seconds"))?;
    Ok(t.unix_timestamp())
}
