//! What the pages are made of: the templates, the stylesheet and the
//! message catalogue. All ship in the binary; a theme directory
//! (`ui.theme_dir`) replaces any of them with a file of the same name. The
//! whole set is loaded and every page rendered once with sample data at
//! start-up, so a broken override stops the server there, naming the file,
//! rather than failing a user later.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, Value, context};

use super::i18n::{self, Catalogue};

/// The embedded page templates, by file name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "_layout.html",
        include_str!("../../../../ui/templates/pages/_layout.html"),
    ),
    (
        "_rules.html",
        include_str!("../../../../ui/templates/pages/_rules.html"),
    ),
    (
        "login.html",
        include_str!("../../../../ui/templates/pages/login.html"),
    ),
    (
        "signup.html",
        include_str!("../../../../ui/templates/pages/signup.html"),
    ),
    (
        "verify_email.html",
        include_str!("../../../../ui/templates/pages/verify_email.html"),
    ),
    (
        "forgot_password.html",
        include_str!("../../../../ui/templates/pages/forgot_password.html"),
    ),
    (
        "reset_password.html",
        include_str!("../../../../ui/templates/pages/reset_password.html"),
    ),
    (
        "account.html",
        include_str!("../../../../ui/templates/pages/account.html"),
    ),
    (
        "logout.html",
        include_str!("../../../../ui/templates/pages/logout.html"),
    ),
    (
        "message.html",
        include_str!("../../../../ui/templates/pages/message.html"),
    ),
];

/// The stylesheet's file name (served at `/assets/latchkey.css`).
pub const STYLESHEET: &str = "latchkey.css";
const EMBEDDED_STYLESHEET: &str = include_str!("../../../../ui/static/latchkey.css");
const MESSAGES: &str = "messages.json";

/// Images a theme may ship beside its templates (a logo, a favicon),
/// served at `/assets/theme/<name>` so that `ui.logo_url` can point there
/// and stay within the pages' CSP (`img-src 'self'`).
const IMAGE_TYPES: &[(&str, &str)] = &[
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("ico", "image/x-icon"),
];

/// The largest image a theme may ship.
const MAX_IMAGE_BYTES: u64 = 1024 * 1024;

/// An image from the theme directory.
#[derive(Debug)]
pub struct Asset {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The loaded templates, stylesheet, catalogue and images.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
    stylesheet: String,
    pub catalogue: Catalogue,
    assets: BTreeMap<String, Asset>,
}

fn read(dir: Option<&Path>, name: &str) -> Result<Option<String>, String> {
    let Some(path) = dir.map(|d| d.join(name)).filter(|p| p.is_file()) else {
        return Ok(None);
    };
    std::fs::read_to_string(&path)
        .map(Some)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl Pages {
    /// The embedded set with the theme directory's files laid over it.
    pub fn load(theme: Option<&Path>) -> Result<Self, String> {
        let assets = match theme {
            Some(dir) => load_dir(dir)?,
            None => BTreeMap::new(),
        };
        let mut env = Environment::new();
        for (name, embedded) in TEMPLATES {
            let source = read(theme, name)?.unwrap_or_else(|| (*embedded).to_owned());
            env.add_template_owned(*name, source)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        let stylesheet = read(theme, STYLESHEET)?.unwrap_or_else(|| EMBEDDED_STYLESHEET.to_owned());
        let catalogue = Catalogue::load(read(theme, MESSAGES)?.as_deref())?;
        let pages = Self {
            env,
            stylesheet,
            catalogue,
            assets,
        };
        pages.render_samples()?;
        Ok(pages)
    }

    /// The embedded set alone. It is checked by the tests; should it ever
    /// fail, the error is logged and pages answer with a plain error.
    pub fn embedded() -> Self {
        Self::load(None).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the embedded page templates do not load");
            Self {
                env: Environment::new(),
                stylesheet: EMBEDDED_STYLESHEET.to_owned(),
                catalogue: Catalogue::load(None).unwrap_or_else(|_| empty_catalogue()),
                assets: BTreeMap::new(),
            }
        })
    }

    pub fn render(&self, template: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(template)?.render(ctx)
    }

    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    pub fn asset(&self, name: &str) -> Option<&Asset> {
        self.assets.get(name)
    }

    /// Renders every page with data like a real request's, in every
    /// language, so that a template that names a missing variable, filter
    /// or include fails now, with its file name.
    fn render_samples(&self) -> Result<(), String> {
        for lang in i18n::LANGUAGES {
            for (name, _) in TEMPLATES.iter().filter(|(n, _)| !n.starts_with('_')) {
                self.render(name, sample(self, lang))
                    .map_err(|e| format!("{name}: {}", describe(&e)))?;
            }
        }
        Ok(())
    }
}

#[allow(clippy::expect_used)]
fn empty_catalogue() -> Catalogue {
    // Only reached when the embedded catalogue itself is broken, which the
    // unit tests rule out.
    Catalogue::load(Some("{}")).expect("an empty override loads")
}

/// A template error with the line it is about and its cause.
fn describe(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    text
}

/// Checks the theme directory's file names and reads its images. A page
/// template or stylesheet that overrides nothing is most likely misspelt:
/// refused rather than ignored. Other files are left alone.
fn load_dir(dir: &Path) -> Result<BTreeMap<String, Asset>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut assets = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".html") && !TEMPLATES.iter().any(|(t, _)| *t == name) {
            let known: Vec<&str> = TEMPLATES.iter().map(|(t, _)| *t).collect();
            return Err(format!(
                "{name} is not a page template; the templates are {}",
                known.join(", ")
            ));
        }
        if name.ends_with(".css") && name != STYLESHEET {
            return Err(format!(
                "{name} is not the stylesheet; name it {STYLESHEET}"
            ));
        }
        let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        let Some(content_type) = IMAGE_TYPES
            .iter()
            .find(|(ext, _)| extension.as_deref() == Some(*ext))
            .map(|(_, t)| *t)
        else {
            continue;
        };
        let path = entry.path();
        let size = entry
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        if size > MAX_IMAGE_BYTES {
            return Err(format!("{name} is larger than 1 MiB"));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        assets.insert(
            name,
            Asset {
                content_type,
                bytes,
            },
        );
    }
    Ok(assets)
}

/// The context of a page with everything some page may use.
fn sample(pages: &Pages, lang: &str) -> Value {
    let text = "Sample";
    let link = context! { href => "/login", text };
    let user = context! {
        email => "user@example.com",
        username => "user",
        verified => false,
        created => "2025-01-01T00:00:00Z",
        created_text => "1 Jan 2025, 00:00 UTC",
    };
    let session = context! {
        id => "00000000-0000-0000-0000-000000000000",
        current => true,
        created => "2025-01-01T00:00:00Z",
        created_text => "1 Jan 2025, 00:00 UTC",
        last_seen => "2025-01-01T00:00:00Z",
        last_seen_text => "1 Jan 2025, 00:00 UTC",
        ip => "127.0.0.1",
        device => "Firefox on Linux",
        user_agent => "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    };
    let event = context! {
        at => "2025-01-01T00:00:00Z",
        at_text => "1 Jan 2025, 00:00 UTC",
        kind => "Signed in",
        result => "Success",
        ok => true,
        ip => "127.0.0.1",
    };
    let failure = context! { error => text, errors => vec![text] };
    context! {
        t => pages.catalogue.messages(lang),
        lang,
        languages => vec![context! { code => lang, name => text, current => true, href => "/login?lang=en" }],
        csrf => "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        product_name => "Latchkey",
        logo_url => "/logo.svg",
        themed => true,
        title => text,
        text,
        link,
        error => text,
        errors => vec![text],
        notice => text,
        email => "user@example.com",
        new_email => "new@example.com",
        return_to => "/account",
        refresh => "https://app.example.com/",
        rules => vec![text],
        has_token => true,
        resend => true,
        user,
        sessions => vec![session],
        events => vec![event],
        password_error => failure.clone(),
        email_error => failure,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_pages_load_and_render() {
        let pages = Pages::load(None).unwrap();
        assert!(pages.stylesheet().contains(".lk-form"));
    }

    #[test]
    fn a_theme_overrides_by_file_name_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("message.html"),
            "{% extends \"_layout.html\" %}{% block content %}themed {{ title }}{% endblock %}",
        )
        .unwrap();
        std::fs::write(dir.path().join(STYLESHEET), "body { color: red }").unwrap();
        std::fs::write(dir.path().join("logo.svg"), "<svg/>").unwrap();
        let pages = Pages::load(Some(dir.path())).unwrap();
        assert_eq!(pages.stylesheet(), "body { color: red }");
        let logo = pages.asset("logo.svg").unwrap();
        assert_eq!(logo.content_type, "image/svg+xml");
        assert_eq!(logo.bytes, b"<svg/>");
        assert!(pages.asset("message.html").is_none());
        let html = pages.render("message.html", sample(&pages, "en")).unwrap();
        assert!(html.contains("themed Sample"), "{html}");

        std::fs::write(dir.path().join("login.html"), "{% if %}").unwrap();
        let e = Pages::load(Some(dir.path())).unwrap_err();
        assert!(e.starts_with("login.html"), "{e}");
        std::fs::write(dir.path().join("login.html"), "{{ no_such.attr }}").unwrap();
        let e = Pages::load(Some(dir.path())).unwrap_err();
        assert!(e.starts_with("login.html"), "{e}");
        std::fs::remove_file(dir.path().join("login.html")).unwrap();
        std::fs::write(dir.path().join("logn.html"), "x").unwrap();
        let e = Pages::load(Some(dir.path())).unwrap_err();
        assert!(e.contains("logn.html"), "{e}");
    }
}
