//! Where messages go: an SMTP server, or `.eml` files in the data directory
//! when no SMTP server is configured. The files hold working links (a
//! password reset's among them), so only the service's user may read them:
//! `mail/` is 0700 and each file 0600.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpTls};

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

impl Transport {
    pub fn new(smtp: &SmtpConfig, data_dir: &std::path::Path) -> Result<Self, String> {
        if smtp.host.is_empty() {
            return Ok(Self::Files(data_dir.join("mail")));
        }
        let builder = match smtp.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                .map_err(|e| format!("smtp.host: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| format!("smtp.host: {e}"))?,
        };
        let mut builder = builder
            .port(smtp.port)
            .timeout(Some(Duration::from_secs(smtp.timeout_secs)));
        if !smtp.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                smtp.username.clone(),
                smtp.password.clone(),
            ));
        }
        Ok(Self::Smtp(builder.build()))
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(_) => "smtp".into(),
            Self::Files(dir) => format!("files in {}", dir.display()),
        }
    }

    pub async fn send(&self, id: &str, message: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            }),
            Self::Files(dir) => {
                let (dir, id) = (dir.clone(), id.to_owned());
                let written = tokio::task::spawn_blocking(move || {
                    write_private(&dir, &id, &message.formatted())
                })
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r);
                written.map_err(|e| SendError {
                    message: e.to_string(),
                    permanent: false,
                })
            }
        }
    }
}

/// Writes `<dir>/<id>.eml` readable by its owner only, by way of a partial
/// file renamed into place. `dir` is created 0700 if missing, and made 0700
/// if an earlier version left it open to others.
fn write_private(dir: &Path, id: &str, contents: &[u8]) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let path = dir.join(format!("{id}.eml"));
    let partial = dir.join(format!(".{id}.eml.partial"));
    // A partial file left by a crash keeps its old mode when reopened.
    if let Err(e) = std::fs::remove_file(&partial)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(e);
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, &path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::write_private;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn mail_files_are_for_their_owner_only() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("mail");
        write_private(&dir, "one", b"Subject: hi\r\n\r\nlink").unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("one.eml")), 0o600);
        assert_eq!(
            std::fs::read(dir.join("one.eml")).unwrap(),
            b"Subject: hi\r\n\r\nlink"
        );
        // A directory an earlier version made 0755, and a partial file a
        // crash left 0644, are both closed.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join(".two.eml.partial"), b"stale").unwrap();
        std::fs::set_permissions(
            dir.join(".two.eml.partial"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        write_private(&dir, "two", b"fresh").unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("two.eml")), 0o600);
        assert_eq!(std::fs::read(dir.join("two.eml")).unwrap(), b"fresh");
        assert!(!dir.join(".two.eml.partial").exists());
    }
}
