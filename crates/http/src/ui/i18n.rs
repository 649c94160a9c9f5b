//! The pages' message catalogue (English and German, which a theme's
//! `messages.json` may amend), and the choice of language: `?lang=`, then
//! the `latchkey_lang` cookie, then `Accept-Language`.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, header};
use minijinja::Value;

/// Every language the catalogue has, the first being the fallback.
pub const LANGUAGES: &[&str] = &["en", "de"];

const COOKIE: &str = "latchkey_lang";

/// The catalogue that ships in the binary.
pub const EMBEDDED: &str = include_str!("../../../../ui/templates/pages/messages.json");

pub type Messages = BTreeMap<String, String>;

/// The messages of every language, each missing one filled in from English.
#[derive(Debug)]
pub struct Catalogue {
    by_lang: BTreeMap<&'static str, Messages>,
    /// The same, ready for templates.
    values: BTreeMap<&'static str, Value>,
}

impl Catalogue {
    /// The embedded catalogue, with `overrides` (a theme's `messages.json`:
    /// some keys of some languages) laid over it. An override may only
    /// change messages that exist, in languages that exist.
    pub fn load(overrides: Option<&str>) -> Result<Self, String> {
        let mut all: BTreeMap<String, Messages> = serde_json::from_str(EMBEDDED)
            .map_err(|e| format!("the embedded messages.json does not parse: {e}"))?;
        if let Some(json) = overrides {
            let extra: BTreeMap<String, Messages> =
                serde_json::from_str(json).map_err(|e| format!("messages.json: {e}"))?;
            for (lang, messages) in extra {
                let Some(own) = all.get_mut(&lang) else {
                    return Err(format!(
                        "messages.json: unknown language {lang:?}; known: {}",
                        LANGUAGES.join(", ")
                    ));
                };
                for (key, text) in messages {
                    if !own.contains_key(&key) {
                        return Err(format!(
                            "messages.json: unknown message {key:?} in {lang:?}"
                        ));
                    }
                    own.insert(key, text);
                }
            }
        }
        let english = all.get(LANGUAGES[0]).cloned().unwrap_or_default();
        let by_lang: BTreeMap<&'static str, Messages> = LANGUAGES
            .iter()
            .map(|lang| {
                let mut merged = english.clone();
                if let Some(own) = all.get(*lang) {
                    merged.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                (*lang, merged)
            })
            .collect();
        let values = by_lang
            .iter()
            .map(|(lang, m)| (*lang, Value::from(minijinja::value::Serde(m))))
            .collect();
        Ok(Self { by_lang, values })
    }

    /// Every message of `lang`, for a template.
    pub fn messages(&self, lang: &str) -> Value {
        self.values.get(lang).cloned().unwrap_or_default()
    }

    /// One message, or its key when the catalogue has none.
    pub fn message(&self, lang: &str, key: &str) -> String {
        self.by_lang
            .get(lang)
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    /// Whether the catalogue has a message for `key`.
    pub fn has(&self, key: &str) -> bool {
        self.by_lang
            .get(LANGUAGES[0])
            .is_some_and(|m| m.contains_key(key))
    }
}

fn known(tag: &str) -> Option<&'static str> {
    let primary = tag.split(['-', '_']).next().unwrap_or_default().trim();
    LANGUAGES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(primary))
        .copied()
}

/// The language for this request, and whether `?lang=` asked to switch (so
/// the answer sets the cookie).
pub fn choose(headers: &HeaderMap, query_lang: Option<&str>) -> (&'static str, bool) {
    if let Some(lang) = query_lang.and_then(known) {
        return (lang, true);
    }
    if let Some(lang) = crate::cookie::value(headers, COOKIE)
        .as_deref()
        .and_then(known)
    {
        return (lang, false);
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut best: Option<(&'static str, f32)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let tag = pieces.next().unwrap_or_default().trim();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if let Some(lang) = known(tag)
            && q > 0.0
            && best.is_none_or(|(_, b)| q > b)
        {
            best = Some((lang, q));
        }
    }
    (best.map_or(LANGUAGES[0], |(l, _)| l), false)
}

/// The cookie that remembers a switch of language for a year.
pub fn cookie(lang: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={lang}; Path=/; SameSite=Lax; Max-Age=31536000"
    ))
    .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_message() {
        let all: BTreeMap<String, Messages> = serde_json::from_str(EMBEDDED).unwrap();
        let english = &all["en"];
        assert!(english.len() > 50);
        for lang in LANGUAGES {
            let keys: Vec<_> = all[*lang].keys().collect();
            assert_eq!(keys, english.keys().collect::<Vec<_>>(), "{lang}");
        }
    }

    #[test]
    fn a_theme_may_change_known_messages_only() {
        let c = Catalogue::load(Some(r#"{"de": {"login_title": "Einloggen"}}"#)).unwrap();
        assert_eq!(c.message("de", "login_title"), "Einloggen");
        assert_eq!(c.message("en", "login_title"), "Sign in");
        assert_eq!(c.message("de", "no_such_key"), "no_such_key");
        let e = Catalogue::load(Some(r#"{"de": {"login_titel": "x"}}"#)).unwrap_err();
        assert!(e.contains("login_titel"), "{e}");
        let e = Catalogue::load(Some(r#"{"fr": {"login_title": "x"}}"#)).unwrap_err();
        assert!(e.contains("fr"), "{e}");
        assert!(Catalogue::load(Some("{")).is_err());
    }

    #[test]
    fn accept_language_picks_the_best_known() {
        let mut h = HeaderMap::new();
        assert_eq!(choose(&h, None), ("en", false));
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr-CH, de;q=0.8, en;q=0.5"),
        );
        assert_eq!(choose(&h, None), ("de", false));
        assert_eq!(choose(&h, Some("en")), ("en", true));
        assert_eq!(choose(&h, Some("xx")), ("de", false));
        h.insert(header::COOKIE, HeaderValue::from_static("latchkey_lang=en"));
        assert_eq!(choose(&h, None), ("en", false));
    }
}
