//! The gateway on real sockets on 127.0.0.1, with a real SQLite store and an in-test upstream:
//! clients are lettre, raw TCP scripts and swaks.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use etraq_core::store::MailQuery;
use etraq_core::{Config, Store, Tracker};
use etraq_smtp::testing::{Behavior, FakeUpstream};
use etraq_smtp::{Gateway, GatewayConfig};
use etraq_store_sqlite::SqliteStore;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

struct Harness {
    addr: SocketAddr,
    store: Arc<dyn Store>,
    upstream: FakeUpstream,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn base_config(upstream: SocketAddr) -> Config {
    let text = format!(
        "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\ntimeout_secs = 2\n\
         [smtp]\nlisten = \"127.0.0.1:0\"\nhostname = \"gw.test\"\nmax_message_bytes = 100000\nmax_recipients = 3\n\
         command_timeout = \"3s\"\ndata_timeout = \"3s\"\nshutdown_grace = \"5s\"\n\
         [upstream]\nhost = \"127.0.0.1\"\nport = {}\ndata_timeout = \"2s\"\n",
        upstream.port()
    );
    Config::from_toml(&text, "test.toml".as_ref()).unwrap()
}

impl Harness {
    async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut Config)) -> Harness {
        let upstream = FakeUpstream::start().await;
        let mut config = base_config(upstream.addr);
        tweak(&mut config);
        let dir = tempfile::tempdir().unwrap();
        config.base_dir = dir.path().to_path_buf();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("e.db")).await.unwrap());
        let tracker = Arc::new(Tracker::new(
            store.clone(),
            config.tracking_rules().unwrap(),
        ));
        let gw_cfg = GatewayConfig::from_config(&config, dir.path().join("maildir")).unwrap();
        let gateway = Gateway::bind(gw_cfg, tracker).await.unwrap();
        let addr = gateway.local_addr().unwrap();
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            gateway.run(rx).await.unwrap();
        });
        Harness {
            addr,
            store,
            upstream,
            shutdown,
            task,
            _dir: dir,
        }
    }

    async fn drs(&self) -> usize {
        self.store
            .list_drs(&Default::default())
            .await
            .unwrap()
            .items
            .len()
    }

    async fn mails(&self) -> usize {
        self.store
            .list_mails(&MailQuery::default())
            .await
            .unwrap()
            .items
            .len()
    }
}

/// A raw SMTP client: reads the greeting, sends `script` (plus QUIT) in one write, then reads
/// until the 221 or until the server closes.
async fn raw(addr: SocketAddr, script: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut got = String::new();
    let mut buf = vec![0u8; 65536];
    read_finals(&mut s, &mut got, &mut buf, 1).await;
    s.write_all(script).await.unwrap();
    s.write_all(b"QUIT\r\n").await.unwrap();
    while !got.lines().any(|l| l.starts_with("221 ")) {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    got
}

/// The first reply code that is not 2xx or 3xx.
fn first_failure(out: &str) -> Option<u16> {
    codes(out).into_iter().find(|c| *c >= 400)
}

async fn read_finals(s: &mut TcpStream, got: &mut String, buf: &mut [u8], finals: usize) {
    let count = |g: &str| {
        g.lines()
            .filter(|l| l.len() >= 4 && &l[3..4] == " ")
            .count()
    };
    while count(got) < finals {
        match tokio::time::timeout(Duration::from_secs(10), s.read(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
}

fn codes(out: &str) -> Vec<u16> {
    out.lines()
        .filter(|l| l.len() >= 4 && &l[3..4] == " ")
        .filter_map(|l| l[..3].parse().ok())
        .collect()
}

fn mail(from: &str, to: &str, subject: &str, id: &str) -> Message {
    Message::builder()
        .from(from.parse::<Mailbox>().unwrap())
        .to(to.parse::<Mailbox>().unwrap())
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .body(String::from("Hello,\nplease help.\n"))
        .unwrap()
}

fn lettre_client(addr: SocketAddr) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_mail_arrives_upstream_with_tag_and_header_and_is_stored() {
    let h = Harness::start().await;
    let resp = lettre_client(h.addr)
        .send(mail(
            "Ann <ann@customer.test>",
            "support@example.com",
            "Printer on fire",
            "c1@customer.test",
        ))
        .await
        .unwrap();
    assert_eq!(resp.code().to_string(), "250");
    let got = h.upstream.received();
    assert_eq!(got.len(), 1);
    let dr = got[0]
        .header("X-Etraq-DR")
        .expect("no X-Etraq-DR header upstream");
    assert!(dr.starts_with("SUPP-"), "{dr}");
    assert_eq!(
        got[0].header("Subject").unwrap(),
        format!("[{dr}] Printer on fire")
    );
    assert_eq!(got[0].rcpt_to, vec!["support@example.com"]);
    let stored = h
        .store
        .get_dr(&dr.parse().unwrap())
        .await
        .unwrap()
        .expect("the DR is not in the store");
    assert_eq!(stored.customer.as_str(), "ann@customer.test");
    assert!(
        h.store.list_pending().await.unwrap().is_empty(),
        "the journal entry was not cleared"
    );
    // The employee's reply threads to it and keeps a single tag.
    let reply = mail(
        "support@example.com",
        "ann@customer.test",
        &format!("Re: [{dr}] Printer on fire"),
        "r1@example.com",
    );
    lettre_client(h.addr).send(reply).await.unwrap();
    let got = h.upstream.received();
    assert_eq!(
        got[1].header("Subject").unwrap(),
        format!("Re: [{dr}] Printer on fire")
    );
    assert_eq!(got[1].header("X-Etraq-DR").unwrap(), dr);
    assert_eq!(
        h.store
            .get_dr(&dr.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "replied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_reach_the_client_and_leave_no_dr() {
    let cases: Vec<(Behavior, u16)> = vec![
        (Behavior::RejectMail("451 4.3.0 Busy".into()), 4),
        (Behavior::RejectMail("550 5.7.1 Not from you".into()), 5),
        (Behavior::RejectRcpt("450 4.2.0 Later".into()), 4),
        (Behavior::RejectRcpt("550 5.1.1 Unknown".into()), 5),
        (Behavior::RejectData("554 5.6.0 Content refused".into()), 5),
        (Behavior::RejectData("452 4.3.1 Disk full".into()), 4),
        (Behavior::DropAtDataEnd, 4),
        (Behavior::StallAtDataEnd, 4),
        (Behavior::RefuseConnection, 4),
    ];
    for (behavior, class) in cases {
        let h = Harness::start_with(|c| {
            if let Some(u) = c.upstream.as_mut() {
                u.helo = "etraq.test".into();
            }
        })
        .await;
        h.upstream.set(behavior.clone());
        let out = raw(
            h.addr,
            b"EHLO c.test\r\nMAIL FROM:<ann@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nSubject: x\r\nMessage-ID: <f@customer.test>\r\n\r\nhi\r\n.\r\n")
        .await;
        let failure =
            first_failure(&out).unwrap_or_else(|| panic!("{behavior:?}: no failure: {out}"));
        assert_eq!(failure / 100, class, "{behavior:?}: {out}");
        assert!(h.upstream.received().is_empty(), "{behavior:?}");
        assert_eq!(h.drs().await, 0, "{behavior:?} left a DR");
        assert_eq!(h.mails().await, 0, "{behavior:?} left a mail record");
        assert!(
            h.store.list_pending().await.unwrap().is_empty(),
            "{behavior:?} left a journal entry"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_a_temporary_failure() {
    let h = Harness::start_with(|c| {
        // A port nothing listens on.
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if let Some(u) = c.upstream.as_mut() {
            u.port = free;
        }
    })
    .await;
    let out = raw(h.addr, b"EHLO c\r\nMAIL FROM:<a@customer.test>\r\n").await;
    assert!(out.contains("451 4.4.1"), "{out}");
    assert_eq!(h.mails().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_relay_is_refused_and_each_recipient_gets_the_upstream_verdict() {
    let h = Harness::start_with(|c| c.smtp.relay_networks.clear()).await;
    let out = raw(
        h.addr,
        b"EHLO c\r\nMAIL FROM:<spammer@evil.test>\r\nRCPT TO:<victim@elsewhere.test>\r\nRCPT TO:<reject-me@example.com>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\nQUIT\r\n")
    .await;
    assert_eq!(
        codes(&out),
        vec![220, 250, 250, 550, 550, 250, 354, 250, 221],
        "{out}"
    );
    assert!(out.contains("550 5.7.1 Relaying denied"), "{out}");
    assert!(
        out.contains("550 5.1.1 No such user"),
        "the upstream's own verdict: {out}"
    );
    let got = h.upstream.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["support@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_networks_may_send_anywhere() {
    let h = Harness::start().await; // 127.0.0.0/8 is in the default relay_networks
    let out = raw(
        h.addr,
        b"EHLO c\r\nMAIL FROM:<support@example.com>\r\nRCPT TO:<ann@customer.test>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\n")
    .await;
    assert_eq!(
        codes(&out),
        vec![220, 250, 250, 250, 354, 250, 221],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_smuggling_is_one_message() {
    let h = Harness::start().await;
    let out = raw(
        h.addr,
        b"EHLO c\r\nMAIL FROM:<ann@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nSubject: s\r\n\r\nhi\n.\nMAIL FROM:<evil@customer.test>\nRCPT TO:<bob@example.com>\nDATA\nSubject: smuggled\n\nx\r.\rRSET\r\n.\r\nQUIT\r\n")
    .await;
    assert_eq!(
        codes(&out),
        vec![220, 250, 250, 250, 354, 250, 221],
        "{out}"
    );
    let got = h.upstream.received();
    assert_eq!(got.len(), 1, "a smuggled message got through");
    let body = String::from_utf8_lossy(&got[0].data);
    assert!(
        body.contains("evil@customer.test") && body.contains("smuggled"),
        "{body}"
    );
    assert_eq!(got[0].rcpt_to, vec!["support@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_size_recipients_and_idle_timeout() {
    let h = Harness::start().await;
    let mut big =
        b"EHLO c\r\nMAIL FROM:<a@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n"
            .to_vec();
    big.extend(std::iter::repeat_n(b'x', 200_000));
    big.extend_from_slice(b"\r\n.\r\n");
    let out = raw(h.addr, &big).await;
    assert!(out.contains("552 5.3.4"), "{out}");
    assert!(
        out.contains("221"),
        "the session survives an oversize message: {out}"
    );
    assert!(h.upstream.received().is_empty());

    let out = raw(
        h.addr,
        b"EHLO c\r\nMAIL FROM:<a@customer.test>\r\nRCPT TO:<a1@example.com>\r\nRCPT TO:<a2@example.com>\r\nRCPT TO:<a3@example.com>\r\nRCPT TO:<a4@example.com>\r\n")
    .await;
    assert!(out.contains("452 4.5.3"), "{out}");

    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 1024];
    let start = std::time::Instant::now();
    read_finals(&mut s, &mut got, &mut buf, 2).await;
    assert!(
        got.contains("421 4.4.2"),
        "idle client not timed out: {got}"
    );
    assert!(start.elapsed() < Duration::from_secs(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_get_421() {
    let h = Harness::start_with(|c| c.smtp.max_connections = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        let mut g = String::new();
        let mut b = [0u8; 512];
        read_finals(&mut s, &mut g, &mut b, 1).await;
        assert!(g.starts_with("220"), "{g}");
        held.push(s);
    }
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let mut g = String::new();
    let mut b = [0u8; 512];
    read_finals(&mut s, &mut g, &mut b, 1).await;
    assert!(g.starts_with("421 4.3.2"), "{g}");
}

/// A gateway with STARTTLS, using a certificate for "localhost" generated with rcgen.
async fn tls_harness() -> (
    Harness,
    rcgen::CertifiedKey<rcgen::KeyPair>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let h = Harness::start_with(|cfg| {
        cfg.smtp.tls_cert = Some(c);
        cfg.smtp.tls_key = Some(k);
    })
    .await;
    (h, ck, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_a_generated_certificate() {
    let (h, ck, _dir) = tls_harness().await;
    let cert_pem = ck.cert.pem();
    let tls = TlsParameters::builder("localhost".into())
        .add_root_certificate(Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build_rustls()
        .unwrap();
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(h.addr.port())
        .tls(Tls::Required(tls))
        .timeout(Some(Duration::from_secs(10)))
        .build();
    client
        .send(mail(
            "ann@customer.test",
            "support@example.com",
            "over TLS",
            "tls1@customer.test",
        ))
        .await
        .unwrap();
    assert_eq!(h.upstream.message_ids(), vec!["tls1@customer.test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_mail_still_relays_and_is_classified() {
    let h = Harness::start().await;
    let out = raw(
        h.addr,
        b"EHLO c\r\nMAIL FROM:<ann@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nFrom: <<<@@@\r\nSubject: =?broken\r\n\x00\xff garbage without a blank line\r\n.\r\n")
    .await;
    assert_eq!(
        codes(&out),
        vec![220, 250, 250, 250, 354, 250, 221],
        "{out}"
    );
    assert_eq!(h.upstream.received().len(), 1);
    assert_eq!(h.mails().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_a_message_in_flight() {
    let h = Harness::start().await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    read_finals(&mut s, &mut got, &mut buf, 1).await;
    s.write_all(b"EHLO c\r\nMAIL FROM:<ann@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nSubject: late\r\n\r\nhalf ")
        .await
        .unwrap();
    read_finals(&mut s, &mut got, &mut buf, 5).await;
    assert!(got.contains("354"), "{got}");
    // An idle second client is told to go away at shutdown.
    let mut idle = TcpStream::connect(h.addr).await.unwrap();
    let mut idle_got = String::new();
    read_finals(&mut idle, &mut idle_got, &mut buf, 1).await;
    h.shutdown.send(true).unwrap();
    read_finals(&mut idle, &mut idle_got, &mut buf, 2).await;
    assert!(idle_got.contains("421 4.3.2"), "{idle_got}");
    // The message in flight completes.
    s.write_all(b"and the rest\r\n.\r\nQUIT\r\n").await.unwrap();
    read_finals(&mut s, &mut got, &mut buf, 7).await;
    assert_eq!(codes(&got)[5], 250, "{got}");
    tokio::time::timeout(Duration::from_secs(10), h.task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(h.addr).await.is_err(),
        "still accepting after shutdown"
    );
    assert_eq!(h.upstream.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_delivers_through_the_gateway() {
    if std::process::Command::new("swaks")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: swaks is not installed here (.ci/run installs it)");
        return;
    }
    let h = Harness::start().await;
    let addr = h.addr;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("swaks")
            .args([
                "--server",
                &addr.to_string(),
                "--from",
                "ann@customer.test",
                "--to",
                "support@example.com",
            ])
            .args(["--header", "Subject: via swaks", "--pipeline"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("250 2.0.0 Queued as fake [etraq: tracked as SUPP-"),
        "{text}"
    );
    assert_eq!(h.upstream.received().len(), 1);
    assert_eq!(h.drs().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_pipelined_after_starttls_are_discarded() {
    use rustls_pki_types::ServerName;
    let (h, ck, _dir) = tls_harness().await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let mut got = String::new();
    let mut buf = vec![0u8; 8192];
    read_finals(&mut s, &mut got, &mut buf, 1).await;
    s.write_all(b"EHLO c\r\n").await.unwrap();
    read_finals(&mut s, &mut got, &mut buf, 2).await;
    // The injected MAIL arrives in the same packet as STARTTLS.
    s.write_all(b"STARTTLS\r\nMAIL FROM:<injected@customer.test>\r\n")
        .await
        .unwrap();
    read_finals(&mut s, &mut got, &mut buf, 3).await;
    assert!(got.contains("220 2.0.0 Ready to start TLS"), "{got}");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), s)
        .await
        .unwrap();
    tls.write_all(b"EHLO c\r\nRCPT TO:<support@example.com>\r\nQUIT\r\n")
        .await
        .unwrap();
    let mut after = String::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        after.push_str(&String::from_utf8_lossy(&buf[..n]));
        if after.contains("221 ") {
            break;
        }
    }
    assert!(
        after.contains("503 5.5.1 Need MAIL command first"),
        "the MAIL injected before the handshake was used: {after}"
    );
    assert!(
        !after.contains("250-STARTTLS"),
        "STARTTLS offered again inside TLS: {after}"
    );
}

// ---- Hardening: every attack of the black-box review, performed on a real socket. ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_routing_from_strangers_is_refused_and_paths_go_upstream_as_written() {
    let h = Harness::start_with(|c| c.smtp.relay_networks.clear()).await;
    for routed in [
        "victim%other.com@example.com",
        "other.com!victim@example.com",
        "\"victim@other.com\"@example.com",
        "@relay.test:victim@example.com",
    ] {
        let script = format!(
            "EHLO c\r\nMAIL FROM:<spammer@evil.test>\r\nRCPT TO:<{routed}>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\n"
        );
        let out = raw(h.addr, script.as_bytes()).await;
        assert!(
            out.contains("550 5.7.1 Sender-specified routing"),
            "{routed}: {out}"
        );
        assert!(
            out.contains("554 5.5.1 No valid recipients"),
            "{routed}: {out}"
        );
    }
    assert!(
        h.upstream.received().is_empty(),
        "a routed address was relayed"
    );
    // An honest quoted local part goes upstream exactly as written, and so does the case of
    // the sender's address.
    let out = raw(
        h.addr,
        b"EHLO c\r\nMAIL FROM:<Ann.Smith@Customer.test>\r\nRCPT TO:<\"Support Desk\"@example.com>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\n",
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    let got = h.upstream.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].commands,
        vec![
            "MAIL FROM:<Ann.Smith@Customer.test>",
            "RCPT TO:<\"Support Desk\"@example.com>"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_mail_carries_a_received_trace_field() {
    let h = Harness::start().await;
    let out = raw(
        h.addr,
        b"EHLO client.test\r\nMAIL FROM:<ann@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nSubject: s\r\nMessage-ID: <trace@customer.test>\r\n\r\nx\r\n.\r\n",
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    let got = h.upstream.received();
    let data = String::from_utf8_lossy(&got[0].data);
    assert!(
        data.starts_with(
            "Received: from client.test ([127.0.0.1])\r\n\tby gw.test (etraq) with ESMTP id "
        ),
        "{data}"
    );
    let received = got[0].header("Received").unwrap();
    assert!(
        received.contains("for <support@example.com>;"),
        "{received}"
    );
    // The date parses as RFC 5322.
    let date = received.rsplit(';').next().unwrap().trim();
    assert!(jiff::fmt::rfc2822::parse(date).is_ok(), "{date}");
    // A hostile HELO name cannot add header lines.
    let out = raw(
        h.addr,
        b"HELO evil(x);\x01\r\nMAIL FROM:<ann@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\n",
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    let data = String::from_utf8_lossy(&h.upstream.received()[1].data).to_string();
    assert!(
        data.starts_with(
            "Received: from evilx ([127.0.0.1])\r\n\tby gw.test (etraq) with SMTP id "
        ),
        "{data}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtputf8_is_required_for_utf8_addresses_and_passed_on_when_used() {
    let h = Harness::start().await;
    let out = raw(
        h.addr,
        "EHLO c\r\nMAIL FROM:<ann@customer.test>\r\nRCPT TO:<jos\u{e9}@example.com>\r\n".as_bytes(),
    )
    .await;
    assert!(out.contains("553 5.6.7"), "{out}");
    let out = raw(
        h.addr,
        "EHLO c\r\nMAIL FROM:<ann@customer.test> SMTPUTF8\r\nRCPT TO:<jos\u{e9}@example.com>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\n".as_bytes(),
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    let got = h.upstream.received();
    assert_eq!(
        got[0].commands,
        vec![
            "MAIL FROM:<ann@customer.test> SMTPUTF8",
            "RCPT TO:<jos\u{e9}@example.com>"
        ]
    );
    assert!(String::from_utf8_lossy(&got[0].data).contains("with UTF8SMTP id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_header_lines_and_sections_are_refused() {
    let h = Harness::start_with(|c| c.smtp.max_message_bytes = 20_000_000).await;
    // A 10 MB header line.
    let mut big =
        b"EHLO c\r\nMAIL FROM:<a@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nTo: "
            .to_vec();
    big.extend(std::iter::repeat_n(b'x', 10_000_000));
    big.extend_from_slice(b"\r\n\r\nbody\r\n.\r\n");
    let out = raw(h.addr, &big).await;
    assert!(
        out.contains("552 5.3.4 Message header line exceeds"),
        "{out}"
    );
    assert!(out.contains("221"), "the session survives: {out}");
    // 400,000 addresses in one To: header, folded into short lines.
    let mut many =
        b"EHLO c\r\nMAIL FROM:<a@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nTo: "
            .to_vec();
    for i in 0..400_000 {
        many.extend_from_slice(format!("u{i}@customer.test,\r\n ").as_bytes());
    }
    many.extend_from_slice(b"last@customer.test\r\n\r\nbody\r\n.\r\n");
    let out = raw(h.addr, &many).await;
    assert!(
        out.contains("552 5.3.4 Message header section exceeds"),
        "{out}"
    );
    assert!(h.upstream.received().is_empty());
    assert_eq!(h.mails().await, 0);
}

/// Sends `bytes` one at a time with `gap` between them until the server closes; returns what
/// it answered, how many bytes went out and how long the connection lived.
async fn drip(addr: SocketAddr, bytes: &[u8], gap: Duration) -> (String, usize, Duration) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let start = std::time::Instant::now();
    let mut got = String::new();
    let mut buf = vec![0u8; 4096];
    read_finals(&mut s, &mut got, &mut buf, 1).await;
    let mut sent = 0;
    for b in bytes.iter().cycle() {
        if s.write_all(std::slice::from_ref(b)).await.is_err() {
            break;
        }
        sent += 1;
        match tokio::time::timeout(gap, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                got.push_str(&String::from_utf8_lossy(&buf[..n]));
                if got.contains("421 ") {
                    break;
                }
            }
            Err(_) => {}
        }
        if start.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    (got, sent, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_cut_at_its_command_deadline() {
    // command_timeout is 3 s; one byte every 0.5 s resets no idle timer.
    let h = Harness::start().await;
    let (got, sent, lived) = drip(
        h.addr,
        b"NOOP and more and more\r\n",
        Duration::from_millis(500),
    )
    .await;
    assert!(got.contains("421 4.4.2 Timeout"), "{got}");
    assert!(
        sent < 12,
        "{sent} bytes were taken within a 3 s command deadline"
    );
    assert!(lived < Duration::from_secs(8), "lived {lived:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_at_its_deadline_however_busy_it_keeps() {
    let h = Harness::start_with(|c| c.smtp.session_timeout = "2s".parse().unwrap()).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let start = std::time::Instant::now();
    let mut got = String::new();
    let mut buf = vec![0u8; 4096];
    read_finals(&mut s, &mut got, &mut buf, 1).await;
    let mut noops = 0;
    while start.elapsed() < Duration::from_secs(20) {
        if s.write_all(b"NOOP\r\n").await.is_err() {
            break;
        }
        noops += 1;
        read_finals(&mut s, &mut got, &mut buf, 1 + noops).await;
        if got.contains("421 ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(got.contains("421 4.4.2 Session time limit"), "{got}");
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_slot() {
    let h = Harness::start_with(|c| {
        c.smtp.relay_networks.clear();
        c.smtp.max_connections_per_ip = 3;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        let (mut g, mut b) = (String::new(), [0u8; 512]);
        read_finals(&mut s, &mut g, &mut b, 1).await;
        assert!(g.starts_with("220"), "{g}");
        held.push(s);
    }
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let (mut g, mut b) = (String::new(), [0u8; 512]);
    read_finals(&mut s, &mut g, &mut b, 1).await;
    assert!(
        g.starts_with("421 4.7.0 Too many connections from your address"),
        "{g}"
    );
    // A slot given back is free again.
    drop(held.pop());
    let mut ok = false;
    for _ in 0..50 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        let (mut g, mut b) = (String::new(), [0u8; 512]);
        read_finals(&mut s, &mut g, &mut b, 1).await;
        if g.starts_with("220") {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the freed slot was not given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_in_relay_networks_are_not_limited_per_address() {
    let h = Harness::start_with(|c| c.smtp.max_connections_per_ip = 1).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        let (mut g, mut b) = (String::new(), [0u8; 512]);
        read_finals(&mut s, &mut g, &mut b, 1).await;
        assert!(g.starts_with("220"), "{g}");
        held.push(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_timeout_after_the_data_is_said_to_be_one() {
    let h = Harness::start().await;
    h.upstream.set(Behavior::StallAtDataEnd);
    let out = raw(
        h.addr,
        b"EHLO c\r\nMAIL FROM:<ann@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
    )
    .await;
    assert!(
        out.contains("451 4.4.2 Upstream mail server timed out after the message data"),
        "{out}"
    );
    assert_eq!(h.mails().await, 0);
}

/// One complete mail in a raw script.
fn one_mail(from: &str, to: &str, id: &str) -> String {
    format!(
        "EHLO c.test\r\nMAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n\
         From: {from}\r\nTo: {to}\r\nSubject: s {id}\r\nMessage-ID: <{id}>\r\n\r\nhi\r\n.\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_sessions_are_kept_between_clients_and_never_mix_envelopes() {
    let h = Harness::start().await;
    // Client 1 delivers; client 2 starts a transaction and leaves in the middle of it.
    let out = raw(
        h.addr,
        one_mail("ann@cust.test", "support@example.com", "k1@cust.test").as_bytes(),
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    let out = raw(
        h.addr,
        b"EHLO c.test\r\nMAIL FROM:<eve@cust.test>\r\nRCPT TO:<sales@example.com>\r\n",
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    // Client 3 gets the kept session: the abandoned envelope was reset, so the upstream (which
    // refuses a nested MAIL, like a real server) sees client 3's transaction alone.
    let out = raw(
        h.addr,
        one_mail("bob@cust.test", "help@example.com", "k3@cust.test").as_bytes(),
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    let got = h.upstream.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].mail_from, "bob@cust.test");
    assert_eq!(got[1].rcpt_to, ["help@example.com"]);
    assert!(
        got[1]
            .commands
            .iter()
            .all(|c| !c.contains("eve") && !c.contains("sales")),
        "{:?}",
        got[1].commands
    );
    assert_eq!(
        h.upstream.connections(),
        1,
        "three clients, one upstream session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_pipelined_by_the_client_goes_upstream_with_the_recipient() {
    let h = Harness::start().await;
    // A client that pipelines (every test script here is one write): the upstream gets DATA in
    // the write of the last RCPT, with no round trip of its own.
    let out = raw(
        h.addr,
        b"EHLO c.test\r\nMAIL FROM:<ann@cust.test>\r\nRCPT TO:<support@example.com>\r\nRCPT TO:<reject-x@example.com>\r\nDATA\r\nSubject: s\r\nMessage-ID: <dp1@cust.test>\r\n\r\nhi\r\n.\r\n",
    )
    .await;
    assert_eq!(
        codes(&out),
        vec![220, 250, 250, 250, 550, 354, 250, 221],
        "{out}"
    );
    let got = h.upstream.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].rcpt_to, ["support@example.com"]);
    assert!(got[0].data_pipelined, "DATA waited for the RCPT's answer");
    // A client that waits for each answer: DATA is not guessed, it goes when the client sends it.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let (mut got_text, mut buf) = (String::new(), vec![0u8; 4096]);
    read_finals(&mut s, &mut got_text, &mut buf, 1).await;
    for (i, line) in [
        "EHLO c.test\r\n",
        "MAIL FROM:<ann@cust.test>\r\n",
        "RCPT TO:<support@example.com>\r\n",
        "DATA\r\n",
        "Subject: s\r\nMessage-ID: <dp2@cust.test>\r\n\r\nhi\r\n.\r\n",
    ]
    .iter()
    .enumerate()
    {
        s.write_all(line.as_bytes()).await.unwrap();
        read_finals(&mut s, &mut got_text, &mut buf, i + 2).await;
    }
    assert_eq!(
        codes(&got_text),
        vec![220, 250, 250, 250, 354, 250],
        "{got_text}"
    );
    let got = h.upstream.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        !got[1].data_pipelined,
        "DATA was sent before the client asked for it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_upstream_was_asked_for_but_never_got_closes_its_session() {
    // DATA went upstream with the recipient; the client then hangs up instead of sending its
    // message. The upstream session waits for a message, so it is closed, never kept: the next
    // client's commands would otherwise be read as message text.
    let h = Harness::start().await;
    let out = raw(
        h.addr,
        one_mail("ann@cust.test", "support@example.com", "q1@cust.test").as_bytes(),
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let (mut got, mut buf) = (String::new(), vec![0u8; 4096]);
    read_finals(&mut s, &mut got, &mut buf, 1).await;
    s.write_all(
        b"EHLO c.test\r\nMAIL FROM:<eve@cust.test>\r\nRCPT TO:<sales@example.com>\r\nDATA\r\n",
    )
    .await
    .unwrap();
    read_finals(&mut s, &mut got, &mut buf, 5).await;
    assert_eq!(codes(&got), vec![220, 250, 250, 250, 354], "{got}");
    drop(s);
    // Let the gateway see the hang-up (the assertions hold either way; this gives a session
    // wrongly kept the chance to be reused).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = raw(
        h.addr,
        one_mail("bob@cust.test", "help@example.com", "q3@cust.test").as_bytes(),
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    let got = h.upstream.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].mail_from, "bob@cust.test");
    assert_eq!(got[1].rcpt_to, ["help@example.com"]);
    assert!(
        !String::from_utf8_lossy(&got[1].data).contains("MAIL FROM"),
        "{got:?}"
    );
    assert_eq!(
        h.upstream.connections(),
        2,
        "the session left waiting for a message was closed, and a new one opened"
    );
    assert_eq!(h.mails().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_session_the_upstream_closed_is_not_used() {
    let h = Harness::start().await;
    h.upstream.set(Behavior::HangUpAfterData);
    for i in 0..3 {
        let id = format!("h{i}@cust.test");
        let out = raw(
            h.addr,
            one_mail("ann@cust.test", "support@example.com", &id).as_bytes(),
        )
        .await;
        assert_eq!(first_failure(&out), None, "mail {i}: {out}");
    }
    assert_eq!(h.upstream.received().len(), 3);
    assert_eq!(
        h.upstream.connections(),
        3,
        "each kept session was found closed and replaced"
    );
    assert_eq!(h.mails().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_idle_zero_opens_a_session_per_client() {
    let h = Harness::start_with(|c| {
        if let Some(u) = c.upstream.as_mut() {
            u.keep_idle = 0;
        }
    })
    .await;
    for i in 0..3 {
        let id = format!("z{i}@cust.test");
        let out = raw(
            h.addr,
            one_mail("ann@cust.test", "support@example.com", &id).as_bytes(),
        )
        .await;
        assert_eq!(first_failure(&out), None, "{out}");
    }
    assert_eq!(h.upstream.connections(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_without_pipelining_gets_one_command_at_a_time() {
    let h = Harness::start().await;
    h.upstream.set_pipelining(false);
    let out = raw(
        h.addr,
        b"EHLO c.test\r\nMAIL FROM:<ann@cust.test>\r\nRCPT TO:<support@example.com>\r\nRCPT TO:<reject-x@example.com>\r\nRCPT TO:<sales@example.com>\r\nDATA\r\nSubject: s\r\nMessage-ID: <np1@cust.test>\r\n\r\nhi\r\n.\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(
        codes(&out),
        vec![220, 250, 250, 250, 550, 250, 354, 250, 221],
        "{out}"
    );
    let got = h.upstream.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].rcpt_to, ["support@example.com", "sales@example.com"]);
    assert_eq!(
        h.upstream.unpipelined_violations(),
        0,
        "etraq pipelined to an upstream that did not offer it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sender_is_answered_at_rcpt_when_mail_travels_with_it() {
    // The upstream offers PIPELINING, so MAIL goes out with the first RCPT: the client's MAIL
    // is answered 250 locally and the upstream's refusal of the sender reaches it at RCPT,
    // for every recipient, and nothing is relayed or recorded.
    let h = Harness::start().await;
    h.upstream
        .set(Behavior::RejectMail("550 5.7.1 Not from you".into()));
    let out = raw(
        h.addr,
        b"EHLO c.test\r\nMAIL FROM:<ann@cust.test>\r\nRCPT TO:<support@example.com>\r\nRCPT TO:<sales@example.com>\r\nDATA\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(
        codes(&out),
        vec![220, 250, 250, 550, 550, 554, 221],
        "{out}"
    );
    assert_eq!(
        out.matches("550 5.7.1 Not from you").count(),
        2,
        "each recipient gets the upstream's own words: {out}"
    );
    assert!(h.upstream.received().is_empty());
    assert_eq!(h.mails().await, 0);
    // The next transaction of the same client, accepted, is not tainted by the refusal.
    h.upstream.set(Behavior::Accept);
    let out = raw(
        h.addr,
        one_mail("ann@cust.test", "support@example.com", "after@cust.test").as_bytes(),
    )
    .await;
    assert_eq!(first_failure(&out), None, "{out}");
    assert_eq!(h.upstream.received().len(), 1);
}
