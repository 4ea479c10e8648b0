//! Campaigns sent by a running `etraq serve`: `campaign start` hands a campaign to serve's
//! sender, which `campaign run` elsewhere cannot join (one sender, a lease), which pause and
//! resume control within a second, and which a restarted serve takes over after `kill -9`
//! with everybody accounted for. And double opt-in end to end: the subscribe form on serve's
//! console, the confirmation mail through the notifier to a real SMTP peer, read back with a
//! mail parser, its link's GET changing nothing and its POST confirming.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etraq_smtp::testing::FakeUpstream;
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn etraq(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_etraq"));
    c.current_dir(dir)
        .env_remove("ETRAQ_STORE")
        .env_remove("ETRAQ_CONFIG")
        .env("ETRAQ_LOG", "warn")
        .args(["--config", "etraq.toml"]);
    c
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = etraq(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

fn copies(sink: &FakeUpstream) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in sink.received() {
        if r.header("X-Etraq-Campaign").is_none() {
            continue;
        }
        for to in r.rcpt_to {
            *m.entry(to).or_insert(0) += 1;
        }
    }
    m
}

struct Ports {
    smtp: u16,
    web: u16,
}

/// etraq.toml with serve's listeners, the sink as upstream (gateway, alerts, confirmations)
/// and as the campaigns' relay.
fn config(d: &Path, sink: &FakeUpstream, rate: u32, concurrency: u32) -> Ports {
    let p = Ports {
        smtp: free_port(),
        web: free_port(),
    };
    std::fs::write(
        d.join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
             [smtp]\nlisten = \"127.0.0.1:{}\"\n\
             [web]\nlisten = \"127.0.0.1:{}\"\n\
             [upstream]\nhost = \"127.0.0.1\"\nport = {}\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n\
             [campaigns]\nrelay = \"127.0.0.1:{}\"\nrate_per_second = {rate}\nconcurrency = {concurrency}\n",
            p.smtp,
            p.web,
            sink.addr.port(),
            sink.addr.port()
        ),
    )
    .unwrap();
    p
}

fn people(d: &Path, n: usize) {
    let mut csv = String::from("email,name\n");
    for i in 0..n {
        csv.push_str(&format!("r{i}@customer.test,Person {i}\n"));
    }
    std::fs::write(d.join("people.csv"), csv).unwrap();
    ok(d, &["list", "create", "News"]);
    ok(d, &["subscriber", "import", "people.csv", "--list", "News"]);
}

async fn serve(d: &Path, p: &Ports) -> Child {
    let child = etraq(d)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", p.web).parse().unwrap();
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sends_a_started_campaign_obeys_pause_and_takes_over_after_kill_9() {
    const N: usize = 600;
    let sink = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = config(d, &sink, 150, 4);
    people(d, N);
    ok(
        d,
        &[
            "campaign",
            "create",
            "Spring",
            "--list",
            "News",
            "--template",
            "newsletter",
        ],
    );
    let mut server = serve(d, &p).await;
    // Nothing is sent before the campaign is started.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(copies(&sink).is_empty());
    let started = json(d, &["campaign", "start", "Spring", "--json"]);
    assert_eq!(started["status"], "scheduled");
    wait_for("the first mails", || copies(&sink).len() >= 100).await;

    // One sender at a time: `campaign run` beside serve is refused, naming serve's process.
    let run = etraq(d)
        .args(["campaign", "run", "Spring"])
        .output()
        .unwrap();
    let why = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{why}");
    assert!(
        why.contains(&format!("being sent by process {}", server.id())),
        "{why}"
    );

    // Pause: serve's sender stops within a second, and nothing goes out while paused.
    assert_eq!(
        json(d, &["campaign", "pause", "Spring", "--json"])["status"],
        "paused"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at_pause = copies(&sink).len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        copies(&sink).len(),
        at_pause,
        "nothing is sent while paused"
    );
    let show = json(d, &["campaign", "show", "Spring", "--json"]);
    assert_eq!(show["sending"], 0, "{show}");
    ok(d, &["campaign", "resume", "Spring"]);
    wait_for("mail after resuming", || {
        copies(&sink).len() >= at_pause + 100
    })
    .await;

    // kill -9 mid-send; a new serve takes the campaign over at once (its holder is gone).
    server.kill().unwrap();
    server.wait().unwrap();
    let in_hand = json(
        d,
        &[
            "campaign",
            "recipients",
            "Spring",
            "--state",
            "sending",
            "--json",
        ],
    );
    assert!(in_hand.as_array().unwrap().len() <= 4, "{in_hand}");
    let mut server = serve(d, &p).await;
    wait_for("the campaign to finish", || {
        json(d, &["campaign", "show", "Spring", "--json"])["status"] == "finished"
    })
    .await;
    let show = json(d, &["campaign", "show", "Spring", "--json"]);
    let got = copies(&sink);
    assert!(got.values().all(|&c| c == 1), "somebody got two copies");
    let (sent, doubt) = (
        show["sent"].as_u64().unwrap(),
        show["in_doubt"].as_u64().unwrap(),
    );
    assert_eq!(sent + doubt, N as u64, "{show}");
    assert!(doubt <= 4, "{show}");
    assert!(
        got.len() as u64 >= sent && got.len() as u64 <= sent + doubt,
        "{show}"
    );
    for r in json(d, &["campaign", "recipients", "Spring", "--json"])
        .as_array()
        .unwrap()
    {
        let email = r["email"].as_str().unwrap();
        if r["state"] == "sent" {
            assert_eq!(
                got.get(email),
                Some(&1),
                "{email} is sent: exactly one copy"
            );
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_campaign_waits_for_its_time() {
    let sink = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = config(d, &sink, 1000, 2);
    people(d, 20);
    let at = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3)).to_string();
    let created = json(
        d,
        &[
            "campaign",
            "create",
            "Later",
            "--list",
            "News",
            "--template",
            "announcement",
            "--at",
            &at,
            "--json",
        ],
    );
    assert_eq!(created["status"], "scheduled");
    let mut server = serve(d, &p).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(copies(&sink).is_empty(), "not before its time");
    wait_for("the scheduled campaign", || copies(&sink).len() == 20).await;
    wait_for("finished", || {
        json(d, &["campaign", "show", "Later", "--json"])["status"] == "finished"
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_opt_in_end_to_end_through_serve() {
    let sink = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = config(d, &sink, 100, 1);
    ok(
        d,
        &["list", "create", "Beta", "--double-opt-in", "--public"],
    );
    let mut server = serve(d, &p).await;
    let base = format!("http://127.0.0.1:{}", p.web);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(format!("{base}/s/Beta")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let r = client
        .post(format!("{base}/s/Beta"))
        .header("origin", &base)
        .form(&[("email", "ann@customer.test"), ("name", "Ann Example")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your inbox"));

    // The notifier mails the confirmation to the upstream within seconds.
    wait_for("the confirmation mail", || {
        sink.received()
            .iter()
            .any(|m| m.rcpt_to == ["ann@customer.test"])
    })
    .await;
    let mail = sink
        .received()
        .into_iter()
        .find(|m| m.rcpt_to == ["ann@customer.test"])
        .unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .unwrap();
    assert!(
        parsed.subject().unwrap().contains("confirm"),
        "{:?}",
        parsed.subject()
    );
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    let text = parsed.body_text(0).unwrap().to_string();
    let html = parsed.body_html(0).unwrap().to_string();
    let start = text
        .find(&format!("{base}/s/confirm/"))
        .expect("a link in the text part");
    let link: String = text[start..].split_whitespace().next().unwrap().to_string();
    assert!(html.contains(&link), "the HTML part has the same link");
    let status = |d: &Path| {
        let v = json(d, &["subscriber", "show", "ann@customer.test", "--json"]);
        v["lists"][0]["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status(d), "unconfirmed");
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(status(d), "unconfirmed", "opening the link changes nothing");
    let done = client
        .post(&link)
        .header("origin", &base)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Subscription confirmed")
    );
    assert_eq!(status(d), "confirmed");
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    server.wait().unwrap();
}
