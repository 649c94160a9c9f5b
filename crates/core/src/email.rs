//! Email addresses: trimmed, NFKC-normalised, matched case-insensitively.
//!
//! The lookup key lower-cases with Unicode's simple lowercase mapping only.
//! Unlike comparisons through upper case (Django CVE-2019-19844), that never
//! merges distinct letters: `ı` (dotless i) stays `ı`, so `ı@x` and `i@x`
//! remain two addresses.
//!
//! Invisible characters are refused anywhere in the address (format
//! characters, bidi controls and the other default-ignorables), so that two
//! accounts cannot look the same. The domain goes through UTS #46 (IDNA):
//! `example\u{3002}com` is `example.com`, a label IDNA does not allow is
//! refused, and so is an address literal such as `[127.0.0.1]`.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_normalization::UnicodeNormalization;

/// RFC 5321: 64 octets of local part, 254 for the whole path.
const MAX_LOCAL_BYTES: usize = 64;
const MAX_BYTES: usize = 254;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email {
    display: String,
    key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address is longer than 254 bytes")]
    TooLong,
    #[error("the email address must have one @ with text on both sides")]
    Shape,
    #[error("the email address contains a space or a control character")]
    BadCharacter,
    #[error("the email address contains an invisible or formatting character")]
    InvisibleCharacter,
    #[error("the domain of the email address is not a valid domain name")]
    Domain,
    #[error("the email address must name a domain, not an IP address")]
    AddressLiteral,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalised: String = raw.trim().nfkc().collect();
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.len() > MAX_BYTES {
            return Err(EmailError::TooLong);
        }
        if normalised.chars().any(is_invisible) {
            return Err(EmailError::InvisibleCharacter);
        }
        if normalised.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"' | '\\')
        }) {
            return Err(EmailError::BadCharacter);
        }
        let (local, domain) = normalised.rsplit_once('@').ok_or(EmailError::Shape)?;
        if local.is_empty()
            || domain.is_empty()
            || local.len() > MAX_LOCAL_BYTES
            || domain.contains('@')
            || local.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(EmailError::Shape);
        }
        if domain.starts_with('[') {
            return Err(EmailError::AddressLiteral);
        }
        let mapped = map_domain(domain)?;
        // An all-ASCII domain is kept as written (its case too); any other
        // is shown in its mapped form, so that what looks like a dot is one.
        let display = if domain.is_ascii() {
            normalised.clone()
        } else {
            format!("{local}@{mapped}")
        };
        if display.len() > MAX_BYTES {
            return Err(EmailError::TooLong);
        }
        let key = format!("{}@{mapped}", local.to_lowercase());
        Ok(Self { display, key })
    }

    /// The address as the user wrote it, normalised (what mail is sent to).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The case-insensitive lookup key that the unique index holds.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The local part, for password rules that forbid it.
    pub fn local_part(&self) -> &str {
        self.key.rsplit_once('@').map_or("", |(l, _)| l)
    }

    /// Rebuilds an address read back from storage.
    pub fn from_stored(display: String) -> Self {
        let key = match display.rsplit_once('@') {
            Some((local, domain)) => match map_domain(domain) {
                Ok(mapped) => format!("{}@{mapped}", local.to_lowercase()),
                Err(_) => display.to_lowercase(),
            },
            None => display.to_lowercase(),
        };
        Self { display, key }
    }
}

/// The domain after UTS #46 processing, in its Unicode form: mapped (case
/// folded, `\u{3002}` and the other full stops made `.`), checked label by
/// label (IDNA2008 validity, STD3 letters-digits-hyphen, no leading or
/// trailing hyphen, DNS lengths), punycode decoded. For an ASCII domain
/// that is simply its lower case.
fn map_domain(domain: &str) -> Result<String, EmailError> {
    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .map_err(|_| EmailError::Domain)?;
    // A dotted quad or any all-digit top label is an address, not a name.
    let top = ascii.rsplit('.').next().unwrap_or_default();
    if top.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EmailError::AddressLiteral);
    }
    let (unicode, checked) = uts46.to_unicode(
        ascii.as_bytes(),
        AsciiDenyList::STD3,
        Hyphens::CheckFirstLast,
    );
    checked.map_err(|_| EmailError::Domain)?;
    Ok(unicode.into_owned())
}

/// Characters that render as nothing (or only steer the rendering of
/// others): Unicode's general category Cf (format characters, among them
/// every bidi control) and the Default_Ignorable_Code_Point property, as of
/// Unicode 16.0.
fn is_invisible(c: char) -> bool {
    const RANGES: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),   // soft hyphen
        (0x034F, 0x034F),   // combining grapheme joiner
        (0x0600, 0x0605),   // Arabic number signs
        (0x061C, 0x061C),   // Arabic letter mark
        (0x06DD, 0x06DD),   // Arabic end of ayah
        (0x070F, 0x070F),   // Syriac abbreviation mark
        (0x0890, 0x0891),   // Arabic pound and piastre marks above
        (0x08E2, 0x08E2),   // Arabic disputed end of ayah
        (0x115F, 0x1160),   // Hangul fillers
        (0x17B4, 0x17B5),   // Khmer inherent vowels
        (0x180B, 0x180F),   // Mongolian variation selectors, vowel separator
        (0x200B, 0x200F),   // zero-width space, joiners, LRM, RLM
        (0x202A, 0x202E),   // bidi embeddings and overrides
        (0x2060, 0x206F),   // word joiner, invisible operators, bidi isolates
        (0x3164, 0x3164),   // Hangul filler
        (0xFE00, 0xFE0F),   // variation selectors
        (0xFEFF, 0xFEFF),   // zero-width no-break space (BOM)
        (0xFFA0, 0xFFA0),   // halfwidth Hangul filler
        (0xFFF0, 0xFFFB),   // unassigned specials, interlinear annotation
        (0x110BD, 0x110BD), // Kaithi number sign
        (0x110CD, 0x110CD), // Kaithi number sign above
        (0x13430, 0x1343F), // Egyptian hieroglyph format controls
        (0x1BCA0, 0x1BCA3), // shorthand format controls
        (0x1D173, 0x1D17A), // musical symbol format controls
        (0xE0000, 0xE0FFF), // tags, variation selectors supplement
    ];
    let c = u32::from(c);
    RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.display)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn case_and_whitespace_do_not_make_a_new_address() {
        let a = Email::parse("  Alice@Example.COM ").unwrap();
        let b = Email::parse("alice@example.com").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Alice@Example.COM");
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        // Full-width letters and the "fi" ligature are the same address.
        let a = Email::parse("ｂｏｂ@example.com").unwrap();
        assert_eq!(a.key(), "bob@example.com");
        let b = Email::parse("ﬁn@example.com").unwrap();
        assert_eq!(b.key(), "fin@example.com");
    }

    #[test]
    fn dotless_i_is_not_i() {
        let dotless = Email::parse("ımran@example.com").unwrap();
        let plain = Email::parse("imran@example.com").unwrap();
        let upper = Email::parse("IMRAN@example.com").unwrap();
        assert_ne!(dotless.key(), plain.key());
        assert_eq!(plain.key(), upper.key());
        let dotted_capital = Email::parse("İmran@example.com").unwrap();
        assert_ne!(dotted_capital.key(), plain.key());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "   ",
            "no-at",
            "@x.com",
            "a@",
            "a b@x.com",
            "a@@x.com",
            "a@x..com",
            "a@.x",
            "<a@x.com>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long), Err(EmailError::Shape));
        let longer = format!("a@{}.com", "b".repeat(260));
        assert_eq!(Email::parse(&longer), Err(EmailError::TooLong));
    }

    #[test]
    fn invisible_characters_are_refused_anywhere() {
        for bad in [
            "kate.victim\u{200b}@example.com",
            "kate.victim@ex\u{ad}ample.com",
            "kate\u{200d}victim@example.com",
            "kate@exa\u{200c}mple.com",
            "\u{202e}kate@example.com",
            "kate\u{2066}@example.com",
            "kate@example.com\u{2060}",
            "ka\u{feff}te@example.com",
            "kate\u{61c}@example.com",
            "kate\u{34f}@example.com",
            "kate\u{3164}@example.com",
            "kate\u{ffa0}@example.com",
            "kate\u{fe0f}@example.com",
            "kate\u{e0041}@example.com",
            "kate\u{1d173}@example.com",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(EmailError::InvisibleCharacter),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_domain_is_mapped_by_uts46() {
        let plain = Email::parse("kate.victim@example.com").unwrap();
        for dotted in [
            "kate.victim@example\u{3002}com",
            "kate.victim@example\u{ff0e}com",
            "kate.victim@example\u{ff61}com",
        ] {
            let e = Email::parse(dotted).unwrap();
            assert_eq!(e.key(), plain.key(), "{dotted:?}");
            assert_eq!(e.as_str(), "kate.victim@example.com", "{dotted:?}");
        }
        // Full-width letters are ASCII after NFKC, kept as written.
        let wide = Email::parse("kate.victim@ＥＸＡＭＰＬＥ.com").unwrap();
        assert_eq!(wide.as_str(), "kate.victim@EXAMPLE.com");
        assert_eq!(wide.key(), plain.key());
        // An internationalised domain, in either form, is one address.
        let unicode = Email::parse("kate@Bücher.de").unwrap();
        assert_eq!(unicode.as_str(), "kate@bücher.de");
        let puny = Email::parse("kate@xn--bcher-kva.de").unwrap();
        assert_eq!(puny.as_str(), "kate@xn--bcher-kva.de");
        assert_eq!(unicode.key(), "kate@bücher.de");
        assert_eq!(puny.key(), unicode.key());
        // The local part keeps its case in the display, as before.
        let mixed = Email::parse("Kate@Example.COM").unwrap();
        assert_eq!(mixed.as_str(), "Kate@Example.COM");
        assert_eq!(mixed.key(), "kate@example.com");
    }

    #[test]
    fn invalid_domains_and_address_literals_are_refused() {
        for bad in [
            "a@-example.com",
            "a@example-.com",
            "a@ex_ample.com",
            "a@exa!mple.com",
            "a@xn--zz.com",
            "a@xn--.com",
            "a@example\u{3002}\u{3002}com",
            "a@example.com\u{3002}",
            "a@\u{378}.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Domain), "{bad:?}");
        }
        let long_label = format!("a@{}.com", "b".repeat(64));
        assert_eq!(Email::parse(&long_label), Err(EmailError::Domain));
        for literal in [
            "a@[127.0.0.1]",
            "a@[IPv6:2001:db8::1]",
            "a@127.0.0.1",
            "a@10.1",
        ] {
            assert_eq!(
                Email::parse(literal),
                Err(EmailError::AddressLiteral),
                "{literal:?}"
            );
        }
        assert!(Email::parse("a@localhost").is_ok());
        assert!(Email::parse("a@123.example.com").is_ok());
    }

    #[test]
    fn a_stored_address_gets_the_key_it_was_parsed_with() {
        for raw in [
            "Alice@Example.COM",
            "ｂｏｂ@example.com",
            "ımran@example.com",
            "kate@example\u{3002}com",
            "kate@Bücher.de",
            "kate@xn--bcher-kva.de",
            "\u{212a}elvin@\u{212a}elvin.example",
        ] {
            let parsed = Email::parse(raw).unwrap();
            let stored = Email::from_stored(parsed.as_str().to_owned());
            assert_eq!(stored.key(), parsed.key(), "{raw:?}");
            assert_eq!(stored, parsed, "{raw:?}");
        }
    }

    #[test]
    fn kelvin_sign_is_k_and_dotless_i_in_a_domain_is_its_own() {
        let kelvin = Email::parse("\u{212a}ate@\u{212a}.example").unwrap();
        assert_eq!(kelvin.key(), "kate@k.example");
        let dotless = Email::parse("a@ıx.example").unwrap();
        let dotted = Email::parse("a@ix.example").unwrap();
        assert_ne!(dotless.key(), dotted.key());
    }
}
