//! Rate limits and account lockout: the rules, without the counters (which
//! live in the ephemeral store).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// At most `max` requests per `window_secs`; written `"30/min"`, `"5/15min"`,
/// `"3/hour"`, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u64,
    pub window_secs: u64,
}

impl Limit {
    pub const OFF: Self = Self {
        max: 0,
        window_secs: 0,
    };

    pub const fn per(max: u64, window_secs: u64) -> Self {
        Self { max, window_secs }
    }

    pub fn is_off(&self) -> bool {
        self.max == 0
    }
}

impl FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::OFF);
        }
        let bad =
            || format!("{s:?} is not a limit like \"30/min\", \"5/15min\", \"3/hour\" or \"off\"");
        let (max, window) = s.split_once('/').ok_or_else(bad)?;
        let max: u64 = max.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let digits = window.chars().take_while(char::is_ascii_digit).count();
        let (count, unit) = window.split_at(digits);
        let count: u64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| bad())?
        };
        let unit_secs = match unit {
            "s" | "sec" | "second" => 1,
            "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return Err(bad()),
        };
        if max == 0 || count == 0 {
            return Err(bad());
        }
        Ok(Self::per(max, count * unit_secs))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            return f.write_str("off");
        }
        match self.window_secs {
            w if w % 3600 == 0 => write!(f, "{}/{}hour", self.max, w / 3600),
            w if w % 60 == 0 => write!(f, "{}/{}min", self.max, w / 60),
            w => write!(f, "{}/{}s", self.max, w),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Lockout: stops guessing without letting an attacker lock a victim out
/// for good. After `threshold` failed logins within `lock_secs`, the account
/// (or the unknown name: both answer alike) is locked for `lock_secs`,
/// doubling with each lockout in a day up to `max_lock_secs`; never more
/// than `hourly_cap` password checks per hour get through (NIST SP 800-63B
/// 5.2.2 allows 100). A password reset by email lifts a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutPolicy {
    pub threshold: u64,
    pub lock_secs: u64,
    pub max_lock_secs: u64,
    pub hourly_cap: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 10,
            lock_secs: 15 * 60,
            max_lock_secs: 3600,
            hourly_cap: 100,
        }
    }
}

impl LockoutPolicy {
    /// How long the `n`th lockout in a row lasts (n counts from 1).
    pub fn lock_duration(&self, n: u64) -> u64 {
        let doublings = n.saturating_sub(1).min(20);
        self.lock_secs
            .saturating_mul(1 << doublings)
            .min(self.max_lock_secs.max(self.lock_secs))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_and_print() {
        assert_eq!("30/min".parse::<Limit>().unwrap(), Limit::per(30, 60));
        assert_eq!("5/15min".parse::<Limit>().unwrap(), Limit::per(5, 900));
        assert_eq!("3/hour".parse::<Limit>().unwrap(), Limit::per(3, 3600));
        assert_eq!("100/10s".parse::<Limit>().unwrap(), Limit::per(100, 10));
        assert!("off".parse::<Limit>().unwrap().is_off());
        for bad in ["", "30", "x/min", "30/fortnight", "0/min", "30/0min"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
        assert_eq!(Limit::per(5, 900).to_string(), "5/15min");
        assert_eq!(Limit::per(3, 3600).to_string(), "3/1hour");
    }

    #[test]
    fn lockouts_grow_and_are_capped() {
        let p = LockoutPolicy::default();
        assert_eq!(p.lock_duration(1), 900);
        assert_eq!(p.lock_duration(2), 1800);
        assert_eq!(p.lock_duration(3), 3600);
        assert_eq!(p.lock_duration(30), 3600);
    }
}
