//! Email templates: subject, plain text and HTML for each kind of message.
//! They ship in the binary; a configured directory overrides any file.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

use super::MailKind;

/// The embedded templates, by file name.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "_layout.html",
        include_str!("../../../../ui/templates/email/_layout.html"),
    ),
    (
        "verify_email.subject.txt",
        include_str!("../../../../ui/templates/email/verify_email.subject.txt"),
    ),
    (
        "verify_email.txt",
        include_str!("../../../../ui/templates/email/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("../../../../ui/templates/email/verify_email.html"),
    ),
    (
        "password_reset.subject.txt",
        include_str!("../../../../ui/templates/email/password_reset.subject.txt"),
    ),
    (
        "password_reset.txt",
        include_str!("../../../../ui/templates/email/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../../../ui/templates/email/password_reset.html"),
    ),
    (
        "password_changed.subject.txt",
        include_str!("../../../../ui/templates/email/password_changed.subject.txt"),
    ),
    (
        "password_changed.txt",
        include_str!("../../../../ui/templates/email/password_changed.txt"),
    ),
    (
        "password_changed.html",
        include_str!("../../../../ui/templates/email/password_changed.html"),
    ),
    (
        "email_changed.subject.txt",
        include_str!("../../../../ui/templates/email/email_changed.subject.txt"),
    ),
    (
        "email_changed.txt",
        include_str!("../../../../ui/templates/email/email_changed.txt"),
    ),
    (
        "email_changed.html",
        include_str!("../../../../ui/templates/email/email_changed.html"),
    ),
    (
        "signup_attempt.subject.txt",
        include_str!("../../../../ui/templates/email/signup_attempt.subject.txt"),
    ),
    (
        "signup_attempt.txt",
        include_str!("../../../../ui/templates/email/signup_attempt.txt"),
    ),
    (
        "signup_attempt.html",
        include_str!("../../../../ui/templates/email/signup_attempt.html"),
    ),
    (
        "recovery_code_used.subject.txt",
        include_str!("../../../../ui/templates/email/recovery_code_used.subject.txt"),
    ),
    (
        "recovery_code_used.txt",
        include_str!("../../../../ui/templates/email/recovery_code_used.txt"),
    ),
    (
        "recovery_code_used.html",
        include_str!("../../../../ui/templates/email/recovery_code_used.html"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

/// A rendered message.
#[derive(Debug)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Templates {
    /// Loads the embedded templates, replacing each one the override
    /// directory has a file for, and checks that every message renders.
    pub fn load(overrides: Option<&Path>) -> Result<Self, String> {
        let mut env = Environment::new();
        for (name, embedded) in EMBEDDED {
            let source = match overrides.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                None => (*embedded).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        let templates = Self { env };
        for kind in MailKind::ALL {
            let sample = Vars {
                product: "Latchkey".into(),
                email: "user@example.com".into(),
                link: Some("https://id.example.com/x?token=t".into()),
                new_email: Some("new@example.com".into()),
                expires_in: Some("1 hour".into()),
            };
            templates.render(kind, &sample)?;
        }
        Ok(templates)
    }

    pub fn render(&self, kind: MailKind, vars: &Vars) -> Result<Rendered, String> {
        let render = |suffix: &str| {
            let name = format!("{}.{suffix}", kind.as_str());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(vars))))
                .map_err(|e| format!("template {name}: {e}"))
        };
        Ok(Rendered {
            // A subject is one line, whatever a template does.
            subject: render("subject.txt")?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

/// What a template can use.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Vars {
    pub product: String,
    /// The recipient.
    pub email: String,
    pub link: Option<String>,
    pub new_email: Option<String>,
    pub expires_in: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            product: "Acme <ID>".into(),
            email: "a@example.com".into(),
            link: Some("https://id.example.com/verify-email?token=abc".into()),
            new_email: None,
            expires_in: Some("24 hours".into()),
        }
    }

    #[test]
    fn every_kind_renders_with_escaping_in_html_only() {
        let t = Templates::load(None).unwrap();
        let r = t.render(MailKind::VerifyEmail, &vars()).unwrap();
        assert_eq!(r.subject, "Confirm your email address for Acme <ID>");
        assert!(
            r.text
                .contains("https://id.example.com/verify-email?token=abc")
        );
        assert!(r.html.contains("Acme &lt;ID&gt;"), "{}", r.html);
        assert!(
            r.html
                .contains("href=\"https:&#x2f;&#x2f;id.example.com&#x2f;verify-email?token=abc\"")
                || r.html.contains("token=abc")
        );
    }

    #[test]
    fn a_directory_overrides_single_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("password_reset.subject.txt"),
            "Custom: {{ product }}",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let r = t.render(MailKind::PasswordReset, &vars()).unwrap();
        assert_eq!(r.subject, "Custom: Acme <ID>");
        let r = t.render(MailKind::VerifyEmail, &vars()).unwrap();
        assert!(r.subject.starts_with("Confirm"));
    }

    #[test]
    fn a_broken_override_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("verify_email.txt"), "{{ unclosed").unwrap();
        let err = Templates::load(Some(dir.path())).err().unwrap();
        assert!(err.contains("verify_email.txt"), "{err}");
    }
}
