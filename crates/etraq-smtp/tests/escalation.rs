//! The escalation server with a controlled clock: a real SQLite store, the real tracker, and
//! alert mail through lettre to an in-test upstream that records it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use etraq_core::model::{AlertKind, AlertMail};
use etraq_core::service::{Escalator, Notifier};
use etraq_core::store::AlertQuery;
use etraq_core::{Config, DrId, Envelope, Store, Tracker, User};
use etraq_smtp::LettreOutbound;
use etraq_smtp::testing::FakeUpstream;
use etraq_store_sqlite::SqliteStore;
use jiff::{SignedDuration, Timestamp};

const H: i64 = 3600;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn plus(ts: Timestamp, secs: i64) -> Timestamp {
    ts.checked_add(SignedDuration::from_secs(secs)).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    tracker: Tracker,
    escalator: Escalator,
    upstream: FakeUpstream,
    config: Config,
}

impl World {
    async fn new(extra: &str) -> World {
        let config = Config::from_toml(
            &format!("local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n[escalation]\nwarn_after = \"4h\"\nescalate_after = \"1d\"\nreescalate_every = \"8h\"\n{extra}"),
            "t.toml".as_ref(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("e.db")).await.unwrap());
        for (who, sup, dept) in [
            ("boss@example.com", None, None),
            ("lead@example.com", Some("boss@example.com"), None),
            (
                "agent@example.com",
                Some("lead@example.com"),
                Some("support"),
            ),
        ] {
            let mut u = User::new(who.parse().unwrap(), who);
            u.supervisor = sup.map(|s| s.parse().unwrap());
            u.department = dept.map(String::from);
            store.put_user(&u).await.unwrap();
        }
        World {
            tracker: Tracker::new(store.clone(), config.tracking_rules().unwrap()),
            escalator: Escalator::new(store.clone(), config.policies().unwrap()),
            upstream: FakeUpstream::start().await,
            _dir: dir,
            store,
            config,
        }
    }

    fn notifier_to(&self, port: u16) -> Notifier {
        let out = LettreOutbound::new(
            "127.0.0.1",
            port,
            "etraq.test",
            false,
            Duration::from_secs(3),
        )
        .unwrap();
        Notifier::new(
            self.store.clone(),
            Arc::new(out),
            "etraq@example.com".parse().unwrap(),
            "https://etraq.example.com".into(),
            "etraq.test".into(),
        )
    }

    fn notifier(&self) -> Notifier {
        self.notifier_to(self.upstream.addr.port())
    }

    async fn customer_mail(&self, id: &str, refs: Option<&str>, at: Timestamp) -> DrId {
        let refs = refs
            .map(|r| format!("In-Reply-To: <{r}>\r\n"))
            .unwrap_or_default();
        let raw = format!(
            "From: ann@customer.test\r\nTo: agent@example.com\r\nSubject: Printer on fire\r\nMessage-ID: <{id}>\r\n{refs}\r\nhelp\r\n"
        );
        self.tracker
            .track(raw.as_bytes(), &Envelope::default(), at)
            .await
            .unwrap()
            .dr
            .unwrap()
    }

    async fn reply(&self, id: &str, to: &str, at: Timestamp) {
        let raw = format!(
            "From: agent@example.com\r\nTo: ann@customer.test\r\nSubject: Re: Printer on fire\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{to}>\r\n\r\nfixed\r\n"
        );
        self.tracker
            .track(raw.as_bytes(), &Envelope::default(), at)
            .await
            .unwrap();
    }

    /// One cycle; returns (kind, recipient, level) of the alerts it raised.
    async fn cycle(&self, at: Timestamp) -> Vec<(AlertKind, String, u32)> {
        let r = self.escalator.run_cycle(at).await.unwrap();
        r.alerts
            .iter()
            .map(|a| (a.event_type, a.user.to_string(), a.level))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warns_at_warn_after_escalates_and_climbs_the_chain_then_mails() {
    let w = World::new("").await;
    let t0 = t("2026-11-25T09:00:00Z");
    let dr = w.customer_mail("c1@customer.test", None, t0).await;
    assert!(w.cycle(plus(t0, 4 * H - 60)).await.is_empty());
    assert_eq!(
        w.cycle(plus(t0, 4 * H)).await,
        vec![(AlertKind::Warning, "agent@example.com".into(), 0)]
    );
    assert!(
        w.cycle(plus(t0, 4 * H)).await.is_empty(),
        "a cycle run twice at the same now added alerts"
    );
    assert!(w.cycle(plus(t0, 23 * H)).await.is_empty());
    assert_eq!(
        w.cycle(plus(t0, 24 * H)).await,
        vec![
            (AlertKind::Escalated, "lead@example.com".into(), 1),
            (AlertKind::Escalated, "agent@example.com".into(), 1)
        ]
    );
    assert_eq!(
        w.cycle(plus(t0, 32 * H)).await,
        vec![
            (AlertKind::Escalated, "boss@example.com".into(), 2),
            (AlertKind::Escalated, "agent@example.com".into(), 2)
        ]
    );
    assert!(
        w.cycle(plus(t0, 100 * H)).await.is_empty(),
        "the chain ended at boss"
    );
    let stats = w.store.stats().await.unwrap();
    assert_eq!((stats.warned, stats.escalated), (1, 2));

    // The notifier mails all five alerts, once.
    let sent = w.notifier().run_once(plus(t0, 100 * H), 100).await.unwrap();
    assert_eq!((sent.sent, sent.failed), (5, 0));
    assert_eq!(
        w.notifier()
            .run_once(plus(t0, 101 * H), 100)
            .await
            .unwrap()
            .sent,
        0
    );
    let got = w.upstream.received();
    assert_eq!(got.len(), 5);
    let warning = got
        .iter()
        .find(|m| m.header("Subject").unwrap().contains("Warning"))
        .unwrap();
    assert_eq!(warning.rcpt_to, vec!["agent@example.com"]);
    assert_eq!(warning.header("Auto-Submitted").unwrap(), "auto-generated");
    assert_eq!(warning.header("X-Etraq-Loop").unwrap(), "etraq.test");
    assert!(
        warning
            .header("Message-ID")
            .unwrap()
            .contains(&dr.to_string()),
        "the Message-ID holds the DR id"
    );
    let body = String::from_utf8_lossy(&warning.data).replace("=\r\n", "");
    for needle in [
        dr.to_string().as_str(),
        "ann@customer.test",
        "Printer on fire",
        "4h",
        "https://etraq.example.com/dr/",
    ] {
        assert!(
            body.contains(needle),
            "the alert body lacks {needle:?}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replied_and_closed_drs_are_bypassed_and_a_follow_up_restarts_the_wait() {
    let w = World::new("").await;
    let t0 = t("2026-11-25T09:00:00Z");
    let dr = w.customer_mail("c1@customer.test", None, t0).await;
    w.reply("r1@example.com", "c1@customer.test", plus(t0, 2 * H))
        .await;
    assert!(
        w.cycle(plus(t0, 30 * H)).await.is_empty(),
        "a replied DR fired"
    );
    // The customer writes again: a new wait starts then.
    w.customer_mail("c2@customer.test", Some("r1@example.com"), plus(t0, 30 * H))
        .await;
    assert!(w.cycle(plus(t0, 33 * H)).await.is_empty());
    assert_eq!(
        w.cycle(plus(t0, 34 * H)).await,
        vec![(AlertKind::Warning, "agent@example.com".into(), 0)]
    );
    w.tracker.close_dr(&dr, plus(t0, 35 * H)).await.unwrap();
    assert!(
        w.cycle(plus(t0, 80 * H)).await.is_empty(),
        "a closed DR fired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_hours_across_a_weekend_a_holiday_and_dst() {
    let w = World::new("[escalation.business_hours]\nweekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nstart = \"09:00\"\nend = \"17:00\"\ntimezone = \"Europe/Berlin\"\nholidays = [\"2026-10-26\"]\n").await;
    // Friday 23 Oct 2026, 15:00 Berlin (13:00Z). Berlin leaves DST on Sunday 25 Oct; Monday 26
    // is a holiday here. 4 business hours: 2 on Friday, then Tuesday 27 Oct 09:00–11:00 local
    // (08:00–10:00Z, now UTC+1).
    let t0 = t("2026-10-23T13:00:00Z");
    w.customer_mail("c1@customer.test", None, t0).await;
    assert!(
        w.cycle(t("2026-10-26T15:00:00Z")).await.is_empty(),
        "the weekend or the holiday counted"
    );
    assert!(w.cycle(t("2026-10-27T09:59:00Z")).await.is_empty());
    assert_eq!(
        w.cycle(t("2026-10-27T10:00:00Z")).await,
        vec![(AlertKind::Warning, "agent@example.com".into(), 0)]
    );
    let alerts = w
        .store
        .list_alerts(&AlertQuery::default())
        .await
        .unwrap()
        .items;
    assert_eq!(
        alerts[0].waited_secs,
        4 * H,
        "waiting is counted in business time"
    );
    assert!(w.config.escalation.business_hours.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_storing_and_mailing_sends_exactly_one_mail() {
    let w = World::new("").await;
    let t0 = t("2026-11-25T09:00:00Z");
    w.customer_mail("c1@customer.test", None, t0).await;
    assert_eq!(w.cycle(plus(t0, 5 * H)).await.len(), 1);
    // The process dies here: the alert is stored, nothing was mailed. After the restart a new
    // notifier finds it in the outbox.
    assert!(w.upstream.received().is_empty());
    let restarted = w.notifier();
    assert_eq!(
        restarted.run_once(plus(t0, 6 * H), 100).await.unwrap().sent,
        1
    );
    assert_eq!(
        restarted.run_once(plus(t0, 7 * H), 100).await.unwrap().sent,
        0
    );
    assert_eq!(
        w.notifier()
            .run_once(plus(t0, 8 * H), 100)
            .await
            .unwrap()
            .sent,
        0
    );
    assert_eq!(w.upstream.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_means_retries_and_the_alert_stays() {
    let w = World::new("").await;
    let t0 = t("2026-11-25T09:00:00Z");
    w.customer_mail("c1@customer.test", None, t0).await;
    w.cycle(plus(t0, 5 * H)).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = w.notifier_to(dead);
    let r = down.run_once(plus(t0, 5 * H), 100).await.unwrap();
    assert_eq!((r.sent, r.failed), (0, 1));
    let a = &w
        .store
        .list_alerts(&AlertQuery::default())
        .await
        .unwrap()
        .items[0];
    let AlertMail::Pending {
        attempts,
        next_attempt_at,
        last_error,
    } = &a.mail
    else {
        panic!("the alert left the outbox: {:?}", a.mail);
    };
    assert_eq!(*attempts, 1);
    assert!(*next_attempt_at > plus(t0, 5 * H) && last_error.is_some());
    // Not before the backoff; then the upstream is back and it goes out.
    assert_eq!(down.run_once(plus(t0, 5 * H), 100).await.unwrap().failed, 0);
    let second = down.run_once(plus(t0, 6 * H), 100).await.unwrap();
    assert_eq!(second.failed, 1);
    assert_eq!(
        w.notifier()
            .run_once(plus(t0, 8 * H), 100)
            .await
            .unwrap()
            .sent,
        1
    );
    assert_eq!(w.upstream.received().len(), 1);
    let a = &w
        .store
        .list_alerts(&AlertQuery::default())
        .await
        .unwrap()
        .items[0];
    assert!(
        matches!(a.mail, AlertMail::Sent { attempts: 3, .. }),
        "{:?}",
        a.mail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_alert_mail_off_gets_the_alert_but_no_mail() {
    let w = World::new("").await;
    let mut u = w
        .store
        .get_user(&"agent@example.com".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    u.alerts = false;
    w.store.put_user(&u).await.unwrap();
    let t0 = t("2026-11-25T09:00:00Z");
    w.customer_mail("c1@customer.test", None, t0).await;
    assert_eq!(w.cycle(plus(t0, 5 * H)).await.len(), 1);
    assert_eq!(
        w.notifier()
            .run_once(plus(t0, 6 * H), 100)
            .await
            .unwrap()
            .sent,
        0
    );
    assert!(w.upstream.received().is_empty());
    assert!(matches!(
        w.store
            .list_alerts(&AlertQuery::default())
            .await
            .unwrap()
            .items[0]
            .mail,
        AlertMail::Disabled
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_loop_is_reported_and_not_followed() {
    let w = World::new("").await;
    let mut boss = w
        .store
        .get_user(&"boss@example.com".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    boss.supervisor = Some("agent@example.com".parse().unwrap());
    w.store.put_user(&boss).await.unwrap();
    let t0 = t("2026-11-25T09:00:00Z");
    w.customer_mail("c1@customer.test", None, t0).await;
    let r = w.escalator.run_cycle(plus(t0, 100 * H)).await.unwrap();
    assert!(
        r.record
            .decisions
            .iter()
            .any(|d| d.action == etraq_core::model::CycleAction::Problem
                && d.detail.contains("supervisor loop")),
        "{:?}",
        r.record.decisions
    );
    assert_eq!(r.record.escalated, 1);
}
