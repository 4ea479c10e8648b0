//! `[smtp]` and `[upstream]`: the gateway's listener, limits and relay policy, and the company's
//! mail server. The checks and the typed views of these values live here once; the gateway
//! compiles its settings from the typed views, so nothing is checked twice.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// `[smtp]`: the gateway listener and its limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Address the gateway listens on.
    pub listen: String,
    /// Largest message accepted, in bytes (552 5.3.4 above it).
    pub max_message_bytes: u64,
    /// Most recipients per transaction (452 4.5.3 above it).
    pub max_recipients: usize,
    /// Client networks (CIDR) allowed to relay to non-local domains.
    pub relay_networks: Vec<String>,
    /// PEM certificate chain for STARTTLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for STARTTLS.
    pub tls_key: Option<PathBuf>,
    /// Name the gateway gives in its greeting and EHLO reply (default: the host name).
    pub hostname: String,
    /// Longest command line accepted (500 5.5.2 above it); at most 4096.
    pub max_line_length: usize,
    /// How long a client may take to send each command, counted from etraq's previous reply
    /// (a deadline for the whole line, however slowly its bytes arrive).
    pub command_timeout: HumanDuration,
    /// How long a client may stay silent while sending a message.
    pub data_timeout: HumanDuration,
    /// Longest a session may last in all (421 4.4.2 past it).
    pub session_timeout: HumanDuration,
    /// Largest header section of a message, in bytes (552 5.3.4 above it).
    pub max_header_bytes: u64,
    /// Longest physical header line, in bytes (552 5.3.4 above it).
    pub max_header_line: usize,
    /// Most simultaneous client connections (421 past it).
    pub max_connections: usize,
    /// Most simultaneous connections from one client address outside `relay_networks`
    /// (421 past it), so one stranger cannot take every slot.
    pub max_connections_per_ip: usize,
    /// Protocol errors a session may make before it is closed (421).
    pub max_errors: u32,
    /// How long `etraq serve` lets sessions in flight finish after SIGINT/SIGTERM.
    pub shutdown_grace: HumanDuration,
}

/// `[upstream]`: the company's mail server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Host name or IP address.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// The EHLO name etraq gives the upstream (default: `smtp.hostname`).
    pub helo: String,
    /// How long to wait for the upstream's verdict after the message data (RFC 5321 suggests
    /// 10 minutes).
    pub data_timeout: HumanDuration,
    /// Require STARTTLS (with a publicly trusted certificate) when etraq sends its own mail
    /// (alerts) to the upstream.
    pub starttls: bool,
    /// Upstream sessions kept open between client sessions, so the next client's mail does not
    /// pay for a connection, EHLO and QUIT (0: a session per client, closed with it).
    pub keep_idle: usize,
    /// How long a kept session may stay idle; keep it below the upstream's own idle timeout
    /// (Postfix: `smtpd_timeout`, 300 s).
    pub keep_idle_timeout: HumanDuration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            listen: "127.0.0.1:2525".into(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            relay_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            tls_cert: None,
            tls_key: None,
            hostname: String::new(),
            max_line_length: 4096,
            command_timeout: HumanDuration::from_secs(300),
            data_timeout: HumanDuration::from_secs(600),
            session_timeout: HumanDuration::from_secs(3600),
            max_header_bytes: 256 * 1024,
            max_header_line: 16 * 1024,
            max_connections: 1000,
            max_connections_per_ip: 20,
            max_errors: 10,
            shutdown_grace: HumanDuration::from_secs(30),
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            host: "127.0.0.1".into(),
            port: 25,
            helo: String::new(),
            data_timeout: HumanDuration::from_secs(600),
            starttls: false,
            keep_idle: 16,
            keep_idle_timeout: HumanDuration::from_secs(30),
        }
    }
}

/// Parses `IP/PREFIX` or a bare IP (a single host) into a network: its address and prefix
/// length. Used for `smtp.relay_networks`.
pub fn parse_network(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let s = s.trim();
    let (ip, prefix) = match s.split_once('/') {
        Some((ip, p)) => (
            ip.parse::<std::net::IpAddr>().ok()?,
            Some(p.parse::<u8>().ok()?),
        ),
        None => (s.parse::<std::net::IpAddr>().ok()?, None),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some((ip, prefix))
}

impl SmtpConfig {
    /// `listen` as a socket address.
    pub fn listen_addr(&self) -> Result<SocketAddr, (String, String)> {
        self.listen.parse().map_err(|_| {
            (
                "smtp.listen".into(),
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:2525",
                    self.listen
                ),
            )
        })
    }

    /// `relay_networks` as (address, prefix length) pairs, host bits cleared by the caller's
    /// network type.
    pub fn relay_nets(&self) -> Result<Vec<(IpAddr, u8)>, (String, String)> {
        self.relay_networks
            .iter()
            .enumerate()
            .map(|(i, n)| {
                parse_network(n).ok_or_else(|| {
                    (
                        format!("smtp.relay_networks[{i}]"),
                        format!("{n:?} is not an IP network such as 192.0.2.0/24 or ::1"),
                    )
                })
            })
            .collect()
    }

    /// The STARTTLS certificate and key files, when both are set (relative to the config
    /// file's directory once joined by the caller).
    pub fn tls_files(&self) -> Result<Option<(PathBuf, PathBuf)>, (String, String)> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Ok(Some((c.clone(), k.clone()))),
            (None, None) => Ok(None),
            _ => Err((
                "smtp.tls_key".into(),
                "tls_cert and tls_key must be given together".into(),
            )),
        }
    }

    /// Checks what serde cannot; the error names the key.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, why: &str| Err((format!("smtp.{key}"), why.to_string()));
        if self.max_recipients == 0 {
            return bad("max_recipients", "must be at least 1");
        }
        if !(512..=4096).contains(&self.max_line_length) {
            return bad("max_line_length", "must be between 512 (RFC 5321) and 4096");
        }
        if self.max_connections == 0 {
            return bad("max_connections", "must be at least 1");
        }
        if self.max_connections_per_ip == 0 {
            return bad("max_connections_per_ip", "must be at least 1");
        }
        if self.max_header_bytes < 4096 {
            return bad("max_header_bytes", "must be at least 4096");
        }
        if self.max_header_line < 998 {
            return bad("max_header_line", "must be at least 998 (RFC 5322)");
        }
        if self.command_timeout.as_secs() < 1 || self.session_timeout.as_secs() < 1 {
            return bad(
                "session_timeout",
                "command_timeout and session_timeout must be at least 1 second",
            );
        }
        self.listen_addr()?;
        self.relay_nets()?;
        self.tls_files()?;
        Ok(())
    }
}

impl UpstreamConfig {
    /// Checks what serde cannot; the error names the key.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if self.host.trim().is_empty() {
            return Err(("upstream.host".into(), "must not be empty".into()));
        }
        Ok(())
    }
}
