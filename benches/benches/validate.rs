//! The validator's target (issue 6): 10,000 addresses across 100 domains against local DNS and
//! SMTP servers with 32 threads, ≥ 1,000 addresses/s — reported against the
//! one-connection-per-address mode (`per_domain = 1`) measured in the same run.
//!
//! `cargo bench -p etraq-benches --bench validate`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../crates/etraq-validate/tests/net/mod.rs"]
mod net;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etraq_smtp::{ProbeConfig, TcpProbe};
use etraq_validate::{HickoryDns, RunOptions, Validator};
use net::{Mode, Zone};

const DOMAINS: usize = 100;
const PER_DOMAIN: usize = 100;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // One mail exchanger per domain, each on its own loopback address, all on one port.
    let ips: Vec<Ipv4Addr> = (0..DOMAINS)
        .map(|i| Ipv4Addr::new(127, 0, 1, i as u8 + 1))
        .collect();
    let (port, dns) = rt.block_on(async {
        let (port, _servers) =
            net::start_smtp(ips.iter().map(|ip| (*ip, Mode::CatchAll)).collect()).await;
        let mut zones = Vec::new();
        let names: Vec<(String, String)> = (0..DOMAINS)
            .map(|i| (format!("shop{i}.test"), format!("mx.shop{i}.test")))
            .collect();
        for (i, (domain, mx)) in names.iter().enumerate() {
            zones.push((
                domain.clone(),
                Zone::Records {
                    mx: vec![(10, mx.clone())],
                    a: vec![],
                },
            ));
            zones.push((
                mx.clone(),
                Zone::Records {
                    mx: vec![],
                    a: vec![ips[i]],
                },
            ));
        }
        let zones: Vec<(&str, Zone)> = zones.iter().map(|(n, z)| (n.as_str(), z.clone())).collect();
        (port, net::start_dns(zones).await)
    });
    let inputs: Vec<String> = (0..DOMAINS * PER_DOMAIN)
        .map(|i| format!("customer{}@shop{}.test", i / DOMAINS, i % DOMAINS))
        .collect();
    let run = |per_domain: usize| {
        let dns = HickoryDns::new(&[dns], Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
        let probe = TcpProbe::new(ProbeConfig {
            helo: "bench.test".into(),
            mail_from: "postmaster@bench.test".into(),
            timeout: Duration::from_secs(10),
        });
        let v = Validator::new(
            Arc::new(dns),
            Arc::new(probe),
            RunOptions {
                threads: 32,
                per_domain,
                per_mx: 4,
                smtp_port: port,
                ..RunOptions::default()
            },
        );
        let mut n = 0usize;
        let summary = rt.block_on(v.run(inputs.clone(), |_| n += 1));
        assert_eq!(n, inputs.len());
        assert_eq!(
            summary.by_verdict.len(),
            1,
            "all risky (catch-all): {summary:?}"
        );
    };
    let mut g = c.benchmark_group("validate_10000_addresses_100_domains_32_threads");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("baseline: one connection per address", |b| {
        b.iter(|| run(1))
    });
    g.bench_function("etraq: one session per 20 addresses of a domain", |b| {
        b.iter(|| run(20))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
