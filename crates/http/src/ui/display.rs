//! How the account page shows times and devices to a person: a date in the
//! page's language instead of RFC 3339, and "Firefox on Windows" instead of
//! a whole `User-Agent` header (which stays in a tooltip).

use latchkey_core::UnixTime;

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A moment as a person reads it, in UTC: `22 Nov 2026, 19:02 UTC` or
/// `22.11.2026, 19:02 UTC`.
pub fn when(t: UnixTime, lang: &str) -> String {
    let Ok(d) = time::OffsetDateTime::from_unix_timestamp(t) else {
        return String::new();
    };
    let (day, month, year) = (d.day(), u8::from(d.month()), d.year());
    let (hour, minute) = (d.hour(), d.minute());
    match lang {
        "de" => format!("{day:02}.{month:02}.{year}, {hour:02}:{minute:02} UTC"),
        _ => {
            let name = MONTHS_EN
                .get(usize::from(month).saturating_sub(1))
                .copied()
                .unwrap_or_default();
            format!("{day} {name} {year}, {hour:02}:{minute:02} UTC")
        }
    }
}

/// The browser and system a `User-Agent` names, as far as the common ones
/// go; anything else is shown as sent, shortened.
pub fn device(user_agent: &str, on: &str) -> String {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") {
        Some("Edge")
    } else if ua.contains("OPR/") {
        Some("Opera")
    } else if ua.contains("Firefox/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("CriOS/") {
        Some("Chrome")
    } else if ua.contains("Safari/") && ua.contains("Version/") {
        Some("Safari")
    } else if ua.starts_with("curl/") {
        Some("curl")
    } else {
        None
    };
    let system = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Linux") || ua.contains("X11") {
        Some("Linux")
    } else {
        None
    };
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} {on} {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => {
            let mut short: String = ua.chars().take(60).collect();
            if ua.chars().count() > 60 {
                short.push('…');
            }
            short
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_dates() {
        // 2026-11-22T19:02:27Z
        let t = 1_795_374_147;
        assert_eq!(when(t, "en"), "22 Nov 2026, 19:02 UTC");
        assert_eq!(when(t, "de"), "22.11.2026, 19:02 UTC");
    }

    #[test]
    fn devices_have_short_names() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
        assert_eq!(device(chrome, "on"), "Chrome on Linux");
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device(firefox, "auf"), "Firefox auf Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(device(safari, "on"), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0";
        assert_eq!(device(edge, "on"), "Edge on Windows");
        assert_eq!(device("ui-test-browser", "on"), "ui-test-browser");
        assert_eq!(device(&"x".repeat(100), "on").chars().count(), 61);
    }
}
