//! Bounces, complaints and mailto unsubscribes coming back through the real gateway: a
//! campaign is sent through a recording relay, then each kind of report is sent to the VERP
//! return path the relay saw, over SMTP, and the campaign's counts, the blocklist and the
//! subscribers are read back. Forged and foreign tokens are refused at RCPT; what is no bounce
//! changes nothing; a retried delivery is not counted twice; nothing of it is relayed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use etraq_core::access::Actor;
use etraq_core::campaign::{MemberStatus, Signer, Token, TokenKind};
use etraq_core::service::{App, CampaignDraft, ListSettings, SendSettings};
use etraq_core::{Config, EmailAddress, LiveConfig, Store, Tracker};
use etraq_smtp::testing::FakeUpstream;
use etraq_smtp::{Gateway, GatewayConfig, UpstreamRelay, run_campaign};
use etraq_store_sqlite::SqliteStore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

mod common;

struct World {
    app: Arc<App>,
    gateway: SocketAddr,
    sink: FakeUpstream,
    /// Recipient address → (VERP return path, Message-ID, List-Unsubscribe).
    sent: HashMap<String, (String, String, String)>,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// A gateway relaying to a recording sink, with campaign `Spring` sent to `people` through it.
async fn world(people: &[&str]) -> World {
    let mut w = World::new(people, "bounces.example.com").await;
    w.send_campaign("Spring").await;
    w
}

impl World {
    /// A gateway relaying to a recording sink and a list `News` of `people`; campaigns' return
    /// paths are at `bounce_domain`.
    async fn new(people: &[&str], bounce_domain: &str) -> World {
        let sink = FakeUpstream::start().await;
        let text = format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\ntimeout_secs = 10\n\
         [smtp]\nlisten = \"127.0.0.1:0\"\nhostname = \"etraq.example.com\"\nrelay_networks = []\n\
         [upstream]\nhost = \"127.0.0.1\"\nport = {p}\n\
         [campaigns]\nrelay = \"127.0.0.1:{p}\"\nfrom = \"News <news@example.com>\"\n\
         bounce_domain = \"{bounce_domain}\"\n\
         soft_bounce_limit = 2\nsoft_bounce_window = 3\nrate_per_second = 1000\n",
            p = sink.addr.port()
        );
        let mut config = Config::from_toml(&text, "t.toml".as_ref()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        config.base_dir = dir.path().to_path_buf();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("e.db")).await.unwrap());
        let tracker = Arc::new(Tracker::new(
            store.clone(),
            config.tracking_rules().unwrap(),
        ));
        let app = Arc::new(App::new(
            store,
            tracker.clone(),
            LiveConfig::new(config.clone()),
            dir.path().join("logs"),
        ));
        let gw = Gateway::bind(
            GatewayConfig::from_config(&config, dir.path().join("maildir")).unwrap(),
            tracker,
        )
        .await
        .unwrap()
        .with_own_mail(app.clone());
        let gateway = gw.local_addr().unwrap();
        let (stop, rx) = watch::channel(false);
        tokio::spawn(async move {
            let _ = gw.run(rx).await;
        });
        let who = Actor::admin();
        let now = jiff::Timestamp::now();
        // The campaigns' owner.
        app.add_user(
            &who,
            etraq_core::User::new(EmailAddress::parse("sales@example.com").unwrap(), "Sales"),
        )
        .await
        .unwrap();
        app.create_list(&who, "News", &ListSettings::default(), now)
            .await
            .unwrap();
        let mut csv = String::from("email,name\n");
        for p in people {
            csv.push_str(&format!("{p},Someone\n"));
        }
        app.import_csv(&who, "News", csv.as_bytes(), true, now)
            .await
            .unwrap();
        World {
            app,
            gateway,
            sink,
            sent: HashMap::new(),
            _stop: stop,
            _dir: dir,
        }
    }

    /// Creates and sends a campaign to the list through the sink, and notes its return paths.
    async fn send_campaign(&mut self, name: &str) {
        self.send_campaign_via(name, self.sink.addr.port()).await;
        self.sent.clear();
        for r in self.sink.received() {
            if r.header("X-Etraq-Campaign").as_deref() != Some(name) {
                continue;
            }
            self.sent.insert(
                r.rcpt_to[0].clone(),
                (
                    r.mail_from.clone(),
                    r.header("Message-ID").unwrap_or_default(),
                    r.header("List-Unsubscribe").unwrap_or_default(),
                ),
            );
        }
    }

    /// Creates and sends a campaign to the list through the relay at `port`.
    async fn send_campaign_via(&mut self, name: &str, port: u16) {
        let who = Actor::admin();
        self.app
            .create_campaign(
                &who,
                CampaignDraft {
                    name: name.into(),
                    lists: vec!["News".into()],
                    template: "newsletter".into(),
                    owner: Some(EmailAddress::parse("sales@example.com").unwrap()),
                    ..CampaignDraft::default()
                },
                jiff::Timestamp::now(),
            )
            .await
            .unwrap();
        let settings = SendSettings::from_config(&self.app.config());
        let relay = Arc::new(UpstreamRelay::new(
            "127.0.0.1",
            port,
            "etraq.example.com",
            2,
            Duration::from_secs(10),
        ));
        run_campaign(
            &self.app,
            name,
            relay,
            &settings,
            Arc::new(|_| {}),
            Arc::new(AtomicBool::new(false)),
        )
        .await
        .unwrap();
    }

    fn return_path(&self, rcpt: &str) -> String {
        self.sent
            .get(rcpt)
            .expect("a campaign mail went there")
            .0
            .clone()
    }

    async fn report(&self, name: &str) -> etraq_core::views::CampaignView {
        self.app
            .campaign_report(&Actor::admin(), name)
            .await
            .unwrap()
    }

    async fn blocked(&self, email: &str) -> bool {
        self.app
            .store()
            .blocked(&EmailAddress::parse(email).unwrap())
            .await
            .unwrap()
            .is_some()
    }

    async fn status(&self, email: &str) -> MemberStatus {
        let s = self
            .app
            .store()
            .get_subscriber(&EmailAddress::parse(email).unwrap())
            .await
            .unwrap()
            .unwrap();
        s.lists.values().next().unwrap().status
    }

    /// Mail the gateway relayed to the upstream that is not campaign mail.
    fn relayed(&self) -> usize {
        self.sink
            .received()
            .iter()
            .filter(|r| r.header("X-Etraq-Campaign").is_none())
            .count()
    }
}

/// One SMTP transaction from the null sender; the answers to each RCPT, and to the data when
/// a recipient was accepted.
async fn smtp(addr: SocketAddr, rcpts: &[&str], data: &str) -> (Vec<String>, Option<String>) {
    smtp_from(addr, "", rcpts, data).await
}

/// One SMTP transaction from `from`.
async fn smtp_from(
    addr: SocketAddr,
    from: &str,
    rcpts: &[&str],
    data: &str,
) -> (Vec<String>, Option<String>) {
    let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            assert!(
                r.read_line(&mut line).await.unwrap() > 0,
                "connection closed"
            );
            all.push_str(&line);
            if line.len() >= 4 && &line[3..4] == " " {
                return all;
            }
        }
    }
    reply(&mut r).await;
    w.write_all(b"EHLO mta.customer.test\r\n").await.unwrap();
    reply(&mut r).await;
    w.write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
        .await
        .unwrap();
    assert!(reply(&mut r).await.starts_with("250"));
    let mut answers = Vec::new();
    for to in rcpts {
        w.write_all(format!("RCPT TO:<{to}>\r\n").as_bytes())
            .await
            .unwrap();
        answers.push(reply(&mut r).await);
    }
    if !answers.iter().any(|a| a.starts_with("250")) {
        return (answers, None);
    }
    w.write_all(b"DATA\r\n").await.unwrap();
    assert!(reply(&mut r).await.starts_with("354"));
    let body = data.replace("\r\n", "\n").replace('\n', "\r\n");
    w.write_all(body.as_bytes()).await.unwrap();
    w.write_all(b"\r\n.\r\n").await.unwrap();
    let end = reply(&mut r).await;
    w.write_all(b"QUIT\r\n").await.unwrap();
    (answers, Some(end))
}

/// A DSN in the form of RFC 3464's examples, about `rcpt`, sent to `to`.
fn dsn(to: &str, id: &str, rcpt: &str, action: &str, status: &str, diag: &str) -> String {
    format!(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mta.customer.test>\n\
         To: {to}\n\
         Subject: Returned mail: User unknown\n\
         Message-ID: <{id}@mta.customer.test>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status;\n\
         \tboundary=\"RAA14128.773615765/CS.UTK.EDU\"\n\
         \n\
         --RAA14128.773615765/CS.UTK.EDU\n\
         \n\
         The original message was received at Sat, 4 Jul 1994 17:14:00 -0400\n\
         from localhost [127.0.0.1]\n\
         \n\
         \x20  ----- The following addresses had delivery problems -----\n\
         <{rcpt}>  (unrecoverable error)\n\
         \n\
         --RAA14128.773615765/CS.UTK.EDU\n\
         content-type: message/delivery-status\n\
         \n\
         Reporting-MTA: dns; mta.customer.test\n\
         \n\
         Final-Recipient: rfc822; {rcpt}\n\
         Action: {action}\n\
         Status: {status}\n\
         Diagnostic-Code: smtp; {diag}\n\
         \n\
         --RAA14128.773615765/CS.UTK.EDU\n\
         content-type: message/rfc822\n\
         \n\
         [original message goes here]\n\
         \n\
         --RAA14128.773615765/CS.UTK.EDU--\n"
    )
}

/// An RFC 5965 feedback report (a spam complaint) about `rcpt`'s copy.
fn arf(to: &str, id: &str, rcpt: &str, original_id: &str) -> String {
    format!(
        "From: <abuse@isp.customer.test>\n\
         To: {to}\n\
         Subject: FW: Spring news\n\
         Message-ID: <{id}@isp.customer.test>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=feedback-report;\n\
         \tboundary=\"part1_13d.2e68ed54_boundary\"\n\
         \n\
         --part1_13d.2e68ed54_boundary\n\
         Content-Type: text/plain; charset=\"US-ASCII\"\n\
         \n\
         This is an email abuse report for an email message received from IP\n\
         192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.\n\
         \n\
         --part1_13d.2e68ed54_boundary\n\
         Content-Type: message/feedback-report\n\
         \n\
         Feedback-Type: abuse\n\
         User-Agent: SomeGenerator/1.0\n\
         Version: 1\n\
         Original-Rcpt-To: <{rcpt}>\n\
         \n\
         --part1_13d.2e68ed54_boundary\n\
         Content-Type: message/rfc822\n\
         Content-Disposition: inline\n\
         \n\
         From: <news@example.com>\n\
         To: <{rcpt}>\n\
         Message-ID: {original_id}\n\
         Subject: Spring news\n\
         \n\
         Spam, spam, spam\n\
         --part1_13d.2e68ed54_boundary--\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_bounce_blocklists_and_a_retried_delivery_counts_once() {
    let w = world(&["gone@customer.test", "fine@customer.test"]).await;
    let to = w.return_path("gone@customer.test");
    // Mail systems may change the case of a local part: the token survives it.
    let to = to
        .to_ascii_uppercase()
        .replace("@BOUNCES.EXAMPLE.COM", "@bounces.example.com");
    assert!(
        to.starts_with("BOUNCE+") && to.ends_with("@bounces.example.com"),
        "{to}"
    );
    let msg = dsn(
        &to,
        "b1",
        "gone@customer.test",
        "failed",
        "5.1.1",
        "550 5.1.1 No such user",
    );
    let (rcpt, end) = smtp(w.gateway, &[&to], &msg).await;
    assert!(rcpt[0].starts_with("250"), "{rcpt:?}");
    let end = end.unwrap();
    assert!(
        end.starts_with("250") && end.contains("hard bounce"),
        "{end}"
    );
    // The same report delivered again (the MTA did not see our 250) changes nothing.
    let (_, again) = smtp(w.gateway, &[&to], &msg).await;
    assert!(again.unwrap().starts_with("250"));
    let r = w.report("Spring").await;
    assert_eq!((r.bounced_hard, r.bounced_soft), (1, 0));
    assert!(w.blocked("gone@customer.test").await);
    assert!(!w.blocked("fine@customer.test").await);
    // Recorded untracked with reason Bounce, raw kept for audit; never relayed.
    assert_eq!(w.relayed(), 0);
    let bounce = w
        .app
        .store()
        .mails_by_message_id(&etraq_core::MessageId::parse("<b1@mta.customer.test>").unwrap())
        .await
        .unwrap();
    assert_eq!(bounce.len(), 1, "recorded once");
    assert_eq!(
        bounce[0]
            .decision
            .reason()
            .map(|r| r.to_string())
            .as_deref(),
        Some("Bounce")
    );
    let raw = w
        .app
        .store()
        .raw_message(bounce[0].seq)
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("Status: 5.1.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_out_of_office_and_malformed_reports_change_nothing() {
    let w = world(&["slow@customer.test"]).await;
    let to = w.return_path("slow@customer.test");
    let delayed = dsn(
        &to,
        "d1",
        "slow@customer.test",
        "delayed",
        "4.4.7",
        "timeout",
    );
    let ooo = format!(
        "From: Slow <slow@customer.test>\nTo: {to}\nSubject: Out of office\n\
         Message-ID: <ooo1@customer.test>\nAuto-Submitted: auto-replied\n\n\
         I am away until Monday.\n"
    );
    let missing = format!(
        "From: MAILER-DAEMON@mta.customer.test\nTo: {to}\nSubject: failure\n\
         Message-ID: <m1@mta.customer.test>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\n\n\
         --x\nContent-Type: text/plain\n\nIt failed.\n--x--\n"
    );
    let huge = format!(
        "From: MAILER-DAEMON@mta.customer.test\nTo: {to}\nSubject: failure\n\
         Message-ID: <h1@mta.customer.test>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\n\n\
         --x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; a\n\n{}\n--x--\n",
        "Final-Recipient: rfc822; x@y.test\nAction: failed\nX-Junk: ".repeat(20_000)
    );
    for msg in [delayed, ooo, missing, huge] {
        let (rcpt, end) = smtp(w.gateway, &[&to], &msg).await;
        assert!(rcpt[0].starts_with("250"), "{rcpt:?}");
        let end = end.unwrap();
        assert!(end.starts_with("250"), "{end}");
    }
    let r = w.report("Spring").await;
    assert_eq!((r.bounced_hard, r.bounced_soft, r.complaints), (0, 0, 0));
    assert!(!w.blocked("slow@customer.test").await);
    assert_eq!(
        w.status("slow@customer.test").await,
        MemberStatus::Confirmed
    );
    assert_eq!(w.relayed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_unsubscribes_everywhere_and_blocklists() {
    let w = world(&["angry@customer.test", "calm@customer.test"]).await;
    let to = w.return_path("angry@customer.test");
    let original = w.sent["angry@customer.test"].1.clone();
    let (rcpt, end) = smtp(
        w.gateway,
        &[&to],
        &arf(&to, "c1", "angry@customer.test", &original),
    )
    .await;
    assert!(rcpt[0].starts_with("250"));
    assert!(end.unwrap().contains("complaint"));
    let r = w.report("Spring").await;
    assert_eq!(r.complaints, 1);
    assert!(w.blocked("angry@customer.test").await);
    assert_eq!(
        w.status("angry@customer.test").await,
        MemberStatus::Unsubscribed
    );
    assert_eq!(
        w.status("calm@customer.test").await,
        MemberStatus::Confirmed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_foreign_and_wrong_kind_tokens_are_refused_at_rcpt() {
    let w = world(&["someone@customer.test"]).await;
    let real = w.return_path("someone@customer.test");
    let token = real
        .strip_prefix("bounce+")
        .and_then(|t| t.split('@').next())
        .unwrap()
        .to_string();
    // One character changed; another installation's key; a click token in the bounce address.
    let mut forged: Vec<char> = token.chars().collect();
    forged[3] = if forged[3] == '0' { '1' } else { '0' };
    let forged: String = forged.into_iter().collect();
    let t = Token {
        kind: TokenKind::Bounce,
        campaign: 1,
        recipient: 1,
        link: 0,
    };
    let foreign = Signer::new(b"another installation's secret").address_token(&t);
    let signer = w.app.token_signer().await.unwrap();
    let click = signer.address_token(&Token {
        kind: TokenKind::Click,
        ..t
    });
    for bad in [
        format!("bounce+{forged}@bounces.example.com"),
        format!("bounce+{foreign}@bounces.example.com"),
        format!("bounce+{click}@bounces.example.com"),
        format!("unsubscribe+{token}@bounces.example.com"),
        "bounce+@bounces.example.com".to_string(),
        // The link form of a valid token: etraq compares addresses in lower case, so it
        // cannot verify.
        format!("bounce+{}@bounces.example.com", signer.sign(&t)),
    ] {
        let (rcpt, end) = smtp(w.gateway, &[&bad], "Subject: x\n\nx\n").await;
        assert!(rcpt[0].starts_with("550 5.1.1"), "{bad}: {rcpt:?}");
        assert!(end.is_none());
    }
    // A valid token for a campaign (or recipient) etraq does not have: taken, recorded,
    // nothing changes.
    for unknown in [
        Token { campaign: 999, ..t },
        Token {
            recipient: 999,
            ..t
        },
    ] {
        let addr = format!(
            "bounce+{}@bounces.example.com",
            signer.address_token(&unknown)
        );
        let id = format!("u{}", unknown.campaign + unknown.recipient);
        let msg = dsn(
            &addr,
            &id,
            "someone@customer.test",
            "failed",
            "5.1.1",
            "gone",
        );
        let (rcpt, end) = smtp(w.gateway, &[&addr], &msg).await;
        assert!(rcpt[0].starts_with("250"), "{rcpt:?}");
        assert!(end.unwrap().starts_with("250"));
    }
    assert_eq!(w.report("Spring").await.bounced_hard, 0);
    assert!(!w.blocked("someone@customer.test").await);
    assert_eq!(w.relayed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailto_unsubscribe_works_and_other_recipients_are_still_relayed() {
    let w = world(&["leaving@customer.test"]).await;
    let header = w.sent["leaving@customer.test"].2.clone();
    let mailto = header
        .split("<mailto:")
        .nth(1)
        .and_then(|s| s.split(['>', '?']).next())
        .unwrap_or_else(|| panic!("no mailto in {header:?}"))
        .to_string();
    assert!(mailto.starts_with("unsubscribe+"), "{mailto}");
    // A message to the unsubscribe address and to a person: the person still gets it.
    let msg = "From: leaving@customer.test\nTo: support@example.com\nSubject: unsubscribe\n\
               Message-ID: <unsub1@customer.test>\n\nPlease take me off.\n";
    let (rcpt, end) = smtp(w.gateway, &[&mailto, "support@example.com"], msg).await;
    assert!(rcpt.iter().all(|r| r.starts_with("250")), "{rcpt:?}");
    assert!(end.unwrap().starts_with("250"));
    assert_eq!(
        w.status("leaving@customer.test").await,
        MemberStatus::Unsubscribed
    );
    assert_eq!(w.report("Spring").await.unsubscribed, 1);
    let relayed: Vec<_> = w
        .sink
        .received()
        .into_iter()
        .filter(|r| r.header("X-Etraq-Campaign").is_none())
        .collect();
    assert_eq!(relayed.len(), 1);
    assert_eq!(relayed[0].rcpt_to, vec!["support@example.com".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_bounces_blocklist_only_at_the_limit() {
    let mut w = world(&["busy@customer.test"]).await;
    // soft_bounce_limit = 2 of the last 3 sends.
    for (n, name) in ["Spring", "Summer"].iter().enumerate() {
        if n > 0 {
            w.send_campaign(name).await;
        }
        let to = w.return_path("busy@customer.test");
        let id = format!("s{n}");
        let msg = dsn(
            &to,
            &id,
            "busy@customer.test",
            "failed",
            "4.2.2",
            "452 4.2.2 Mailbox full",
        );
        let (_, end) = smtp(w.gateway, &[&to], &msg).await;
        assert!(end.unwrap().contains("soft bounce"));
        assert_eq!(w.report(name).await.bounced_soft, 1);
        assert_eq!(
            w.blocked("busy@customer.test").await,
            n == 1,
            "after {name}"
        );
    }
}

/// Real bounces: a campaign relayed by a real Postfix, whose next hop refuses one recipient
/// for good (550 5.1.1) and finds another's mailbox full (452 4.2.2, tried once). Postfix writes
/// its own DSNs to the VERP return paths, which it delivers to etraq's gateway (its local
/// transport), and the campaign counts one hard and one soft bounce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_dsns_come_back_through_the_gateway_and_count() {
    if let Some(why) = common::unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let mut w = World::new(
        &[
            "reject-me@customer.test",
            "full-box@customer.test",
            "fine@customer.test",
        ],
        "example.com",
    )
    .await;
    let outside = FakeUpstream::start().await;
    let pf = common::Postfix::start_with(
        w.gateway,
        outside.addr,
        "maximal_queue_lifetime = 0\nbounce_queue_lifetime = 0\n",
    )
    .await;
    w.send_campaign_via("Spring", pf.addr().port()).await;
    pf.drain().await;
    let start = std::time::Instant::now();
    loop {
        let r = w.report("Spring").await;
        if (r.bounced_hard, r.bounced_soft) == (1, 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the DSNs did not count: {r:?}\n{}",
            pf.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(w.blocked("reject-me@customer.test").await);
    assert!(
        !w.blocked("full-box@customer.test").await,
        "one soft bounce"
    );
    assert!(!w.blocked("fine@customer.test").await);
    assert_eq!(outside.received().len(), 1, "fine@ got its mail");
    // Nothing of it went on to the company's mail server; Postfix's log shows its DSNs
    // delivered to the return paths.
    assert_eq!(w.relayed(), 0);
    let log = pf.log();
    assert!(log.contains("sender non-delivery notification"), "{log}");
    // Postfix's own DSNs are kept for audit, and read as RFC 3464 reports.
    let untracked = w
        .app
        .store()
        .list_mails(&etraq_core::MailQuery {
            tracked: Some(false),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for m in untracked.items {
        let raw = w.app.store().raw_message(m.seq).await.unwrap().unwrap();
        if let Ok(dir) = std::env::var("ETRAQ_SAVE_DSN") {
            std::fs::write(format!("{dir}/postfix-dsn-{}.eml", m.seq), &raw).unwrap();
        }
        if let etraq_core::campaign::Report::Dsn(blocks) = etraq_core::campaign::read_report(&raw) {
            statuses.extend(blocks.into_iter().filter_map(|b| b.status));
        }
    }
    statuses.sort();
    assert_eq!(statuses, vec!["4.2.2".to_string(), "5.1.1".to_string()]);
    assert!(log.contains("to=<bounce+"), "{log}");
}

/// Replies are leads: a customer's answer to a campaign mail, through the gateway, opens a DR
/// owned by the campaign's owner and counts once in `replies`; an automatic answer does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_campaign_mail_is_a_dr_for_the_campaign_owner() {
    let w = world(&["lead@customer.test", "away@customer.test"]).await;
    let id = w.sent["lead@customer.test"].1.clone();
    assert!(id.starts_with('<'), "{id}");
    let reply = |n: u32| {
        format!(
            "From: Lead <lead@customer.test>\nTo: News <news@example.com>\n\
             Subject: Re: Spring news\nMessage-ID: <reply{n}@customer.test>\n\
             In-Reply-To: {id}\nReferences: {id}\n\nHow much for 500 units?\n"
        )
    };
    let (rcpt, end) = smtp_from(
        w.gateway,
        "lead@customer.test",
        &["news@example.com"],
        &reply(1),
    )
    .await;
    assert!(rcpt[0].starts_with("250"), "{rcpt:?}");
    let end = end.unwrap();
    assert!(end.contains("tracked as"), "{end}");
    let mails = w
        .app
        .store()
        .mails_by_message_id(&etraq_core::MessageId::parse("<reply1@customer.test>").unwrap())
        .await
        .unwrap();
    let dr_id = mails[0].dr.clone().expect("a DR");
    let dr = w.app.store().get_dr(&dr_id).await.unwrap().unwrap();
    assert_eq!(dr.owner.as_str(), "sales@example.com");
    assert_eq!(dr.customer.as_str(), "lead@customer.test");
    assert_eq!(w.report("Spring").await.replies, 1);
    // The campaign mail joined the DR's history.
    let campaign_mail = w
        .app
        .store()
        .mails_by_message_id(&etraq_core::MessageId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(campaign_mail[0].dr.as_ref(), Some(&dr_id));
    // The DR page (and `dr show`) name the campaign.
    let (detail, _) = w.app.dr_detail(&Actor::admin(), &dr_id).await.unwrap();
    assert_eq!(detail.campaign.as_deref(), Some("Spring"));

    // The customer writes again in the same thread: the same DR, still one reply.
    let (_, end) = smtp_from(
        w.gateway,
        "lead@customer.test",
        &["news@example.com"],
        &reply(2),
    )
    .await;
    assert!(end.unwrap().contains(&dr_id.to_string()));
    // An out-of-office answer to another subscriber's copy is no reply.
    let other = w.sent["away@customer.test"].1.clone();
    let ooo = format!(
        "From: away@customer.test\nTo: news@example.com\nSubject: Auto: Spring news\n\
         Auto-Submitted: auto-replied\nMessage-ID: <ooo@customer.test>\nIn-Reply-To: {other}\n\n\
         Away.\n"
    );
    let (_, end) = smtp_from(w.gateway, "away@customer.test", &["news@example.com"], &ooo).await;
    assert!(end.unwrap().starts_with("250"));
    assert_eq!(w.report("Spring").await.replies, 1);
}

/// A DSN Exim 4.96 wrote (captured once from a real Exim refusing a campaign mail with a
/// `:fail:` redirect, kept in `tests/fixtures/exim-hard.eml`, only its addresses replaced):
/// its fields come in another order than Postfix's (`Action` before `Final-Recipient`,
/// `rfc822;addr` without a space, `Content-type`) and its status is the bare `5.0.0`. It
/// counts as a hard bounce like Postfix's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exim_dsn_comes_back_through_the_gateway_and_counts() {
    let w = world(&["ann@customer.test", "bob@customer.test"]).await;
    let to = w.return_path("ann@customer.test");
    let msg = include_str!("fixtures/exim-hard.eml").replace("VERP-ADDRESS", &to);
    let (rcpt, end) = smtp_from(w.gateway, "", &[&to], &msg).await;
    assert!(rcpt[0].starts_with("250"), "{rcpt:?}");
    let end = end.unwrap();
    assert!(
        end.starts_with("250") && end.contains("hard bounce"),
        "{end}"
    );
    let r = w.report("Spring").await;
    assert_eq!((r.bounced_hard, r.bounced_soft), (1, 0));
    assert!(w.blocked("ann@customer.test").await);
    assert!(!w.blocked("bob@customer.test").await);
    assert_eq!(w.relayed(), 0, "never relayed");
}
