//! A campaign is accounted for exactly across crashes and pauses: `etraq campaign run` is
//! SIGKILLed three times mid-send into a recording SMTP sink and resumed (nobody gets two copies,
//! everybody not `in_doubt` gets exactly one, each crash leaves at most `concurrency` in doubt,
//! the counters equal the rows), and a paused send stops within a second and resumes without
//! sending to anyone twice.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etraq_smtp::testing::FakeUpstream;
use serde_json::Value;

const RECIPIENTS: usize = 1000;
const CONCURRENCY: u64 = 4;

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

/// Addresses the sink received, with how many copies each.
fn copies(sink: &FakeUpstream) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in sink.received() {
        for to in r.rcpt_to {
            *m.entry(to).or_insert(0) += 1;
        }
    }
    m
}

/// A working directory whose campaigns go to `sink` at `rate` with `concurrency`, with a list
/// `News` of `n` subscribers imported from CSV.
fn setup(d: &Path, sink: &FakeUpstream, rate: u32, concurrency: u64, n: usize) {
    std::fs::write(
        d.join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n\
             [campaigns]\nrelay = \"127.0.0.1:{}\"\nrate_per_second = {rate}\nconcurrency = {concurrency}\n",
            sink.addr.port()
        ),
    )
    .unwrap();
    let mut csv = String::from("email,name\n");
    for i in 0..n {
        csv.push_str(&format!("r{i}@customer.test,Person {i}\n"));
    }
    std::fs::write(d.join("people.csv"), csv).unwrap();
    ok(d, &["list", "create", "News"]);
    ok(d, &["subscriber", "import", "people.csv", "--list", "News"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_killed_three_times_mid_send_is_accounted_exactly() {
    let sink = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &sink, 100_000, CONCURRENCY, RECIPIENTS);
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

    for (crash, at) in [200usize, 450, 700].into_iter().enumerate() {
        let mut child = etraq(d)
            .args(["campaign", "run", "Spring", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while sink.received().len() < at {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("crash {crash}: the sender ended ({status}) before {at} mails");
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "crash {crash}: too slow"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let sending = json(
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
        let n = sending.as_array().unwrap().len() as u64;
        assert!(
            n <= CONCURRENCY,
            "crash {crash}: {n} recipients in doubt, more than {CONCURRENCY}"
        );
        assert!(
            copies(&sink).values().all(|&c| c == 1),
            "crash {crash}: somebody got two copies"
        );
    }
    let report = json(d, &["campaign", "run", "Spring", "--json"]);
    assert_eq!(report["status"], "finished", "{report}");

    let rows = json(d, &["campaign", "recipients", "Spring", "--json"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), RECIPIENTS);
    let got = copies(&sink);
    assert!(got.values().all(|&c| c == 1), "nobody gets two copies");
    let mut by_state: HashMap<String, u64> = HashMap::new();
    for r in rows {
        let email = r["email"].as_str().unwrap();
        let state = r["state"].as_str().unwrap();
        *by_state.entry(state.to_string()).or_insert(0) += 1;
        let n = got.get(email).copied().unwrap_or(0);
        match state {
            "sent" => {
                assert_eq!(n, 1, "{email} is sent but got {n} copies");
                assert!(r["message_id"].is_string());
            }
            "in_doubt" => assert!(n <= 1, "{email}"),
            other => panic!("{email} ended {other}"),
        }
    }
    let in_doubt = by_state.get("in_doubt").copied().unwrap_or(0);
    assert!(
        in_doubt <= 3 * CONCURRENCY,
        "{in_doubt} in doubt after 3 crashes"
    );
    // The counters are the rows.
    let show = json(d, &["campaign", "show", "Spring", "--json"]);
    assert_eq!(show["recipients"], RECIPIENTS as u64);
    assert_eq!(show["sent"], by_state.get("sent").copied().unwrap_or(0));
    assert_eq!(show["in_doubt"], in_doubt);
    assert_eq!(show["queued"], 0);
    assert_eq!(show["sending"], 0);
    // Every message carries the contract headers and its recipient's own Message-ID.
    let mut ids = std::collections::HashSet::new();
    for m in sink.received() {
        for h in [
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "List-Id",
            "Precedence",
            "X-Etraq-Campaign",
        ] {
            assert!(m.header(h).is_some(), "{h} missing");
        }
        assert!(
            m.mail_from.starts_with("bounce+") && m.mail_from.ends_with("@example.com"),
            "{}",
            m.mail_from
        );
        assert!(
            ids.insert(m.header("Message-ID").unwrap()),
            "a Message-ID twice"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_within_a_second_and_resume_sends_to_nobody_twice() {
    let sink = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &sink, 100, 2, 300);
    ok(
        d,
        &[
            "campaign",
            "create",
            "Slow",
            "--list",
            "News",
            "--template",
            "announcement",
        ],
    );
    let mut child = etraq(d)
        .args(["campaign", "run", "Slow", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while sink.received().len() < 30 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A second sender of the same campaign is refused, naming it: one sender at a time.
    let second = etraq(d).args(["campaign", "run", "Slow"]).output().unwrap();
    let why = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{why}");
    assert!(why.contains("\"Slow\" is being sent by process"), "{why}");
    let paused = json(d, &["campaign", "pause", "Slow", "--json"]);
    assert_eq!(paused["status"], "paused");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the sender did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success());
    // Within a second at 100 mails per second: at most about a hundred more after the pause.
    let after_pause = sink.received().len();
    assert!(
        after_pause < 30 + 150,
        "{after_pause} sent despite the pause"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.received().len(),
        after_pause,
        "nothing is sent while paused"
    );
    let err = etraq(d).args(["campaign", "run", "Slow"]).output().unwrap();
    assert!(!err.status.success() && String::from_utf8_lossy(&err.stderr).contains("paused"));
    let show = json(d, &["campaign", "show", "Slow", "--json"]);
    assert_eq!(show["sending"], 0, "{show}");
    assert_eq!(show["in_doubt"], 0, "{show}");
    ok(d, &["campaign", "resume", "Slow"]);
    let report = json(d, &["campaign", "run", "Slow", "--json"]);
    assert_eq!(report["status"], "finished", "{report}");
    assert_eq!(report["sent"], 300, "{report}");
    let got = copies(&sink);
    assert_eq!(got.len(), 300);
    assert!(got.values().all(|&c| c == 1), "somebody got two copies");
    let err = etraq(d)
        .args(["campaign", "pause", "Slow"])
        .output()
        .unwrap();
    assert_eq!(
        err.status.code(),
        Some(1),
        "a finished campaign cannot be paused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_fails_the_recipient_and_a_mailbox_refusal_blocklists_the_address() {
    use etraq_smtp::testing::Behavior;
    let sink = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &sink, 1000, 2, 3);
    sink.set(Behavior::RejectRcpt("550 5.1.1 no such user here".into()));
    ok(
        d,
        &[
            "campaign",
            "create",
            "Gone",
            "--list",
            "News",
            "--template",
            "newsletter",
        ],
    );
    let report = json(d, &["campaign", "run", "Gone", "--json"]);
    assert_eq!(
        (report["failed"].as_u64(), report["sent"].as_u64()),
        (Some(3), Some(0)),
        "{report}"
    );
    let blocked = json(d, &["blocklist", "list", "--json"]);
    let blocked = blocked.as_array().unwrap();
    assert_eq!(blocked.len(), 3, "{blocked:?}");
    assert!(
        blocked.iter().all(|b| b["reason"] == "hard-bounce"),
        "{blocked:?}"
    );
    let show = json(d, &["subscriber", "show", "r0@customer.test", "--json"]);
    assert_eq!(show["blocklisted"], true);
    assert_eq!(show["events"][0]["kind"], "bounce", "{show}");
    assert!(
        show["events"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("5.1.1"),
        "{show}"
    );

    // A policy refusal (5.7.x) fails the recipient but says nothing against the address.
    sink.set(Behavior::RejectRcpt(
        "554 5.7.1 message refused by policy".into(),
    ));
    ok(
        d,
        &["subscriber", "add", "new@customer.test", "--list", "News"],
    );
    ok(
        d,
        &[
            "campaign",
            "create",
            "Policy",
            "--list",
            "News",
            "--template",
            "newsletter",
        ],
    );
    let report = json(d, &["campaign", "run", "Policy", "--json"]);
    assert_eq!(
        report["recipients"], 1,
        "the blocklisted three are not recipients: {report}"
    );
    assert_eq!(report["failed"], 1, "{report}");
    assert_eq!(
        json(d, &["blocklist", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let failed = json(
        d,
        &[
            "campaign",
            "recipients",
            "Policy",
            "--state",
            "failed",
            "--json",
        ],
    );
    assert!(
        failed[0]["error"].as_str().unwrap().contains("5.7.1"),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_is_down_stops_the_run_with_everybody_still_queued() {
    use etraq_smtp::testing::Behavior;
    let sink = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &sink, 1000, 4, 20);
    ok(
        d,
        &[
            "campaign",
            "create",
            "Down",
            "--list",
            "News",
            "--template",
            "newsletter",
        ],
    );
    sink.set(Behavior::RefuseConnection);
    let out = etraq(d).args(["campaign", "run", "Down"]).output().unwrap();
    let why = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{why}");
    assert!(
        why.contains(&format!(
            "the relay 127.0.0.1:{} is unavailable",
            sink.addr.port()
        )),
        "{why}"
    );
    // Nobody failed or was left in doubt for the relay's outage: all are still to send.
    let show = json(d, &["campaign", "show", "Down", "--json"]);
    assert_eq!(show["status"], "running", "{show}");
    assert_eq!(
        (show["queued"].as_u64(), show["failed"].as_u64()),
        (Some(20), Some(0)),
        "{show}"
    );
    assert_eq!(
        (show["sending"].as_u64(), show["in_doubt"].as_u64()),
        (Some(0), Some(0)),
        "{show}"
    );
    // The relay is back: the next run sends to everybody once.
    sink.set(Behavior::Accept);
    let report = json(d, &["campaign", "run", "Down", "--json"]);
    assert_eq!(
        (report["status"].as_str(), report["sent"].as_u64()),
        (Some("finished"), Some(20)),
        "{report}"
    );
    assert!(copies(&sink).values().all(|&c| c == 1));
}
