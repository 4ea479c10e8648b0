//! The validator against a DNS server and SMTP servers run by the test on loopback: every
//! verdict class, session reuse per domain (counted at the server), MX fallback and
//! `top_mx_only`, greylisting rechecks, exclusions, hostile servers and the pre-flight check.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod net;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use etraq_core::validate::{CheckResult, Exclusions, Reachable};
use etraq_smtp::{ProbeConfig, TcpProbe};
use etraq_validate::{HickoryDns, RunOptions, Summary, Validator};
use net::{Mode, Smtp, Zone};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

fn mx(pref: u16, host: &str) -> (u16, String) {
    (pref, host.to_string())
}

fn records(mx: Vec<(u16, String)>, a: Vec<Ipv4Addr>) -> Zone {
    Zone::Records { mx, a }
}

struct World {
    dns: SocketAddr,
    port: u16,
    servers: Vec<Smtp>,
}

impl World {
    fn server(&self, last: u8) -> &Smtp {
        self.servers
            .iter()
            .find(|s| s.ip == ip(last))
            .unwrap_or_else(|| panic!("no server on 127.0.0.{last}"))
    }
}

async fn world() -> World {
    let (port, servers) = net::start_smtp(vec![
        (
            ip(2),
            Mode::Mailboxes(vec![
                "alice@good.test",
                "bob@good.test",
                "info@good.test",
                "carol@failover.test",
                "dave@nomx.test",
                "temp@mailinator.com",
            ]),
        ),
        (ip(3), Mode::CatchAll),
        (ip(4), Mode::Greylist),
        (ip(5), Mode::Full),
        (ip(6), Mode::Blocked),
        (ip(7), Mode::Silent),
        (ip(9), Mode::BlockedNoCode),
        (ip(10), Mode::Endless),
        (ip(11), Mode::Garbage),
        (ip(12), Mode::LimitPerSession(3)),
        (
            ip(13),
            Mode::Utf8Mailboxes(vec!["josé@utf8.test", "ann@utf8.test"]),
        ),
    ])
    .await;
    let dns = net::start_dns(vec![
        ("good.test", records(vec![mx(10, "mx.good.test")], vec![])),
        ("mx.good.test", records(vec![], vec![ip(2)])),
        (
            "mailinator.com",
            records(vec![mx(10, "mx.good.test")], vec![]),
        ),
        (
            "catchall.test",
            records(vec![mx(10, "mx.catchall.test")], vec![]),
        ),
        ("mx.catchall.test", records(vec![], vec![ip(3)])),
        ("grey.test", records(vec![mx(10, "mx.grey.test")], vec![])),
        ("mx.grey.test", records(vec![], vec![ip(4)])),
        ("full.test", records(vec![mx(10, "mx.full.test")], vec![])),
        ("mx.full.test", records(vec![], vec![ip(5)])),
        (
            "blocked.test",
            records(vec![mx(10, "mx.blocked.test")], vec![]),
        ),
        ("mx.blocked.test", records(vec![], vec![ip(6)])),
        (
            "listed.test",
            records(vec![mx(10, "mx.listed.test")], vec![]),
        ),
        ("mx.listed.test", records(vec![], vec![ip(9)])),
        // Primary MX never answers; the secondary is the good server.
        (
            "failover.test",
            records(
                vec![mx(10, "mx1.failover.test"), mx(20, "mx.good.test")],
                vec![],
            ),
        ),
        ("mx1.failover.test", records(vec![], vec![ip(7)])),
        // A 5xx from the primary is final: the catch-all secondary must not be asked.
        (
            "reject.test",
            records(
                vec![mx(10, "mx.good.test"), mx(20, "mx.catchall.test")],
                vec![],
            ),
        ),
        ("down.test", records(vec![mx(10, "mx.down.test")], vec![])),
        ("mx.down.test", records(vec![], vec![ip(8)])),
        (
            "silent.test",
            records(vec![mx(10, "mx1.failover.test")], vec![]),
        ),
        (
            "endless.test",
            records(vec![mx(10, "mx.endless.test")], vec![]),
        ),
        ("mx.endless.test", records(vec![], vec![ip(10)])),
        (
            "garbage.test",
            records(vec![mx(10, "mx.garbage.test")], vec![]),
        ),
        ("mx.garbage.test", records(vec![], vec![ip(11)])),
        (
            "limited.test",
            records(vec![mx(10, "mx.limited.test")], vec![]),
        ),
        ("mx.limited.test", records(vec![], vec![ip(12)])),
        ("utf8.test", records(vec![mx(10, "mx.utf8.test")], vec![])),
        ("mx.utf8.test", records(vec![], vec![ip(13)])),
        ("nullmx.test", records(vec![mx(0, ".")], vec![])),
        ("nomx.test", records(vec![], vec![ip(2)])),
        ("nothing.test", records(vec![], vec![])),
        ("servfail.test", Zone::ServFail),
        ("dnstimeout.test", Zone::Silent),
    ])
    .await;
    World { dns, port, servers }
}

fn validator(w: &World, opts: RunOptions) -> Validator<HickoryDns, TcpProbe> {
    let dns = HickoryDns::new(&[w.dns], Duration::from_secs(2)).unwrap();
    let probe = TcpProbe::new(ProbeConfig {
        helo: "probe.etraq.test".into(),
        mail_from: "postmaster@etraq.test".into(),
        timeout: Duration::from_secs(1),
    });
    Validator::new(
        Arc::new(dns),
        Arc::new(probe),
        RunOptions {
            smtp_port: w.port,
            ..opts
        },
    )
}

async fn run(
    v: &Validator<HickoryDns, TcpProbe>,
    inputs: &[&str],
) -> (HashMap<String, CheckResult>, Summary) {
    let mut out = HashMap::new();
    let summary = v
        .run(inputs.iter().map(|s| s.to_string()).collect(), |r| {
            out.insert(r.input.clone(), r);
        })
        .await;
    assert_eq!(out.len(), inputs.len(), "one result per input");
    (out, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verdict_class() {
    let w = world().await;
    let v = validator(&w, RunOptions::default());
    let inputs = [
        "alice@good.test",
        "nobody@good.test",
        "info@good.test",
        "temp@mailinator.com",
        "anyone@catchall.test",
        "slow@grey.test",
        "stuffed@full.test",
        "someone@blocked.test",
        "someone@listed.test",
        "carol@failover.test",
        "x@reject.test",
        "x@down.test",
        "x@nullmx.test",
        "dave@nomx.test",
        "x@nothing.test",
        "x@missing.test",
        "x@servfail.test",
        "x@dnstimeout.test",
        "not an address",
    ];
    let (r, summary) = run(&v, &inputs).await;
    let expect = |input: &str, verdict: Reachable| {
        let got = &r[input];
        assert_eq!(got.is_reachable, verdict, "{input}: {got:#?}");
        got
    };
    let alice = expect("alice@good.test", Reachable::Safe);
    assert!(alice.smtp.is_deliverable && alice.mx.accepts_mail);
    assert_eq!(alice.mx.records, ["mx.good.test"]);
    assert!(alice.syntax.is_valid_syntax);
    assert!(
        !expect("nobody@good.test", Reachable::Invalid)
            .smtp
            .is_deliverable
    );
    assert!(
        expect("info@good.test", Reachable::Risky)
            .misc
            .is_role_account
    );
    assert!(
        expect("temp@mailinator.com", Reachable::Risky)
            .misc
            .is_disposable
    );
    assert!(
        expect("anyone@catchall.test", Reachable::Risky)
            .smtp
            .is_catch_all
    );
    let grey = expect("slow@grey.test", Reachable::Unknown);
    assert!(grey.deferred, "{grey:?}");
    assert!(
        expect("stuffed@full.test", Reachable::Risky)
            .smtp
            .has_full_inbox
    );
    let blocked = expect("someone@blocked.test", Reachable::Unknown);
    assert!(blocked.reason.contains("5.7.1"), "{}", blocked.reason);
    assert!(blocked.smtp.can_connect_smtp && !blocked.deferred);
    expect("someone@listed.test", Reachable::Unknown);
    expect("carol@failover.test", Reachable::Safe);
    expect("x@reject.test", Reachable::Invalid);
    assert!(
        !expect("x@down.test", Reachable::Unknown)
            .smtp
            .can_connect_smtp
    );
    let null = expect("x@nullmx.test", Reachable::Invalid);
    assert!(null.reason.contains("null MX"), "{}", null.reason);
    assert!(!null.mx.accepts_mail);
    expect("dave@nomx.test", Reachable::Safe);
    expect("x@nothing.test", Reachable::Invalid);
    expect("x@missing.test", Reachable::Invalid);
    let sf = expect("x@servfail.test", Reachable::Unknown);
    assert!(sf.reason.starts_with("DNS"), "{}", sf.reason);
    let slow = expect("x@dnstimeout.test", Reachable::Unknown);
    assert!(slow.reason.starts_with("DNS"), "{}", slow.reason);
    let bad = expect("not an address", Reachable::Invalid);
    assert!(!bad.syntax.is_valid_syntax && bad.reason.starts_with("syntax"));

    assert_eq!(
        w.server(3)
            .rcpts()
            .iter()
            .filter(|a| a.ends_with("@reject.test"))
            .count(),
        0,
        "no fallback on a 5xx"
    );
    assert_eq!(
        summary.by_verdict.values().sum::<u64>(),
        inputs.len() as u64
    );
    assert_eq!(summary.deferred, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_per_domain_serves_up_to_per_domain_addresses() {
    let w = world().await;
    let addrs: Vec<String> = (0..10).map(|i| format!("user{i}@good.test")).collect();
    let inputs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let v = validator(&w, RunOptions::default());
    run(&v, &inputs).await;
    assert_eq!(w.server(2).connections(), 1, "ten addresses, one session");
    // The catch-all probe plus ten RCPTs.
    assert_eq!(w.server(2).rcpts().len(), 11);

    let w = world().await;
    let v = validator(
        &w,
        RunOptions {
            per_domain: 4,
            ..RunOptions::default()
        },
    );
    let (_, summary) = run(&v, &inputs).await;
    assert_eq!(w.server(2).connections(), 3, "4 + 4 + 2");
    assert_eq!(summary.sessions, 3);
    assert_eq!(
        w.server(2).rcpts().len(),
        11,
        "the catch-all question is asked once per domain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_after_some_recipients_continues_in_a_new_session() {
    let w = world().await;
    let addrs: Vec<String> = (0..7).map(|i| format!("u{i}@limited.test")).collect();
    let inputs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let v = validator(&w, RunOptions::default());
    let (r, summary) = run(&v, &inputs).await;
    for a in &inputs {
        // The server accepts everything, so the catch-all makes them risky, none unknown.
        assert_eq!(r[*a].is_reachable, Reachable::Risky, "{:?}", r[*a]);
    }
    // catch-all + 2, then 3, then 2: three connections, and no address asked twice but the
    // one refused with 421 each time.
    assert_eq!(w.server(12).connections(), 3);
    assert_eq!(summary.sessions, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_mx_only_does_not_fall_back() {
    let w = world().await;
    let v = validator(
        &w,
        RunOptions {
            top_mx_only: true,
            ..RunOptions::default()
        },
    );
    let (r, _) = run(&v, &["carol@failover.test"]).await;
    assert_eq!(r["carol@failover.test"].is_reachable, Reachable::Unknown);
    assert_eq!(w.server(2).connections(), 0);
    assert_eq!(w.server(7).connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greylisted_addresses_are_rechecked_later() {
    let w = world().await;
    let v = validator(
        &w,
        RunOptions {
            recheck_after: Some(Duration::from_millis(300)),
            ..RunOptions::default()
        },
    );
    let (r, summary) = run(&v, &["a@grey.test", "b@grey.test"]).await;
    for a in ["a@grey.test", "b@grey.test"] {
        assert_eq!(r[a].is_reachable, Reachable::Safe, "{:?}", r[a]);
        assert!(!r[a].deferred);
    }
    assert_eq!(w.server(4).connections(), 2, "first pass, then the recheck");
    assert_eq!(summary.deferred, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusions_are_never_probed() {
    let w = world().await;
    let opts = RunOptions {
        exclusions: Exclusions::new(
            &["bob@good.test".into()],
            &["abuse".into()],
            &["trap".into()],
        ),
        ..RunOptions::default()
    };
    let v = validator(&w, opts);
    let (r, summary) = run(
        &v,
        &[
            "bob@good.test",
            "abuse@good.test",
            "spamtrap7@good.test",
            "alice@good.test",
        ],
    )
    .await;
    assert_eq!(summary.excluded, 3);
    for a in ["bob@good.test", "abuse@good.test", "spamtrap7@good.test"] {
        assert!(r[a].reason.contains("excluded"), "{:?}", r[a]);
    }
    assert_eq!(r["alice@good.test"].is_reachable, Reachable::Safe);
    let asked = w.server(2).rcpts();
    assert!(
        !asked
            .iter()
            .any(|a| a.starts_with("bob@") || a.starts_with("abuse@") || a.contains("trap")),
        "{asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_cost_the_timeout_and_say_unknown() {
    let w = world().await;
    let v = validator(&w, RunOptions::default());
    let (r, _) = run(&v, &["a@silent.test", "a@endless.test", "a@garbage.test"]).await;
    for a in ["a@silent.test", "a@endless.test", "a@garbage.test"] {
        assert_eq!(r[a].is_reachable, Reachable::Unknown, "{:?}", r[a]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_says_once_that_smtp_is_blocked() {
    let w = world().await;
    let v = validator(&w, RunOptions::default());
    let err = v
        .preflight(
            &["x@down.test".into(), "y@down.test".into()],
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert!(
        err.contains("looks blocked") && err.contains("127.0.0.8"),
        "{err}"
    );
    v.preflight(
        &["x@down.test".into(), "alice@good.test".into()],
        Duration::from_secs(1),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_addresses_go_only_to_servers_that_offer_smtputf8() {
    let w = world().await;
    let inputs = [
        "josé@utf8.test",
        "ann@utf8.test",
        "mütze@utf8.test",
        "josé@good.test",
    ];
    let (results, _) = run(&validator(&w, RunOptions::default()), &inputs).await;
    let safe = &results["josé@utf8.test"];
    assert_eq!(safe.is_reachable, Reachable::Safe, "{}", safe.reason);
    assert!(safe.syntax.requires_smtputf8);
    assert_eq!(results["ann@utf8.test"].is_reachable, Reachable::Safe);
    assert!(!results["ann@utf8.test"].syntax.requires_smtputf8);
    // Asked with SMTPUTF8 on MAIL, so the server answered about the mailbox itself.
    assert_eq!(results["mütze@utf8.test"].is_reachable, Reachable::Invalid);
    assert!(
        results["mütze@utf8.test"].reason.contains("5.1.1"),
        "{}",
        results["mütze@utf8.test"].reason
    );
    // good.test's server does not offer SMTPUTF8: the address is never put to it.
    let bounced = &results["josé@good.test"];
    assert_eq!(bounced.is_reachable, Reachable::Invalid);
    assert!(bounced.reason.contains("SMTPUTF8"), "{}", bounced.reason);
    assert!(
        !w.server(2).rcpts().iter().any(|r| !r.is_ascii()),
        "{:?}",
        w.server(2).rcpts()
    );
    assert!(w.server(13).rcpts().contains(&"josé@utf8.test".to_string()));
}
