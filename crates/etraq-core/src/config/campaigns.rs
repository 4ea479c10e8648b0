//! `[campaigns]`: how campaign mail is sent and where its links point.

use serde::{Deserialize, Serialize};

use crate::address::EmailAddress;

/// What a sender does with recipients a crash left `sending` (their mail may or may not have
/// gone out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRestart {
    /// Leave them `in_doubt` and listed: nobody gets the mail twice.
    #[default]
    Skip,
    /// Send them again: nobody misses it, a few may get it twice.
    Resend,
}

/// `[campaigns]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignsConfig {
    /// `host:port` of the relay campaign mail goes to; empty: the `[upstream]` (in evaluation
    /// mode, the Maildir).
    pub relay: String,
    /// The From of campaign mail (`Name <address>` or an address); empty:
    /// `newsletter@` the first local domain.
    pub from: String,
    /// The base of every link in campaign mail (unsubscribe, tracking, subscribe forms); empty:
    /// `http://` and the console's `web.listen`.
    pub public_url: String,
    /// The domain of VERP return paths and campaign Message-IDs; empty: the first local domain.
    pub bounce_domain: String,
    /// Mails per second across all connections (a campaign may set its own).
    pub rate_per_second: u32,
    /// Mails in flight at once (connections to the relay).
    pub concurrency: u32,
    /// What happens to recipients a crash left in doubt.
    pub on_restart: OnRestart,
    /// Soft bounces within the window that blocklist an address.
    pub soft_bounce_limit: u32,
    /// The window: the recipient's last this-many sends.
    pub soft_bounce_window: u32,
}

impl Default for CampaignsConfig {
    fn default() -> Self {
        CampaignsConfig {
            relay: String::new(),
            from: String::new(),
            public_url: String::new(),
            bounce_domain: String::new(),
            rate_per_second: 20,
            concurrency: 4,
            on_restart: OnRestart::Skip,
            soft_bounce_limit: 3,
            soft_bounce_window: 5,
        }
    }
}

impl CampaignsConfig {
    /// Checks the values a sender cannot use; the error names the key.
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, why: String| Err((key.to_string(), why));
        if !self.relay.trim().is_empty() {
            let ok = self
                .relay
                .trim()
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return bad("relay", format!("{:?} is not host:port", self.relay));
            }
        }
        if !self.from.trim().is_empty() {
            let addr = match (self.from.rfind('<'), self.from.rfind('>')) {
                (Some(a), Some(b)) if a < b => &self.from[a + 1..b],
                _ => self.from.as_str(),
            };
            if EmailAddress::parse(addr).is_err() {
                return bad(
                    "from",
                    format!("{:?} is not an address or `Name <address>`", self.from),
                );
            }
        }
        if !self.public_url.trim().is_empty() {
            match url::Url::parse(self.public_url.trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return bad(
                        "public_url",
                        format!("{:?} is not an http(s) URL", self.public_url),
                    );
                }
            }
        }
        if !self.bounce_domain.trim().is_empty()
            && crate::address::normalize_domain(&self.bounce_domain).is_err()
        {
            return bad(
                "bounce_domain",
                format!("{:?} is not a domain", self.bounce_domain),
            );
        }
        if !(1..=100_000).contains(&self.rate_per_second) {
            return bad("rate_per_second", "must be between 1 and 100000".into());
        }
        if !(1..=256).contains(&self.concurrency) {
            return bad("concurrency", "must be between 1 and 256".into());
        }
        if self.soft_bounce_window == 0 || self.soft_bounce_limit == 0 {
            return bad(
                "soft_bounce_limit",
                "soft_bounce_limit and soft_bounce_window must be at least 1".into(),
            );
        }
        if self.soft_bounce_limit > self.soft_bounce_window {
            return bad(
                "soft_bounce_limit",
                format!(
                    "{} soft bounces can never happen in a window of {} sends",
                    self.soft_bounce_limit, self.soft_bounce_window
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_key() {
        let cases: [(CampaignsConfig, &str); 7] = [
            (
                CampaignsConfig {
                    relay: "nohost".into(),
                    ..Default::default()
                },
                "relay",
            ),
            (
                CampaignsConfig {
                    from: "Shop <not-an-address>".into(),
                    ..Default::default()
                },
                "from",
            ),
            (
                CampaignsConfig {
                    public_url: "ftp://x".into(),
                    ..Default::default()
                },
                "public_url",
            ),
            (
                CampaignsConfig {
                    bounce_domain: "a b".into(),
                    ..Default::default()
                },
                "bounce_domain",
            ),
            (
                CampaignsConfig {
                    rate_per_second: 0,
                    ..Default::default()
                },
                "rate_per_second",
            ),
            (
                CampaignsConfig {
                    concurrency: 1000,
                    ..Default::default()
                },
                "concurrency",
            ),
            (
                CampaignsConfig {
                    soft_bounce_limit: 6,
                    ..Default::default()
                },
                "soft_bounce_limit",
            ),
        ];
        for (c, key) in cases {
            assert_eq!(c.check().unwrap_err().0, key);
        }
        let ok = CampaignsConfig {
            relay: "127.0.0.1:2525".into(),
            from: "Shop News <news@example.com>".into(),
            public_url: "https://news.example.com".into(),
            bounce_domain: "bounce.example.com".into(),
            ..Default::default()
        };
        assert_eq!(ok.check(), Ok(()));
    }
}
