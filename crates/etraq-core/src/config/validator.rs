//! `[validator]`: the email validator's settings, with the same names as `etraq validate`'s flags.

use serde::{Deserialize, Serialize};

use crate::address::EmailAddress;
use crate::duration::HumanDuration;

/// `[validator]`: defaults for `etraq validate` (same names as its flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidatorConfig {
    /// DNS servers as `IP[:PORT]`: primary first, then secondary.
    pub dns: Vec<String>,
    /// The EHLO name of probes.
    pub helo: String,
    /// The MAIL FROM address of probes.
    pub mail_from: String,
    /// The SMTP port probed.
    pub smtp_port: u16,
    /// Parallel probes.
    pub threads: usize,
    /// Timeout per network step, in seconds.
    pub timeout: u64,
    /// Addresses checked per SMTP session.
    pub per_domain: usize,
    /// Probe only the most preferred MX.
    pub top_mx_only: bool,
    /// Local parts never checked.
    #[serde(alias = "exclude-user")]
    pub exclude_user: Vec<String>,
    /// Keywords: addresses containing one are never checked.
    #[serde(alias = "exclude-keyword")]
    pub exclude_keyword: Vec<String>,
    /// Addresses never checked.
    pub exclude: Vec<String>,
    /// Retry greylisted addresses after this long, in the same run.
    #[serde(alias = "recheck-after")]
    pub recheck_after: Option<HumanDuration>,
    /// SMTP sessions in flight to one mail exchanger at once.
    #[serde(alias = "per-mx")]
    pub per_mx: usize,
    /// Accept quoted local parts (`"john doe"@example.com`).
    #[serde(alias = "allow-quoted")]
    pub allow_quoted: bool,
}

impl ValidatorConfig {
    /// Checks the values a run cannot use; the error names the key.
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, why: String| Err((key.to_string(), why));
        if !(1..=1024).contains(&self.threads) {
            return bad("threads", "must be between 1 and 1024".into());
        }
        if self.timeout == 0 {
            return bad("timeout", "must be at least 1 second".into());
        }
        if self.per_domain == 0 {
            return bad("per_domain", "must be at least 1".into());
        }
        if self.per_mx == 0 {
            return bad("per_mx", "must be at least 1".into());
        }
        if self.helo.trim().is_empty() || self.helo.contains(char::is_whitespace) {
            return bad("helo", format!("{:?} is not a host name", self.helo));
        }
        if !self.mail_from.is_empty() && EmailAddress::parse(&self.mail_from).is_err() {
            return bad(
                "mail_from",
                format!(
                    "{:?} is not an address (\"\" is the null sender)",
                    self.mail_from
                ),
            );
        }
        for (i, d) in self.dns.iter().enumerate() {
            let d = d.trim();
            if d.parse::<std::net::SocketAddr>().is_err() && d.parse::<std::net::IpAddr>().is_err()
            {
                return bad(&format!("dns[{i}]"), format!("{d:?} is not IP or IP:port"));
            }
        }
        Ok(())
    }
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            dns: Vec::new(),
            helo: "localhost".into(),
            mail_from: "postmaster@localhost".into(),
            smtp_port: 25,
            threads: 8,
            timeout: 20,
            per_domain: 20,
            top_mx_only: false,
            exclude_user: Vec::new(),
            exclude_keyword: Vec::new(),
            exclude: Vec::new(),
            recheck_after: None,
            per_mx: 2,
            allow_quoted: false,
        }
    }
}
