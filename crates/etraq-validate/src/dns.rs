//! The hickory-resolver [`Dns`] adapter: the system's resolvers, or the primary and secondary
//! servers from `[validator] dns` / `--dns` as `IP[:port]`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etraq_core::validate::{Dns, DnsFailure};
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

use crate::Error;

/// DNS through hickory-resolver.
pub struct HickoryDns {
    resolver: TokioResolver,
}

/// Parses `IP` or `IP:port` (IPv6 as `[::1]:53`); port 53 by default.
pub fn parse_server(s: &str) -> Result<SocketAddr, Error> {
    let s = s.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| Error::DnsServer(s.to_string()))
}

impl HickoryDns {
    /// A resolver asking `servers` in order (the system's when empty), with `timeout` per
    /// query.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Self, Error> {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 2;
        let builder = if servers.is_empty() {
            Resolver::builder_tokio().map_err(|e| Error::Resolver(e.to_string()))?
        } else {
            let name_servers = servers
                .iter()
                .map(|sa| {
                    let mut ns = NameServerConfig::udp_and_tcp(sa.ip());
                    for c in &mut ns.connections {
                        c.port = sa.port();
                    }
                    ns
                })
                .collect();
            let config = ResolverConfig::from_parts(None, vec![], name_servers);
            Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        };
        let resolver = builder
            .with_options(opts)
            .build()
            .map_err(|e| Error::Resolver(e.to_string()))?;
        Ok(HickoryDns { resolver })
    }
}

fn failure(e: NetError) -> DnsFailure {
    if e.is_nx_domain() {
        DnsFailure::NxDomain
    } else if e.is_no_records_found() {
        DnsFailure::NoRecords
    } else if matches!(e, NetError::Timeout) {
        DnsFailure::Timeout
    } else {
        DnsFailure::Failed(e.to_string())
    }
}

/// A fully-qualified query name, so no search domain is ever appended.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

#[async_trait::async_trait]
impl Dns for HickoryDns {
    async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
        let lookup = self
            .resolver
            .mx_lookup(fqdn(domain))
            .await
            .map_err(failure)?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some((
                    mx.preference,
                    mx.exchange
                        .to_utf8()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                )),
                _ => None,
            })
            .collect())
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        let lookup = self.resolver.lookup_ip(fqdn(host)).await.map_err(failure)?;
        Ok(lookup.iter().collect())
    }
}
