//! `[web]`: the console's listener, TLS and sign-in settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// `[web]`: the console.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address the console listens on.
    pub listen: String,
    /// A second address that serves only the public endpoints campaign recipients reach
    /// (unsubscribe, view in browser, subscribe, open and click tracking, conversions), so
    /// they can face the internet while the console stays inside; `""` is none.
    pub public_listen: String,
    /// The console's address as users reach it, for links in alert mail (default:
    /// `http://` + `listen`).
    pub public_url: String,
    /// PEM certificate chain: with `tls_key`, the console speaks HTTPS only, and its session
    /// cookies are `Secure`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How long a sign-in lasts without "remember me" (the cookie also ends with the browser).
    pub session_lifetime: HumanDuration,
    /// How long a sign-in with "remember me" lasts.
    pub remember_lifetime: HumanDuration,
    /// Failed sign-ins per account (and ten times as many per client address) within
    /// `login_window` before further attempts get 429.
    pub login_attempts: u32,
    /// The window of `login_attempts`.
    pub login_window: HumanDuration,
    /// Requests per second each client address may make to the public endpoints (unsubscribe,
    /// subscribe, and later tracking), with bursts of five times as many; past it, 429.
    pub public_rate_per_ip: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            public_listen: String::new(),
            public_url: String::new(),
            tls_cert: None,
            tls_key: None,
            session_lifetime: HumanDuration::from_secs(12 * 3600),
            remember_lifetime: HumanDuration::from_secs(30 * 86_400),
            login_attempts: 5,
            login_window: HumanDuration::from_secs(15 * 60),
            public_rate_per_ip: 20,
        }
    }
}

impl WebConfig {
    /// Checks what serde cannot; the error names the key.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, why: &str| Err((format!("web.{key}"), why.to_string()));
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "web.listen".into(),
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:8080",
                    self.listen
                ),
            ));
        }
        if !self.public_listen.trim().is_empty()
            && self
                .public_listen
                .trim()
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return bad(
                "public_listen",
                &format!(
                    "{:?} is not an address:port such as 0.0.0.0:8081",
                    self.public_listen
                ),
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_key", "tls_cert and tls_key must be given together");
        }
        if self.session_lifetime.as_secs() < 60 {
            return bad("session_lifetime", "must be at least 1 minute");
        }
        if self.remember_lifetime.as_secs() < 60 {
            return bad("remember_lifetime", "must be at least 1 minute");
        }
        if self.login_attempts == 0 {
            return bad("login_attempts", "must be at least 1");
        }
        if self.public_rate_per_ip == 0 {
            return bad("public_rate_per_ip", "must be at least 1");
        }
        if self.login_window.as_secs() == 0 {
            return bad("login_window", "must be longer than 0");
        }
        Ok(())
    }
}
