//! Transactional email: messages are rows in the outbox, written with the
//! change that causes them; the worker on every node delivers them.

mod templates;
mod transport;
pub mod worker;

use std::sync::Arc;

use latchkey_core::Error;
use latchkey_store::NewMail;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use tokio::sync::Notify;

use crate::config::Config;
use crate::keys::MasterKey;
use templates::Templates;
pub use templates::Vars;
use transport::{SendError, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    VerifyEmail,
    PasswordReset,
    PasswordChanged,
    EmailChanged,
    SignupAttempt,
    RecoveryCodeUsed,
}

impl MailKind {
    pub const ALL: [Self; 6] = [
        Self::VerifyEmail,
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::EmailChanged,
        Self::SignupAttempt,
        Self::RecoveryCodeUsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailChanged => "email_changed",
            Self::SignupAttempt => "signup_attempt",
            Self::RecoveryCodeUsed => "recovery_code_used",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

pub struct Mailer {
    templates: Templates,
    transport: Transport,
    from: Mailbox,
    master: Arc<MasterKey>,
    product: String,
    /// Wakes this node's worker when a message is queued here.
    pub queued: Notify,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("transport", &self.transport.describe())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(config: &Config, master: Arc<MasterKey>) -> Result<Self, String> {
        let from: Mailbox = config
            .smtp
            .from
            .parse()
            .map_err(|e| format!("smtp.from: {:?} is not an address: {e}", config.smtp.from))?;
        Ok(Self {
            templates: Templates::load(config.email.templates_dir.as_deref())
                .map_err(|e| format!("email.templates_dir: {e}"))?,
            transport: Transport::new(&config.smtp, &config.data_dir)?,
            from,
            master,
            product: config.email.product_name.clone(),
            queued: Notify::new(),
        })
    }

    pub fn uses_files(&self) -> bool {
        matches!(self.transport, Transport::Files(_))
    }

    /// A message for the outbox. Its variables (which hold the link, and so
    /// a live token) are encrypted with the master key, bound to its id.
    pub fn compose(
        &self,
        kind: MailKind,
        recipient: &str,
        link: Option<String>,
        new_email: Option<String>,
        expires_in: Option<String>,
    ) -> Result<NewMail, Error> {
        let id = uuid::Uuid::now_v7().to_string();
        let vars = Vars {
            product: self.product.clone(),
            email: recipient.to_owned(),
            link,
            new_email,
            expires_in,
        };
        let plain = serde_json::to_vec(&vars).map_err(|e| Error::Internal(e.to_string()))?;
        let payload = self
            .master
            .encrypt(&plain, &id)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(NewMail {
            id,
            kind: kind.as_str().into(),
            recipient: recipient.to_owned(),
            payload,
        })
    }

    /// Builds and sends one outbox message.
    pub(crate) async fn deliver(&self, mail: &latchkey_store::MailRecord) -> Result<(), SendError> {
        let permanent = |message: String| SendError {
            message,
            permanent: true,
        };
        let kind = MailKind::parse(&mail.kind)
            .ok_or_else(|| permanent(format!("unknown kind {}", mail.kind)))?;
        let plain = self
            .master
            .decrypt(&mail.payload, &mail.id)
            .map_err(|e| permanent(e.to_string()))?;
        let vars: Vars = serde_json::from_slice(&plain).map_err(|e| permanent(e.to_string()))?;
        let rendered = self.templates.render(kind, &vars).map_err(permanent)?;
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| permanent(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .message_id(Some(format!("<{}@latchkey>", mail.id)))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| permanent(e.to_string()))?;
        self.transport.send(&mail.id, message).await?;
        if self.uses_files() {
            // Development mode: show the link so a sign-up can be finished
            // with nothing else installed.
            tracing::info!(
                to = %mail.recipient,
                subject = %rendered.subject,
                link = vars.link.as_deref().unwrap_or("-"),
                "email written to the data directory (no SMTP configured)"
            );
        }
        Ok(())
    }
}
