//! The pages' message catalogue (English and German), and the choice of
//! language: `?lang=`, then the `latchkey_lang` cookie, then `Accept-Language`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};

/// Every language the catalogue has, the first being the fallback.
pub const LANGUAGES: &[&str] = &["en", "de"];

const COOKIE: &str = "latchkey_lang";

pub type Messages = BTreeMap<String, String>;

fn catalogue() -> &'static BTreeMap<String, Messages> {
    static CATALOGUE: OnceLock<BTreeMap<String, Messages>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        serde_json::from_str(include_str!(
            "../../../../../ui/templates/pages/messages.json"
        ))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "the page message catalogue does not parse");
            BTreeMap::new()
        })
    })
}

/// The messages of `lang`, each missing one filled in from English.
pub fn messages(lang: &str) -> Messages {
    let all = catalogue();
    let mut out = all.get(LANGUAGES[0]).cloned().unwrap_or_default();
    if let Some(own) = all.get(lang) {
        out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// One message, with `{n}` replaced.
pub fn message(lang: &str, key: &str) -> String {
    let all = catalogue();
    all.get(lang)
        .and_then(|m| m.get(key))
        .or_else(|| all.get(LANGUAGES[0]).and_then(|m| m.get(key)))
        .cloned()
        .unwrap_or_else(|| key.to_owned())
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
    if let Some(lang) = super::read_cookie(headers, COOKIE)
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
        let all = catalogue();
        let english = &all["en"];
        assert!(english.len() > 50);
        for lang in LANGUAGES {
            let keys: Vec<_> = all[*lang].keys().collect();
            assert_eq!(keys, english.keys().collect::<Vec<_>>(), "{lang}");
        }
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
