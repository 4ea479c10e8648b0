//! `etraq serve` as a process: start-up errors, graceful stop, and crash recovery under load
//! (`kill -9`), against an in-test upstream SMTP server.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etraq_core::Store;
use etraq_core::store::{MailQuery, TrackingStore};
use etraq_smtp::testing::FakeUpstream;
use etraq_store_sqlite::SqliteStore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn write_config(dir: &Path, port: u16, upstream: SocketAddr) {
    std::fs::write(
        dir.join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
             [smtp]\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace = \"5s\"\n\
             [web]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nhost = \"127.0.0.1\"\nport = {}\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n",
            upstream.port()
        ),
    )
    .unwrap();
}

fn spawn_serve(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir)
        .args(["--config", "etraq.toml", "serve"])
        .env_remove("ETRAQ_STORE")
        .env("ETRAQ_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_listening(addr: SocketAddr) {
    let start = Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "etraq serve did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

struct Client {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let (r, w) = TcpStream::connect(addr).await?.into_split();
        let mut c = Client {
            r: BufReader::new(r),
            w,
        };
        c.reply().await?;
        c.cmd("EHLO load.test\r\n").await?;
        Ok(c)
    }

    async fn reply(&mut self) -> std::io::Result<u16> {
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line.len() >= 4 && &line[3..4] == " " {
                return line[..3]
                    .parse()
                    .map_err(|_| std::io::ErrorKind::InvalidData.into());
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> std::io::Result<u16> {
        self.w.write_all(line.as_bytes()).await?;
        self.reply().await
    }

    /// One transaction; true when the gateway answered 250 to the data.
    async fn send(&mut self, from: &str, to: &str, headers: &str) -> std::io::Result<bool> {
        Ok(self.transaction(from, to, headers).await? == 250)
    }

    /// One transaction: the reply that ended it (to the data, or the first refusal).
    async fn transaction(&mut self, from: &str, to: &str, headers: &str) -> std::io::Result<u16> {
        for cmd in [
            format!("MAIL FROM:<{from}>\r\n"),
            format!("RCPT TO:<{to}>\r\n"),
        ] {
            let code = self.cmd(&cmd).await?;
            if code != 250 {
                self.cmd("RSET\r\n").await?;
                return Ok(code);
            }
        }
        let code = self.cmd("DATA\r\n").await?;
        if code != 354 {
            return Ok(code);
        }
        let body = format!("{headers}\r\nHello, this is a load test message.\r\n.\r\n");
        self.cmd(&body).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_and_leaves_no_orphan_dr() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    write_config(dir.path(), port, upstream.addr);
    let mut child = spawn_serve(dir.path());
    wait_listening(addr).await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..8 {
        let (acked, stop) = (acked.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let Ok(mut client) = Client::connect(addr).await else { return };
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let id = format!("load{c}-{i}@customer.test");
                // Every third mail answers the previous one, so DRs get updated too.
                let refs = if i > 1 && i % 3 == 0 {
                    format!("In-Reply-To: <load{c}-{}@customer.test>\r\n", i - 1)
                } else {
                    String::new()
                };
                let headers = format!(
                    "From: customer{c}@customer.test\r\nTo: support@example.com\r\nSubject: load {c} {i}\r\nMessage-ID: <{id}>\r\n{refs}"
                );
                match client.send(&format!("customer{c}@customer.test"), "support@example.com", &headers).await {
                    Ok(true) => acked.lock().await.push(id),
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    // Let the load run, then kill the server mid-flight.
    let start = Instant::now();
    while acked.lock().await.len() < 500 && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let acked: Vec<String> = acked.lock().await.clone();
    assert!(
        acked.len() >= 500,
        "the load did not get going: {} acknowledged",
        acked.len()
    );

    // Restart: the journal is reconciled, the server works again; then stop it gracefully.
    let mut child = spawn_serve(dir.path());
    wait_listening(addr).await;
    let mut after = Client::connect(addr).await.unwrap();
    assert!(
        after
            .send(
                "late@customer.test",
                "support@example.com",
                "Subject: after\r\nMessage-ID: <after@customer.test>\r\n"
            )
            .await
            .unwrap()
    );
    drop(after);
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "etraq serve did not exit 0 on SIGTERM: {status}"
    );

    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("data/etraq.db"))
            .await
            .unwrap(),
    );
    let upstream_ids: HashSet<String> = upstream.message_ids().into_iter().collect();
    for id in &acked {
        assert!(
            !store
                .mails_by_message_id(&etraq_core::MessageId::parse(id).unwrap())
                .await
                .unwrap()
                .is_empty(),
            "{id} got 250 but is not in the store"
        );
        assert!(
            upstream_ids.contains(id),
            "{id} got 250 but never reached the upstream"
        );
    }
    // No phantom: everything recorded was relayed.
    let recorded = recorded_message_ids(store.as_ref()).await;
    for id in &recorded {
        assert!(
            upstream_ids.contains(id),
            "{id} is in the store but was never relayed"
        );
    }
    let recorded = recorded.len();
    assert!(recorded > acked.len(), "the after-restart mail is missing");
    // No orphan DR: every DR has its mails, and they were relayed.
    let drs = store
        .list_drs(&etraq_core::DrQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    for d in &drs.items {
        let mails = store
            .list_mails(&MailQuery {
                dr: Some(d.id.clone()),
                ..MailQuery::default()
            })
            .await
            .unwrap();
        assert!(!mails.items.is_empty(), "orphan DR {}", d.id);
    }
    assert!(
        store.list_pending().await.unwrap().is_empty(),
        "the journal was not reconciled"
    );
    store.close().await.unwrap();
    eprintln!(
        "kill -9 test: {} acknowledged, {} recorded, {} relayed, {} DRs",
        acked.len(),
        recorded,
        upstream_ids.len(),
        drs.items.len()
    );
}

/// The Message-IDs of every mail in the store.
async fn recorded_message_ids(store: &dyn Store) -> Vec<String> {
    let mut after = None;
    let mut ids = Vec::new();
    loop {
        let page = store
            .list_mails(&MailQuery {
                after,
                limit: 1000,
                ..MailQuery::default()
            })
            .await
            .unwrap();
        ids.extend(page.items.iter().map(|m| m.message_id.as_str().to_string()));
        match page.next {
            Some(c) => after = Some(c),
            None => return ids,
        }
    }
}

/// A disk that refuses writes (here: a file-size limit on the process, so every write that
/// would grow a store file past it fails with EFBIG, as on a full disk) gets the client a 4xx,
/// never a 250 for a mail that is not recorded; nothing half-written stays behind: after a
/// restart without the limit the store is whole, holds exactly the mails that got 250 (all of
/// them relayed), and takes mail again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_refuses_writes_gets_4xx_and_leaves_nothing_behind() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    write_config(dir.path(), port, upstream.addr);
    // Create the store, then stop: its files are then as small as they get.
    let child = spawn_serve(dir.path());
    wait_listening(addr).await;
    sigterm(&child);
    wait_exit(child);
    let db = dir.path().join("data/etraq.db");
    let size = |suffix: &str| {
        std::fs::metadata(dir.path().join(format!("data/etraq.db{suffix}"))).map_or(0, |m| m.len())
    };
    let limit = size("").max(size("-wal")) + 192 * 1024;
    assert!(
        Command::new("prlimit").arg("--version").output().is_ok(),
        "this test needs prlimit (Debian's util-linux)"
    );
    // SIGXFSZ ignored (inherited through exec), so a write past the limit fails instead of
    // killing the process.
    let mut child = Command::new("sh")
        .current_dir(dir.path())
        .args([
            "-c",
            &format!(
                "trap '' XFSZ; exec prlimit --fsize={limit}:{limit} {} --config etraq.toml serve",
                env!("CARGO_BIN_EXE_etraq")
            ),
        ])
        .env_remove("ETRAQ_STORE")
        .env("ETRAQ_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(addr).await;

    let mut client = Client::connect(addr).await.unwrap();
    let (mut acked, mut refused) = (Vec::new(), Vec::new());
    for i in 0..400 {
        let id = format!("disk{i}@customer.test");
        let code = client
            .transaction(
                &format!("customer{i}@customer.test"),
                "support@example.com",
                &format!(
                    "From: customer{i}@customer.test\r\nSubject: disk {i}\r\nMessage-ID: <{id}>\r\n"
                ),
            )
            .await
            .unwrap();
        match code {
            250 => acked.push(id),
            400..=499 => refused.push(id),
            other => panic!("mail {i} got {other}: a full disk must answer 4xx"),
        }
        if refused.len() >= 5 {
            break;
        }
    }
    assert!(
        !acked.is_empty() && refused.len() >= 5,
        "the limit should let some mail in and then refuse: {} acknowledged, {} refused",
        acked.len(),
        refused.len()
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "etraq serve must keep running when its disk refuses writes"
    );
    drop(client);
    sigterm(&child);
    wait_exit(child);

    // Without the limit: whole, exactly the acknowledged mails, and working.
    let check: String = etraq_store_sqlite::open_connection(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let child = spawn_serve(dir.path());
    wait_listening(addr).await;
    let mut after = Client::connect(addr).await.unwrap();
    assert_eq!(
        after
            .transaction(
                "late@customer.test",
                "support@example.com",
                "Subject: after\r\nMessage-ID: <after-disk@customer.test>\r\n"
            )
            .await
            .unwrap(),
        250
    );
    drop(after);
    sigterm(&child);
    wait_exit(child);
    let store = SqliteStore::open(&db).await.unwrap();
    let recorded: HashSet<String> = recorded_message_ids(&store).await.into_iter().collect();
    let relayed: HashSet<String> = upstream.message_ids().into_iter().collect();
    for id in &acked {
        assert!(
            recorded.contains(id),
            "{id} got 250 but is not in the store"
        );
        assert!(
            relayed.contains(id),
            "{id} got 250 but never reached the upstream"
        );
    }
    for id in &refused {
        assert!(!recorded.contains(id), "{id} got a 4xx but is in the store");
    }
    for id in &recorded {
        assert!(
            relayed.contains(id),
            "{id} is in the store but was never relayed"
        );
    }
    assert_eq!(recorded.len(), acked.len() + 1, "recorded: {recorded:?}");
    assert!(store.list_pending().await.unwrap().is_empty());
    store.close().await.unwrap();
}

/// Waits for a stopped `etraq serve` (bounded: a hang fails the test).
fn wait_exit(mut child: Child) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "etraq serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_fails_at_start_up_naming_a_bad_listen_address_or_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let run = |conf: &str| {
        std::fs::write(dir.path().join("etraq.toml"), conf).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_etraq"))
            .current_dir(dir.path())
            .args(["--config", "etraq.toml", "serve"])
            .env_remove("ETRAQ_STORE")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run("local_domains = [\"example.com\"]\n[smtp]\nlisten = \"not-an-address\"\n");
    assert!(err.contains("smtp.listen"), "{err}");
    let err = run(
        "local_domains = [\"example.com\"]\n[smtp]\nlisten = \"127.0.0.1:2525\"\ntls_cert = \"missing-cert.pem\"\ntls_key = \"missing-key.pem\"\n",
    );
    assert!(err.contains("missing-cert.pem"), "{err}");
    std::fs::write(dir.path().join("junk.pem"), "not a certificate").unwrap();
    let err = run(
        "local_domains = [\"example.com\"]\n[smtp]\nlisten = \"127.0.0.1:2525\"\ntls_cert = \"junk.pem\"\ntls_key = \"junk.pem\"\n",
    );
    assert!(err.contains("junk.pem"), "{err}");
    // A port already taken is named too.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = run(&format!(
        "local_domains = [\"example.com\"]\n[smtp]\nlisten = \"127.0.0.1:{port}\"\n"
    ));
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn evaluation_mode_without_a_config_tracks_into_the_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Without etraq.toml the defaults apply; only the port is moved away from 2525 for the test.
    let child = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .arg("serve")
        .env_remove("ETRAQ_STORE")
        .env_remove("ETRAQ_CONFIG")
        .env("ETRAQ_SMTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("ETRAQ_WEB_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        wait_listening(addr).await;
        let mut c = Client::connect(addr).await.unwrap();
        assert!(
            c.send(
                "ann@customer.test",
                "support@example.com",
                "Subject: first try\r\nMessage-ID: <eval1@customer.test>\r\n"
            )
            .await
            .unwrap()
        );
    });
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("EVALUATION MODE"), "{err}");
    // First start: the admin password is generated, stored (hashed) and printed once.
    let password = err
        .lines()
        .skip_while(|l| !l.contains("admin password is"))
        .nth(1)
        .map(str::trim)
        .unwrap_or_else(|| panic!("no first admin password printed: {err}"))
        .to_string();
    assert_eq!(password.len(), 20, "{password:?}");
    for f in ["etraq-data/etraq.db", "etraq-data/etraq.db-wal"] {
        let bytes = std::fs::read(dir.path().join(f)).unwrap_or_default();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "{f} holds the password in clear; only its hash may be stored"
        );
    }
    // The second start does not print (or change) it.
    let again = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .arg("serve")
        .env_remove("ETRAQ_STORE")
        .env_remove("ETRAQ_CONFIG")
        .env("ETRAQ_SMTP_LISTEN", "127.0.0.1:0")
        .env("ETRAQ_WEB_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sigterm(&again);
    let out2 = again.wait_with_output().unwrap();
    let err2 = String::from_utf8_lossy(&out2.stderr);
    assert!(err2.contains("console on"), "{err2}");
    assert!(!err2.contains("admin password is"), "{err2}");
    // Standard error is a pipe here: log lines carry no colour codes, and neither does the file.
    assert!(err2.contains(" INFO "), "{err2}");
    assert!(!err.contains('\x1b') && !err2.contains('\x1b'), "{err2:?}");
    for log in std::fs::read_dir(dir.path().join("etraq-data/logs")).unwrap() {
        let text = std::fs::read_to_string(log.unwrap().path()).unwrap();
        assert!(!text.contains('\x1b'), "{text:?}");
    }
    let new = dir.path().join("etraq-data/maildir/new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().collect();
    assert_eq!(files.len(), 1);
    let delivered = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(delivered.starts_with("Received: from "), "{delivered}");
    assert!(delivered.contains("\r\nX-Etraq-DR: SUPP-"), "{delivered}");
    let list = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .args(["dr", "list", "--json"])
        .env_remove("ETRAQ_STORE")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("first try"));
}

#[test]
fn log_format_json_writes_one_object_per_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .args(["--log-format", "json", "serve"])
        .env_remove("ETRAQ_STORE")
        .env_remove("ETRAQ_CONFIG")
        .env("ETRAQ_SMTP_LISTEN", "127.0.0.1:0")
        .env("ETRAQ_WEB_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let events: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let serving = events
        .iter()
        .find(|e| e["fields"]["message"] == "serving")
        .unwrap_or_else(|| panic!("no JSON start-up event in {err}"));
    assert_eq!(serving["level"], "INFO");
    assert!(serving["timestamp"].is_string(), "{serving}");
    assert!(
        serving["fields"]["smtp"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{serving}"
    );
    assert!(!err.contains('\x1b'), "{err:?}");
    // Only the banners written for a person at start-up are not log events.
    assert!(
        err.lines()
            .filter(|l| l.contains(" INFO ") || l.contains(" WARN "))
            .count()
            == 0,
        "text log lines under --log-format json: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_escalation_and_mails_alerts_to_the_upstream() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_config(dir.path(), port, upstream.addr);
    // A console on a known port, so the links in etraq's mail can be followed.
    let web_port = free_port();
    let cfg_path = dir.path().join("etraq.toml");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap().replace(
        "[web]\nlisten = \"127.0.0.1:0\"",
        &format!("[web]\nlisten = \"127.0.0.1:{web_port}\""),
    );
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut passwd = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .args(["--config", "etraq.toml", "admin", "passwd"])
        .env_remove("ETRAQ_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut passwd.stdin.take().unwrap(), b"links-admin-password\n")
        .unwrap();
    assert!(passwd.wait().unwrap().success());
    // A customer has waited since yesterday.
    std::fs::write(dir.path().join("c.eml"), "From: ann@customer.test\r\nTo: support@example.com\r\nSubject: waiting\r\nMessage-ID: <w1@customer.test>\r\n\r\nhello?\r\n").unwrap();
    let yesterday = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(30))
        .unwrap()
        .to_string();
    let st = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .args([
            "--config",
            "etraq.toml",
            "ingest",
            "--now",
            &yesterday,
            "c.eml",
        ])
        .env_remove("ETRAQ_STORE")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let child = spawn_serve(dir.path());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr).await;
    let start = Instant::now();
    while upstream.received().is_empty() && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .args(["--config", "etraq.toml", "status", "--json"])
        .env_remove("ETRAQ_STORE")
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    // Every link in every mail etraq sent leads to a page of the running console.
    let got = upstream.received();
    assert!(!got.is_empty(), "no alert mail reached the upstream");
    let links = follow_links(web_port, "links-admin-password", &got).await;
    assert!(links > 0, "the alert mail holds no link to the console");
    sigterm(&child);
    let mut child = child;
    assert!(child.wait().unwrap().success());
    assert_eq!(got[0].rcpt_to, vec!["support@example.com"]);
    assert_eq!(
        got[0].header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert!(
        got[0].header("Subject").unwrap().contains("Escalated"),
        "30 hours is past escalate_after"
    );
    assert_eq!(status["running"], true);
    assert_eq!(status["ESCALATED"], 1);
    assert!(dir.path().join("data/logs").read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("EscWarnings-")
    }));
    assert!(
        dir.path().join("data/logs").read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("ET")),
        "no daily log"
    );
    assert!(
        !dir.path().join("data/etraq-serve.json").exists(),
        "the state file outlived the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_stored_by_one_process_is_mailed_exactly_once_by_the_next() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), free_port(), upstream.addr);
    let etraq = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_etraq"))
            .current_dir(dir.path())
            .arg("--config")
            .arg("etraq.toml")
            .args(args)
            .env_remove("ETRAQ_STORE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::write(dir.path().join("c.eml"), "From: ann@customer.test\r\nTo: support@example.com\r\nSubject: waiting\r\nMessage-ID: <x1@customer.test>\r\n\r\n?\r\n").unwrap();
    let past = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(5))
        .unwrap()
        .to_string();
    etraq(&["ingest", "--now", &past, "c.eml"]);
    // This process stores the alert and ends without mailing it (as if it had crashed there).
    let cycle: serde_json::Value =
        serde_json::from_str(&etraq(&["escalate", "--once", "--json"])).unwrap();
    assert_eq!(cycle["warned"], 1);
    assert!(upstream.received().is_empty());
    // The next process mails it; once.
    let sent: serde_json::Value =
        serde_json::from_str(&etraq(&["alerts", "send", "--json"])).unwrap();
    assert_eq!(sent["sent"], 1);
    let again: serde_json::Value =
        serde_json::from_str(&etraq(&["alerts", "send", "--json"])).unwrap();
    assert_eq!(again["sent"], 0);
    assert_eq!(upstream.received().len(), 1);
}

/// Signs in to the console on `web_port` as the admin and fetches every `http(s)://` link in
/// the bodies of `mails`; each must answer 200. Returns how many links were followed.
async fn follow_links(
    web_port: u16,
    admin_password: &str,
    mails: &[etraq_smtp::testing::Received],
) -> usize {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{web_port}");
    let login = client
        .post(format!("{base}/login"))
        .header("origin", &base)
        .form(&[("login", "admin"), ("password", admin_password)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status().as_u16(),
        303,
        "cannot sign in to follow links"
    );
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("etraq_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let mut followed = 0;
    for m in mails {
        // Quoted-printable soft breaks joined; links end at whitespace or a closing bracket.
        let body = String::from_utf8_lossy(&m.data).replace("=\r\n", "");
        for word in body.split(|c: char| c.is_whitespace() || c == '<' || c == '>') {
            let link = word.trim_end_matches(['.', ',', ')']);
            if !(link.starts_with("http://") || link.starts_with("https://")) {
                continue;
            }
            assert!(
                link.starts_with(&base),
                "a link to somewhere else than the console: {link}"
            );
            let r = client
                .get(link)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{link} answered {}", r.status());
            followed += 1;
        }
    }
    followed
}

/// One HTTP/1.1 request over TLS to `localhost:port`, trusting `cert_pem`; returns the whole
/// answer (headers and body).
async fn https(port: u16, cert_pem: &str, request: String) -> String {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut tls, &mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn form_post(port: u16, path: &str, cookie: Option<&str>, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: https://localhost:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{body}",
        body.len(),
        cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default()
    )
}

async fn smtp_greeting(addr: SocketAddr) -> String {
    let s = TcpStream::connect(addr).await.unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    line
}

#[test]
fn console_over_tls_sets_secure_cookies_and_pausing_smtp_answers_421() {
    let dir = tempfile::tempdir().unwrap();
    let (smtp_port, web_port) = (free_port(), free_port());
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    std::fs::write(
        dir.path().join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\n[smtp]\nlisten = \"127.0.0.1:{smtp_port}\"\n\
             [web]\nlisten = \"127.0.0.1:{web_port}\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n"
        ),
    )
    .unwrap();
    // The admin password, set from standard input before the first start.
    let mut passwd = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .args(["--config", "etraq.toml", "admin", "passwd"])
        .env_remove("ETRAQ_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut passwd.stdin.take().unwrap(), b"tls-admin-password\n").unwrap();
    assert!(passwd.wait().unwrap().success());
    let child = spawn_serve(dir.path());
    let smtp: SocketAddr = format!("127.0.0.1:{smtp_port}").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        wait_listening(smtp).await;
        wait_listening(format!("127.0.0.1:{web_port}").parse().unwrap()).await;
        let pem = ck.cert.pem();
        let answer = https(
            web_port,
            &pem,
            form_post(
                web_port,
                "/login",
                None,
                "login=admin&password=tls-admin-password",
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
        let set_cookie = answer
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            .unwrap_or_else(|| panic!("no cookie: {answer}"))
            .to_string();
        for attr in ["Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(set_cookie.contains(attr), "{attr} missing: {set_cookie}");
        }
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("\r\nstrict-transport-security: max-age=31536000"),
            "no HSTS under TLS: {answer}"
        );
        let cookie = set_cookie
            .split_once(':')
            .unwrap()
            .1
            .trim()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        // Plain HTTP to the TLS port gets nothing.
        let mut plain = TcpStream::connect(("127.0.0.1", web_port)).await.unwrap();
        plain
            .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut plain, &mut buf),
        )
        .await;
        assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));

        // Pause the SMTP listener from the console: new connections get 421.
        assert!(smtp_greeting(smtp).await.starts_with("220"));
        let a = https(
            web_port,
            &pem,
            form_post(
                web_port,
                "/services",
                Some(&cookie),
                "service=smtp&action=pause",
            ),
        )
        .await;
        assert!(a.starts_with("HTTP/1.1 303"), "{a}");
        let greeting = smtp_greeting(smtp).await;
        assert!(greeting.starts_with("421 4.3.2"), "{greeting}");
        let a = https(
            web_port,
            &pem,
            form_post(
                web_port,
                "/services",
                Some(&cookie),
                "service=smtp&action=resume",
            ),
        )
        .await;
        assert!(a.starts_with("HTTP/1.1 303"), "{a}");
        assert!(smtp_greeting(smtp).await.starts_with("220"));
    });
    sigterm(&child);
    let mut child = child;
    let status = child.wait().unwrap();
    assert!(status.success(), "etraq serve exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_with_400k_addresses_is_refused_and_sigterm_still_stops_serve_in_its_grace() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_config(dir.path(), port, upstream.addr);
    let child = spawn_serve(dir.path());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr).await;
    // 400,000 addresses in one To: header (the review's attack: never answered, a core at 100%
    // after the client left, SIGTERM ignored).
    let mut c = Client::connect(addr).await.unwrap();
    assert_eq!(c.cmd("MAIL FROM:<a@customer.test>\r\n").await.unwrap(), 250);
    assert_eq!(
        c.cmd("RCPT TO:<support@example.com>\r\n").await.unwrap(),
        250
    );
    assert_eq!(c.cmd("DATA\r\n").await.unwrap(), 354);
    let mut big = String::from("To: ");
    for i in 0..400_000 {
        big.push_str(&format!("u{i}@customer.test,\r\n "));
    }
    big.push_str("last@customer.test\r\nSubject: many\r\n\r\nbody\r\n.\r\n");
    assert_eq!(c.cmd(&big).await.unwrap(), 552);
    // The session goes on, and so does the server.
    let mut d = Client::connect(addr).await.unwrap();
    assert!(
        d.send(
            "ann@customer.test",
            "support@example.com",
            "Subject: still here\r\nMessage-ID: <after@customer.test>\r\n"
        )
        .await
        .unwrap()
    );
    drop(c);
    // A client in the middle of DATA keeps a session open; SIGTERM waits for it only for the
    // grace period (5 s here), then serve exits.
    assert_eq!(d.cmd("MAIL FROM:<b@customer.test>\r\n").await.unwrap(), 250);
    assert_eq!(
        d.cmd("RCPT TO:<support@example.com>\r\n").await.unwrap(),
        250
    );
    assert_eq!(d.cmd("DATA\r\n").await.unwrap(), 354);
    let start = Instant::now();
    sigterm(&child);
    let mut child = child;
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let status = status.expect("etraq serve ignored SIGTERM");
    assert!(status.success(), "{status}");
    assert!(
        start.elapsed() < Duration::from_secs(12),
        "stopped after {:?} with a 5 s grace",
        start.elapsed()
    );
    assert_eq!(upstream.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_configured_number_of_worker_threads() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_config(dir.path(), port, upstream.addr);
    let text = std::fs::read_to_string(dir.path().join("etraq.toml")).unwrap();
    std::fs::write(
        dir.path().join("etraq.toml"),
        format!("threads = 3\n{text}"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir.path())
        .args(["--config", "etraq.toml", "serve"])
        .env_remove("ETRAQ_STORE")
        .env("ETRAQ_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_listening(SocketAddr::from(([127, 0, 0, 1], port))).await;
    let start = Instant::now();
    let mut log = String::new();
    while !log.contains("serving") && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    }
    sigterm(&child);
    let _ = child.wait();
    let serving = log
        .lines()
        .find(|l| l.contains("serving"))
        .unwrap_or_else(|| panic!("no start-up line: {log}"));
    assert!(
        serving.contains("workers=3"),
        "threads = 3 must give three runtime workers: {serving}"
    );
}
