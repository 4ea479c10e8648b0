//! The tracking scenarios (docs/tracking.md) and the CLI contract, through the real `etraq` binary, on both stores.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

/// A working directory with an `etraq.toml` and a store of one backend.
struct Env {
    dir: tempfile::TempDir,
    store: String,
}

impl Env {
    fn new(backend: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("etraq.toml"),
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n",
        )
        .unwrap();
        let store = match backend {
            "sqlite" => "sqlite:data/etraq.db".to_string(),
            _ => "sled:data/sled".to_string(),
        };
        let env = Env { dir, store };
        for (email, name, extra) in [
            ("support@example.com", "Support", None),
            ("alice@example.com", "Alice", None),
            ("bob@example.com", "Bob", None),
            ("carol@example.com", "Carol", Some("--no-tracking")),
        ] {
            let mut c = env.etraq();
            c.args(["user", "add", email, "--name", name]);
            if let Some(x) = extra {
                c.arg(x);
            }
            c.assert().success();
        }
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn etraq(&self) -> Command {
        let mut c = Command::cargo_bin("etraq").unwrap();
        c.current_dir(self.dir.path())
            .env("ETRAQ_STORE", &self.store)
            .env_remove("ETRAQ_CONFIG");
        c
    }

    /// Writes a mail file and ingests it at `now`; returns the JSON line.
    fn ingest(&self, name: &str, headers: &[(&str, &str)], now: &str) -> Value {
        let p = self.path(name);
        std::fs::write(&p, mail(headers)).unwrap();
        let out = self
            .etraq()
            .args(["ingest", "--json", "--now", now])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ingest failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("bad JSON line {text:?}: {e}"))
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.etraq().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: bad JSON: {e}"))
    }

    fn drs(&self) -> Vec<Value> {
        self.json(&["dr", "list", "--json"])
            .as_array()
            .unwrap()
            .clone()
    }

    fn dr(&self, id: &str) -> Value {
        self.json(&["dr", "show", id, "--json"])
    }
}

fn mail(headers: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\nHello.\r\n");
    s
}

fn first_mail(env: &Env) -> Value {
    env.ingest(
        "c1.eml",
        &[
            ("From", "Ann <ann@customer.test>"),
            ("To", "carol@example.com, support@example.com"),
            ("Cc", "bob@example.com"),
            ("Subject", "Printer on fire"),
            ("Message-ID", "<c1@customer.test>"),
        ],
        "2026-11-27T09:00:00Z",
    )
}

fn id_of(v: &Value) -> String {
    v["dr"]
        .as_str()
        .unwrap_or_else(|| panic!("no DR in {v}"))
        .to_string()
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name("sqlite") })*
        }
        mod sled {
            $(#[test] fn $name() { super::$name("sled") })*
        }
    };
}

on_both_stores!(
    new_customer_mail_opens_a_dr,
    tagged_reply_marks_replied,
    customer_reply_without_tag_threads_by_references,
    forward_changes_owner,
    local_to_local_is_local_email,
    tracking_off_is_not_tracked,
    out_of_office_changes_nothing,
    same_file_twice_is_duplicate,
    employee_first_mail_owner,
    stranger_with_tag_gets_new_dr,
    closed_dr_reopens,
    mbox_maildir_and_stdin,
    history_by_address_and_domain,
    archive_export_writes_an_mbox_that_reads_back,
    search_finds_mail_by_its_words,
);

/// `search` on either store: words, an operator, JSON rows with snippets, and a query that
/// does not parse named in a usage-free error.
fn search_finds_mail_by_its_words(backend: &str) {
    let env = Env::new(backend);
    first_mail(&env);
    env.ingest(
        "x.eml",
        &[
            ("From", "Bea <bea@customer.test>"),
            ("To", "alice@example.com"),
            ("Subject", "Toner from the warehouse in Köln"),
            ("Message-ID", "<x@customer.test>"),
        ],
        "2026-11-28T09:30:00Z",
    );
    let rows = env.json(&["search", "--json", "koln toner"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["message_id"], "x@customer.test");
    assert_eq!(rows[0]["from"], "bea@customer.test");
    let rows = env.json(&["search", "--json", "subject:printer"]);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["message_id"], "c1@customer.test");
    let rows = env.json(&["search", "--json", "from:customer.test -printer"]);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    env.etraq()
        .args(["search", "Toner"])
        .assert()
        .success()
        .stdout(predicates::str::contains("Toner from the warehouse"));
    env.etraq()
        .args(["search", "after:someday"])
        .assert()
        .failure()
        .code(1)
        .stderr(predicates::str::contains("\"someday\" is not a date"));
}

/// `archive export` on either store: an mbox of the raw messages, filtered by party and time,
/// that Python's `mailbox` module (a reader nobody here wrote) reads back message for message;
/// a `From ` line in a body is quoted; an existing file is never overwritten.
fn archive_export_writes_an_mbox_that_reads_back(backend: &str) {
    let env = Env::new(backend);
    first_mail(&env);
    env.ingest(
        "x.eml",
        &[
            ("From", "Bea <bea@customer.test>"),
            ("To", "alice@example.com"),
            ("Subject", "From the warehouse"),
            ("Message-ID", "<x@customer.test>"),
        ],
        "2026-11-28T09:30:00Z",
    );
    env.ingest(
        "y.eml",
        &[
            ("From", "zed@other.test"),
            ("To", "alice@example.com"),
            ("Subject", "Unrelated"),
            ("Message-ID", "<y@other.test>"),
        ],
        "2026-11-29T09:40:00Z",
    );
    let all = env.path("all.mbox");
    env.etraq()
        .args(["archive", "export", "--output"])
        .arg(&all)
        .assert()
        .success()
        .stderr(predicates::str::contains("exported 3 messages"));
    let text = std::fs::read_to_string(&all).unwrap();
    assert_eq!(
        text.matches("\nFrom ").count() + usize::from(text.starts_with("From ")),
        3,
        "{text}"
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import mailbox,sys; print('|'.join(m['Message-ID'] for m in mailbox.mbox(sys.argv[1])))")
        .arg(&all)
        .output();
    if let Some(out) = out.ok().filter(|o| o.status.success()) {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "<c1@customer.test>|<x@customer.test>|<y@other.test>"
        );
    } else {
        eprintln!("python3 is missing: the mbox was not read back by a second reader");
    }
    let by_domain = env
        .etraq()
        .args([
            "archive",
            "export",
            "--party",
            "@customer.test",
            "--since",
            "2026-11-28",
        ])
        .output()
        .unwrap();
    let s = String::from_utf8(by_domain.stdout).unwrap();
    assert!(
        s.contains("<x@customer.test>")
            && !s.contains("<c1@customer.test>")
            && !s.contains("<y@other.test>"),
        "{s}"
    );
    env.etraq()
        .args(["archive", "export", "--output"])
        .arg(&all)
        .assert()
        .failure()
        .code(1)
        .stderr(predicates::str::contains("cannot create"));
    env.etraq()
        .args(["archive", "export", "--until", "tomorrow"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--until \"tomorrow\""));
}

fn new_customer_mail_opens_a_dr(backend: &str) {
    let env = Env::new(backend);
    let line = first_mail(&env);
    assert_eq!(line["decision"], "tracked");
    assert_eq!(line["mail_type"], "Normal Mail");
    assert_eq!(line["reason"], Value::Null);
    assert_eq!(line["message_id"], "c1@customer.test");
    let drs = env.drs();
    assert_eq!(drs.len(), 1);
    let d = &drs[0];
    for field in [
        "id",
        "owner",
        "sender",
        "recipient",
        "subject",
        "assigned_on",
        "cc_users",
        "mail_type",
        "status",
        "escalation_level",
    ] {
        assert!(d.get(field).is_some(), "dr list --json lacks {field}: {d}");
    }
    assert_eq!(d["id"], line["dr"]);
    assert!(d["id"].as_str().unwrap().starts_with("SUPP-11272026."));
    assert_eq!(d["owner"], "support@example.com");
    assert_eq!(
        d["cc_users"],
        serde_json::json!(["carol@example.com", "bob@example.com"])
    );
    assert_eq!(d["status"], "open");
    assert_eq!(d["assigned_on"], "2026-11-27T09:00:00Z");
    // The table shows the original eTraq Server's columns.
    env.etraq().args(["dr", "list"]).assert().success().stdout(
        predicate::str::contains("DR Assigned").and(predicate::str::contains("Printer on fire")),
    );
}

fn tagged_reply_marks_replied(backend: &str) {
    let env = Env::new(backend);
    let id = id_of(&first_mail(&env));
    let line = env.ingest(
        "r1.eml",
        &[
            ("From", "support@example.com"),
            ("To", "ann@customer.test"),
            ("Subject", &format!("Re: [{id}] Printer on fire")),
            ("Message-ID", "<r1@example.com>"),
        ],
        "2026-11-27T11:00:00Z",
    );
    assert_eq!(line["mail_type"], "Replied Mail");
    assert_eq!(line["dr"], id.as_str());
    let d = env.dr(&id);
    assert_eq!(d["status"], "replied");
    assert_eq!(d["first_response_at"], "2026-11-27T11:00:00Z");
    assert_eq!(d["awaiting_since"], Value::Null);
    assert_eq!(d["messages"].as_array().unwrap().len(), 2);
}

fn customer_reply_without_tag_threads_by_references(backend: &str) {
    let env = Env::new(backend);
    let id = id_of(&first_mail(&env));
    env.ingest(
        "r1.eml",
        &[
            ("From", "support@example.com"),
            ("To", "ann@customer.test"),
            ("Subject", &format!("Re: [{id}] Printer on fire")),
            ("Message-ID", "<r1@example.com>"),
        ],
        "2026-11-27T10:00:00Z",
    );
    let line = env.ingest(
        "c2.eml",
        &[
            ("From", "ann@customer.test"),
            ("To", "support@example.com"),
            ("Subject", "Re: Printer on fire"),
            ("References", "<c1@customer.test> <r1@example.com>"),
            ("Message-ID", "<c2@customer.test>"),
        ],
        "2026-11-27T12:00:00Z",
    );
    assert_eq!(line["mail_type"], "Normal Mail");
    assert_eq!(line["dr"], id.as_str());
    assert_eq!(env.dr(&id)["status"], "open");
    assert_eq!(env.drs().len(), 1);
}

fn forward_changes_owner(backend: &str) {
    let env = Env::new(backend);
    let id = id_of(&first_mail(&env));
    let line = env.ingest(
        "fw.eml",
        &[
            ("From", "support@example.com"),
            ("To", "alice@example.com"),
            ("Subject", &format!("Fwd: [{id}] Printer on fire")),
            ("Message-ID", "<fw@example.com>"),
        ],
        "2026-11-27T09:30:00Z",
    );
    assert_eq!(line["mail_type"], "Forwarded");
    assert_eq!(env.dr(&id)["owner"], "alice@example.com");
}

fn local_to_local_is_local_email(backend: &str) {
    let env = Env::new(backend);
    let line = env.ingest(
        "l.eml",
        &[
            ("From", "alice@example.com"),
            ("To", "bob@example.com"),
            ("Subject", "Lunch"),
            ("Message-ID", "<l@example.com>"),
        ],
        "2026-11-27T09:00:00Z",
    );
    assert_eq!(line["decision"], "untracked");
    assert_eq!(line["reason"], "Local Email");
    let untracked = env.json(&["untracked", "list", "--json"]);
    let row = &untracked[0];
    for field in [
        "recipient",
        "sender",
        "subject",
        "cc_users",
        "mailed_on",
        "reason",
    ] {
        assert!(
            row.get(field).is_some(),
            "untracked list --json lacks {field}: {row}"
        );
    }
    assert_eq!(row["reason"], "Local Email");
    assert_eq!(row["sender"], "alice@example.com");
    env.etraq()
        .args(["untracked", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Mailed On").and(predicate::str::contains("Local Email")));
}

fn tracking_off_is_not_tracked(backend: &str) {
    let env = Env::new(backend);
    let line = env.ingest(
        "c.eml",
        &[
            ("From", "ann@customer.test"),
            ("To", "carol@example.com"),
            ("Subject", "Hi Carol"),
            ("Message-ID", "<cc@customer.test>"),
        ],
        "2026-11-27T09:00:00Z",
    );
    assert_eq!(line["reason"], "Tracking Disabled For Recipient");
    assert!(env.drs().is_empty());
    // Turning tracking on makes the next mail tracked.
    env.etraq()
        .args(["user", "set", "carol@example.com", "--tracking", "on"])
        .assert()
        .success();
    let line = env.ingest(
        "c2.eml",
        &[
            ("From", "ann@customer.test"),
            ("To", "carol@example.com"),
            ("Subject", "Hi again"),
            ("Message-ID", "<cc2@customer.test>"),
        ],
        "2026-11-27T09:10:00Z",
    );
    assert_eq!(line["decision"], "tracked");
}

fn out_of_office_changes_nothing(backend: &str) {
    let env = Env::new(backend);
    let id = id_of(&first_mail(&env));
    let before = env.dr(&id);
    let line = env.ingest(
        "ooo.eml",
        &[
            ("From", "ann@customer.test"),
            ("To", "support@example.com"),
            (
                "Subject",
                &format!("Automatic reply: [{id}] Printer on fire"),
            ),
            ("Auto-Submitted", "auto-replied"),
            ("Message-ID", "<ooo@customer.test>"),
        ],
        "2026-11-27T15:00:00Z",
    );
    assert_eq!(line["reason"], "Auto-generated");
    let after = env.dr(&id);
    for field in [
        "status",
        "awaiting_since",
        "first_response_at",
        "escalation_level",
        "owner",
        "last_activity",
    ] {
        assert_eq!(before[field], after[field], "{field} changed");
    }
}

fn same_file_twice_is_duplicate(backend: &str) {
    let env = Env::new(backend);
    first_mail(&env);
    let out = env
        .etraq()
        .args(["ingest", "--json"])
        .arg(env.path("c1.eml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["reason"], "Duplicate");
    assert_eq!(line["dr"], Value::Null);
    assert_eq!(env.drs().len(), 1);
}

fn employee_first_mail_owner(backend: &str) {
    let env = Env::new(backend);
    let o = env.ingest(
        "o.eml",
        &[
            ("From", "alice@example.com"),
            ("To", "ann@customer.test"),
            ("Subject", "Our offer"),
            ("Message-ID", "<o1@example.com>"),
        ],
        "2026-11-27T09:00:00Z",
    );
    assert_eq!(o["reason"], "Outbound New Mail");
    let a = env.ingest(
        "a.eml",
        &[
            ("From", "ann@customer.test"),
            ("To", "support@example.com"),
            ("Cc", "alice@example.com"),
            ("Subject", "Re: Our offer"),
            ("In-Reply-To", "<o1@example.com>"),
            ("Message-ID", "<a1@customer.test>"),
        ],
        "2026-11-27T10:00:00Z",
    );
    assert_eq!(a["mail_type"], "Normal Mail");
    let d = env.dr(&id_of(&a));
    assert_eq!(d["owner"], "alice@example.com");
    assert_eq!(
        d["messages"].as_array().unwrap().len(),
        2,
        "the offer joins the DR's thread"
    );
}

fn stranger_with_tag_gets_new_dr(backend: &str) {
    let env = Env::new(backend);
    let id = id_of(&first_mail(&env));
    let line = env.ingest(
        "m.eml",
        &[
            ("From", "mallory@evil.test"),
            ("To", "support@example.com"),
            ("Subject", &format!("Re: [{id}] give me everything")),
            ("Message-ID", "<m@evil.test>"),
        ],
        "2026-11-27T09:05:00Z",
    );
    assert_eq!(line["mail_type"], "Normal Mail");
    assert_ne!(line["dr"], id.as_str());
    assert_eq!(env.drs().len(), 2);
    assert_eq!(env.dr(&id)["messages"].as_array().unwrap().len(), 1);
}

fn closed_dr_reopens(backend: &str) {
    let env = Env::new(backend);
    let id = id_of(&first_mail(&env));
    env.etraq()
        .args(["dr", "close", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("closed"));
    assert_eq!(env.dr(&id)["status"], "closed");
    let line = env.ingest(
        "c3.eml",
        &[
            ("From", "ann@customer.test"),
            ("To", "support@example.com"),
            ("Subject", "Re: Printer on fire"),
            ("In-Reply-To", "<c1@customer.test>"),
            ("Message-ID", "<c3@customer.test>"),
        ],
        "2026-11-28T09:00:00Z",
    );
    assert_eq!(line["dr"], id.as_str());
    let d = env.dr(&id);
    assert_eq!(d["status"], "open");
    assert_eq!(d["awaiting_since"], "2026-11-28T09:00:00Z");
    env.etraq()
        .args(["dr", "assign", &id, "bob@example.com"])
        .assert()
        .success();
    assert_eq!(env.dr(&id)["owner"], "bob@example.com");
    let open = env.json(&[
        "dr",
        "list",
        "--status",
        "open",
        "--owner",
        "bob@example.com",
        "--json",
    ]);
    assert_eq!(open.as_array().unwrap().len(), 1);
    let closed = env.json(&["dr", "list", "--status", "closed", "--json"]);
    assert!(closed.as_array().unwrap().is_empty());
}

fn mbox_maildir_and_stdin(backend: &str) {
    let env = Env::new(backend);
    // An mbox with a thread: the reply comes after what it answers.
    let mut mbox = String::new();
    for (i, m) in [
        mail(&[
            ("From", "ann@customer.test"),
            ("To", "support@example.com"),
            ("Subject", "One"),
            ("Message-ID", "<mb1@customer.test>"),
        ]),
        mail(&[
            ("From", "support@example.com"),
            ("To", "ann@customer.test"),
            ("Subject", "Re: One"),
            ("In-Reply-To", "<mb1@customer.test>"),
            ("Message-ID", "<mb2@example.com>"),
        ]),
        mail(&[
            ("From", "zed@other.test"),
            ("To", "alice@example.com"),
            ("Subject", "From me"),
            ("Message-ID", "<mb3@other.test>"),
        ]),
    ]
    .iter()
    .enumerate()
    {
        mbox.push_str(&format!("From sender@x Fri Nov 27 09:0{i}:00 2026\n"));
        mbox.push_str(&m.replace("\r\n", "\n"));
        mbox.push('\n');
    }
    std::fs::write(env.path("box.mbox"), &mbox).unwrap();
    let out = env
        .etraq()
        .args([
            "ingest",
            "--json",
            "--now",
            "2026-11-27T10:00:00Z",
            "box.mbox",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["mail_type"], "Normal Mail");
    assert_eq!(lines[1]["mail_type"], "Replied Mail");
    assert_eq!(lines[1]["dr"], lines[0]["dr"]);
    assert_eq!(lines[2]["mail_type"], "Normal Mail");

    // A Maildir, read in delivery order (new/ and cur/).
    let md = env.path("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    std::fs::write(
        md.join("new/1800000001.M1.host"),
        mail(&[
            ("From", "ann@customer.test"),
            ("To", "support@example.com"),
            ("Subject", "Re: One"),
            ("In-Reply-To", "<mb2@example.com>"),
            ("Message-ID", "<md2@customer.test>"),
        ]),
    )
    .unwrap();
    std::fs::write(
        md.join("cur/1800000000.M1.host:2,S"),
        mail(&[
            ("From", "bo@client.test"),
            ("To", "support@example.com"),
            ("Subject", "Two"),
            ("Message-ID", "<md1@client.test>"),
        ]),
    )
    .unwrap();
    let out = env
        .etraq()
        .args([
            "ingest",
            "--json",
            "--now",
            "2026-11-27T11:00:00Z",
            "Maildir",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["message_id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["md1@client.test", "md2@customer.test"]
    );

    // Standard input, with envelope overrides.
    let raw = mail(&[
        ("From", "someone@else.test"),
        ("Subject", "No To header"),
        ("Message-ID", "<in1@else.test>"),
    ]);
    let out = env
        .etraq()
        .args([
            "ingest",
            "--json",
            "--rcpt",
            "bob@example.com",
            "--mail-from",
            "bounce@else.test",
            "-",
        ])
        .write_stdin(raw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["decision"], "tracked");
    assert_eq!(
        env.dr(line["dr"].as_str().unwrap())["owner"],
        "bob@example.com"
    );

    // A null envelope sender marks automatic mail.
    let raw = mail(&[
        ("From", "someone@else.test"),
        ("To", "bob@example.com"),
        ("Subject", "Delivery"),
        ("Message-ID", "<in2@else.test>"),
    ]);
    let out = env
        .etraq()
        .args(["ingest", "--json", "--mail-from", "<>", "-"])
        .write_stdin(raw)
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["reason"], "Auto-generated");
}

fn history_by_address_and_domain(backend: &str) {
    let env = Env::new(backend);
    first_mail(&env);
    env.ingest(
        "x.eml",
        &[
            ("From", "Bea <bea@Customer.TEST>"),
            ("To", "alice@example.com"),
            ("Subject", "Other"),
            ("Message-ID", "<x@customer.test>"),
        ],
        "2026-11-27T09:30:00Z",
    );
    env.ingest(
        "y.eml",
        &[
            ("From", "zed@other.test"),
            ("To", "alice@example.com"),
            ("Subject", "Unrelated"),
            ("Message-ID", "<y@other.test>"),
        ],
        "2026-11-27T09:40:00Z",
    );
    let ann = env.json(&["history", "ann@customer.test", "--json"]);
    assert_eq!(ann.as_array().unwrap().len(), 1);
    let domain = env.json(&["history", "@CUSTOMER.test", "--json"]);
    let ids: Vec<&str> = domain
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["c1@customer.test", "x@customer.test"]);
    let by_customer = env.json(&["dr", "list", "--customer", "@customer.test", "--json"]);
    assert_eq!(by_customer.as_array().unwrap().len(), 2);
}

#[test]
fn init_writes_config_and_store_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let etraq = || {
        let mut c = Command::cargo_bin("etraq").unwrap();
        c.current_dir(dir.path())
            .env_remove("ETRAQ_CONFIG")
            .env_remove("ETRAQ_STORE");
        c
    };
    etraq()
        .args(["init", "--local-domain", "Example.COM"])
        .assert()
        .success();
    let text = std::fs::read_to_string(dir.path().join("etraq.toml")).unwrap();
    assert!(text.contains("local_domains = [\"example.com\"]"));
    assert!(
        text.contains("# warn_after = \"4h\""),
        "defaults are shown commented"
    );
    assert!(dir.path().join("etraq-data/etraq.db").exists());
    std::fs::write(dir.path().join("etraq.toml"), format!("{text}\n# mine\n")).unwrap();
    etraq().arg("init").assert().code(1).stderr(
        predicate::str::contains("already exists").and(predicate::str::contains("--force")),
    );
    assert!(
        std::fs::read_to_string(dir.path().join("etraq.toml"))
            .unwrap()
            .contains("# mine")
    );
    etraq().args(["init", "--force"]).assert().success();
    assert!(
        !std::fs::read_to_string(dir.path().join("etraq.toml"))
            .unwrap()
            .contains("# mine")
    );
    etraq()
        .args(["--store", "sled:s", "init", "--force"])
        .assert()
        .success();
    assert!(dir.path().join("s").is_dir());
}

#[test]
fn bad_input_is_one_line_naming_it_with_exit_1() {
    let env = Env::new("sqlite");
    let one_line = |out: &std::process::Output, needle: &str| {
        assert_eq!(
            out.status.code(),
            Some(1),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
        assert!(err.contains(needle), "{err:?} does not name {needle:?}");
    };
    one_line(
        &env.etraq()
            .args(["ingest", "missing.eml"])
            .output()
            .unwrap(),
        "missing.eml",
    );
    std::fs::write(env.path("bad.mbox"), "this is no mbox\n").unwrap();
    one_line(
        &env.etraq().args(["ingest", "bad.mbox"]).output().unwrap(),
        "bad.mbox",
    );
    std::fs::write(
        env.path("bad.toml"),
        "local_domains = [\"example.com\"]\n[tracking]\ndr_prefx = \"X\"\n",
    )
    .unwrap();
    one_line(
        &env.etraq()
            .args(["--config", "bad.toml", "dr", "list"])
            .output()
            .unwrap(),
        "tracking.dr_prefx",
    );
    one_line(
        &env.etraq()
            .args(["--store", "mysql:db", "dr", "list"])
            .output()
            .unwrap(),
        "mysql",
    );
    std::fs::write(env.path("notes.txt"), "just text").unwrap();
    one_line(
        &env.etraq()
            .args(["--store", "sqlite:notes.txt", "dr", "list"])
            .output()
            .unwrap(),
        "notes.txt",
    );
    one_line(
        &env.etraq()
            .args(["--store", "sqlite:notes.txt/x.db", "dr", "list"])
            .output()
            .unwrap(),
        "notes.txt",
    );
    one_line(
        &env.etraq()
            .args(["dr", "show", "SUPP-99999999.1"])
            .output()
            .unwrap(),
        "SUPP-99999999.1",
    );
    // Usage errors exit with 2.
    env.etraq()
        .args(["dr", "list", "--status", "sleepy"])
        .assert()
        .code(2);
    env.etraq().args(["frobnicate"]).assert().code(2);
    // A malformed mail still gets a decision.
    std::fs::write(env.path("garbage.eml"), b"\x00\xff\xfe garbage \r\n\r\n").unwrap();
    env.etraq()
        .args(["ingest", "--json", "garbage.eml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"decision\""));
}

#[test]
fn the_config_file_drives_the_store_location() {
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("conf");
    std::fs::create_dir(&conf_dir).unwrap();
    std::fs::write(
        conf_dir.join("etraq.toml"),
        "local_domains = [\"example.com\"]\n[store]\nurl = \"sled:data\"\n",
    )
    .unwrap();
    let mut c = Command::cargo_bin("etraq").unwrap();
    c.current_dir(dir.path()).env_remove("ETRAQ_STORE").args([
        "--config",
        "conf/etraq.toml",
        "user",
        "add",
        "a@example.com",
        "--name",
        "A",
    ]);
    c.assert().success();
    assert!(
        Path::new(&conf_dir.join("data")).is_dir(),
        "the store path is relative to the config file"
    );
}

#[test]
fn escalation_alerts_reports_logs_and_status_through_the_binary() {
    let env = Env::new("sqlite");
    std::fs::write(
        env.path("etraq.toml"),
        "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n[escalation]\nwarn_after = \"4h\"\nescalate_after = \"1d\"\n",
    )
    .unwrap();
    env.etraq()
        .args([
            "user",
            "set",
            "support@example.com",
            "--supervisor",
            "alice@example.com",
        ])
        .assert()
        .success();
    let id = id_of(&first_mail(&env));
    // Nothing yet, then a warning, then nothing more at the same time.
    let quiet = env.json(&[
        "escalate",
        "--once",
        "--now",
        "2026-11-27T12:00:00Z",
        "--json",
    ]);
    assert_eq!(quiet["warned"], 0);
    assert!(quiet["alerts"].as_array().unwrap().is_empty());
    let warn = env.json(&[
        "escalate",
        "--once",
        "--now",
        "2026-11-27T13:00:00Z",
        "--json",
    ]);
    for field in ["warned", "escalated", "bypassed", "alerts"] {
        assert!(
            warn.get(field).is_some(),
            "escalate --json lacks {field}: {warn}"
        );
    }
    assert_eq!(warn["warned"], 1);
    let again = env.json(&[
        "escalate",
        "--once",
        "--now",
        "2026-11-27T13:00:00Z",
        "--json",
    ]);
    assert_eq!(
        again["warned"], 0,
        "a cycle run twice gave a second warning"
    );
    let esc = env.json(&[
        "escalate",
        "--once",
        "--now",
        "2026-11-28T10:00:00Z",
        "--json",
    ]);
    assert_eq!(esc["escalated"], 1);
    let alerts = env.json(&["alerts", "list", "--json"]);
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    for field in [
        "event_type",
        "user",
        "date_time",
        "source_dr",
        "assigned_on",
        "dr_owner",
    ] {
        assert!(
            alerts[0].get(field).is_some(),
            "alerts list --json lacks {field}"
        );
    }
    assert!(alerts.iter().any(|a| a["event_type"] == "Escalated"
        && a["user"] == "alice@example.com"
        && a["source_dr"] == id.as_str()));
    env.etraq()
        .args(["alerts", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Event Type").and(predicate::str::contains("DR Owner")));

    // Status shows the counters like the original eTraq Server's status bar.
    let status = env.json(&["status", "--json"]);
    assert_eq!(
        (
            status["WARNED"].as_u64(),
            status["ESCALATED"].as_u64(),
            status["open"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    env.etraq()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("ESCALATED : 1, WARNED : 1"));

    // Reports.
    let unreplied = env.json(&[
        "report",
        "unreplied",
        "--older-than",
        "1d",
        "--now",
        "2026-11-28T10:00:00Z",
        "--json",
    ]);
    assert_eq!(unreplied.as_array().unwrap().len(), 1);
    let none = env.json(&[
        "report",
        "unreplied",
        "--older-than",
        "2d",
        "--now",
        "2026-11-28T10:00:00Z",
        "--json",
    ]);
    assert!(none.as_array().unwrap().is_empty());
    env.ingest(
        "r.eml",
        &[
            ("From", "support@example.com"),
            ("To", "ann@customer.test"),
            ("Subject", &format!("Re: [{id}] Printer on fire")),
            ("Message-ID", "<rr@example.com>"),
        ],
        "2026-11-28T11:00:00Z",
    );
    let rt = env.json(&["report", "response-times", "--json"]);
    assert_eq!(rt[0]["user"], "support@example.com");
    assert_eq!(rt[0]["first"]["count"], 1);
    assert_eq!(rt[0]["first"]["median"], 26 * 3600);
    let vol = env.json(&[
        "report",
        "volume",
        "--since",
        "2026-11-27T00:00:00Z",
        "--until",
        "2026-11-29T00:00:00Z",
        "--json",
    ]);
    assert_eq!(vol.as_array().unwrap().len(), 2);

    // A reminder fires at its time.
    env.etraq()
        .args(["dr", "remind", &id, "--at", "2026-11-29T09:00:00Z"])
        .assert()
        .success();
    let rem = env.json(&[
        "escalate",
        "--once",
        "--now",
        "2026-11-29T09:00:00Z",
        "--json",
    ]);
    assert_eq!(rem["reminded"], 1);

    // The escalation logs.
    let logs = env.json(&["logs", "list", "--json"]);
    let names: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"EscWarnings-20261127130000.log"),
        "{names:?}"
    );
    for field in ["name", "size", "created", "modified"] {
        assert!(
            logs[0].get(field).is_some(),
            "logs list --json lacks {field}"
        );
    }
    env.etraq()
        .args(["logs", "show", "EscWarnings-20261127130000.log"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Warning for").and(predicate::str::contains("WARNED: 1")));
    env.etraq()
        .args(["logs", "show", "../etraq.toml"])
        .assert()
        .code(1);

    // Bad input.
    env.etraq()
        .args([
            "dr",
            "remind",
            "SUPP-11272026.999",
            "--at",
            "2026-11-29T09:00:00Z",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("SUPP-11272026.999"));
    env.etraq()
        .args(["escalate"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--once"));
    env.etraq()
        .args(["report", "unreplied", "--older-than", "soon"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--older-than"));
    std::fs::write(
        env.path("bad.toml"),
        "local_domains = [\"example.com\"]\n[escalation]\nwarn_after = \"4 fortnights or so\"\n",
    )
    .unwrap();
    env.etraq()
        .args(["--config", "bad.toml", "escalate", "--once"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("escalation.warn_after"));
}

/// Checks a Markdown table as the CLI prints it off a terminal: every row has as many cells as
/// the header, and no header cell is empty.
fn assert_tables_have_headers(what: &str, text: &str) {
    let cells = |l: &str| l.trim().trim_matches('|').split('|').count();
    let mut lines = text.lines().filter(|l| l.trim_start().starts_with('|'));
    let Some(header) = lines.next() else {
        panic!("{what}: no table in {text:?}");
    };
    let n = cells(header);
    for (i, h) in header.trim().trim_matches('|').split('|').enumerate() {
        assert!(
            !h.trim().is_empty(),
            "{what}: column {} has no header\n{text}",
            i + 1
        );
    }
    for l in lines {
        assert_eq!(
            cells(l),
            n,
            "{what}: a row has another number of cells than the header\n{text}"
        );
    }
}

#[test]
fn every_table_the_cli_prints_has_a_header_for_every_column() {
    let env = Env::new("sqlite");
    first_mail(&env);
    env.ingest(
        "u.eml",
        &[
            ("From", "alice@example.com"),
            ("To", "bob@example.com"),
            ("Subject", "lunch"),
            ("Message-ID", "<u1@example.com>"),
        ],
        "2026-11-27T09:30:00Z",
    );
    env.etraq()
        .args(["escalate", "--once", "--now", "2026-11-28T13:00:00Z"])
        .assert()
        .success();
    let id = env.drs()[0]["id"].as_str().unwrap().to_string();
    for args in [
        vec!["user", "list"],
        vec!["dr", "list"],
        vec!["dr", "show", &id],
        vec!["untracked", "list"],
        vec!["history", "@customer.test"],
        vec!["alerts", "list"],
        vec!["report", "unreplied"],
        vec!["report", "response-times"],
        vec!["report", "volume", "--since", "2026-11-01T00:00:00Z"],
        vec!["logs", "list"],
    ] {
        let out = env.etraq().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_tables_have_headers(&args.join(" "), &String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn control_characters_from_a_mail_never_reach_the_terminal_through_a_table() {
    let env = Env::new("sqlite");
    // An encoded word that decodes to ESC [ 2 J (clear screen) and a CR: a customer's subject
    // must not be able to repaint the agent's terminal.
    env.ingest(
        "evil.eml",
        &[
            ("From", "ann@customer.test"),
            ("To", "support@example.com"),
            ("Subject", "=?utf-8?q?refund=1B[2Jnow=0Dok?="),
            ("Message-ID", "<evil@customer.test>"),
        ],
        "2026-11-27T09:00:00Z",
    );
    let id = env.drs()[0]["id"].as_str().unwrap().to_string();
    for args in [
        vec!["dr", "list"],
        vec!["dr", "show", &id],
        vec!["history", "ann@customer.test"],
    ] {
        let out = env.etraq().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains('\x1b') && !text.contains('\r'),
            "{args:?}: {text:?}"
        );
        assert!(text.contains("refund"), "{args:?}: {text}");
    }
}

/// Runs `etraq ARGS` under a pseudo-terminal (util-linux `script`), as a person at a terminal
/// would; returns everything it wrote, or `None` when `script` is not installed.
fn on_a_terminal(env: &Env, args: &str) -> Option<String> {
    let bin = assert_cmd::cargo::cargo_bin("etraq");
    let out = std::process::Command::new("script")
        .args(["-qfec", &format!("{} {args}", bin.display()), "/dev/null"])
        .current_dir(env.dir.path())
        .env("ETRAQ_STORE", &env.store)
        .env_remove("ETRAQ_CONFIG")
        .env("TERM", "xterm")
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{args}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn ingest_on_a_terminal_shows_a_progress_bar_and_a_summary_not_a_line_per_message() {
    let env = Env::new("sqlite");
    let mut mbox = String::new();
    for i in 0..300 {
        mbox.push_str("From sender@x Fri Nov 27 09:00:00 2026\n");
        mbox.push_str(
            &mail(&[
                ("From", &format!("c{i}@customer.test")),
                ("To", "support@example.com"),
                ("Subject", &format!("Question {i}")),
                ("Message-ID", &format!("<q{i}@customer.test>")),
            ])
            .replace("\r\n", "\n"),
        );
        mbox.push('\n');
    }
    std::fs::write(env.path("big.mbox"), &mbox).unwrap();
    let Some(text) = on_a_terminal(&env, "ingest big.mbox") else {
        eprintln!("SKIPPED: util-linux `script` is not installed, so no terminal can be faked");
        return;
    };
    assert!(text.contains("ingesting"), "no progress bar: {text}");
    assert!(text.contains("ingested 300 messages"), "no summary: {text}");
    assert!(
        !text.contains("big.mbox#"),
        "per-message lines on a terminal: {text}"
    );
    // --verbose brings them back; off a terminal they are always printed (scripts read them).
    std::fs::write(env.path("more.mbox"), mbox.replace("<q", "<v")).unwrap();
    let text = on_a_terminal(&env, "ingest --verbose more.mbox").unwrap();
    assert!(text.contains("more.mbox#"), "{text}");
    std::fs::write(env.path("again.mbox"), mbox.replace("<q", "<w")).unwrap();
    let out = env.etraq().args(["ingest", "again.mbox"]).output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.starts_with("again.mbox#"))
            .count(),
        300,
        "{lines}"
    );
}

/// The subcommands a `--help` lists (without `help`).
fn subcommands_of(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The long options an option list of a `--help` declares.
fn flags_of(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=')
                .filter(|w| w.starts_with("--") && w.len() > 2)
                .map(|w| {
                    w.trim_end_matches(|c: char| !c.is_alphanumeric())
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_command_reference_in_docs_lists_every_command_and_flag() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli-commands.md"),
    )
    .unwrap();
    let help = |path: &[String]| {
        let out = Command::cargo_bin("etraq")
            .unwrap()
            .args(path)
            .arg("--help")
            .env_remove("ETRAQ_CONFIG")
            .env_remove("ETRAQ_STORE")
            .output()
            .unwrap();
        assert!(out.status.success(), "{path:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let section = |title: &str| -> String {
        let start = doc
            .lines()
            .position(|l| l.trim_start_matches('#').trim() == title)
            .unwrap_or_else(|| {
                panic!("docs/cli-commands.md has no section {title:?}; run scripts/gen-cli-doc.sh")
            });
        doc.lines()
            .skip(start + 1)
            .take_while(|l| !l.starts_with("## ") && !l.starts_with("### "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut paths: Vec<Vec<String>> = vec![vec![]];
    for c in subcommands_of(&help(&[])) {
        for s in subcommands_of(&help(std::slice::from_ref(&c))) {
            paths.push(vec![c.clone(), s]);
        }
        paths.push(vec![c]);
    }
    assert!(paths.len() > 30, "{paths:?}");
    for path in &paths {
        let title = std::iter::once("etraq".to_string())
            .chain(path.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let text = section(&title);
        for flag in flags_of(&help(path)) {
            assert!(
                text.contains(&flag),
                "{title}: {flag} is missing from docs/cli-commands.md; run scripts/gen-cli-doc.sh"
            );
        }
    }
}
