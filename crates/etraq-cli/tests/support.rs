//! Customer service on the real binary: replies from etraq (threading headers, recorded once,
//! the customer's answer threads back, the gateway copy is a duplicate, every refusal clear),
//! transcripts (an internal note never in them, mailed through the outbox by serve), the
//! knowledge base on the command line, and an acknowledgement rule whose template fails at
//! delivery time: disabled with its error shown, the mail tracked all the same.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

mod common;

use common::*;
use etraq_smtp::testing::{Behavior, FakeUpstream};

struct Ports {
    smtp: u16,
}

fn setup(d: &Path, up: &FakeUpstream, extra: &str) -> Ports {
    let p = Ports { smtp: free_port() };
    std::fs::write(
        d.join("etraq.toml"),
        format!(
            "local_domains = [\"shop.example\"]\ntimezone = \"UTC\"\n\
             [smtp]\nlisten = \"127.0.0.1:{}\"\n\
             [web]\nlisten = \"127.0.0.1:{}\"\n\
             [upstream]\nhost = \"127.0.0.1\"\nport = {}\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n{extra}",
            p.smtp,
            free_port(),
            up.addr.port()
        ),
    )
    .unwrap();
    ok(
        d,
        &["user", "add", "ann@shop.example", "--name", "Ann Agent"],
    );
    ok(
        d,
        &["user", "add", "bob@shop.example", "--name", "Bob Boss"],
    );
    p
}

fn write(d: &Path, name: &str, text: &str) {
    std::fs::write(d.join(name), text).unwrap();
}

/// Carla's first mail: a new DR for Ann. Answers the DR id.
fn carla_writes(d: &Path) -> String {
    write(
        d,
        "q1.eml",
        "From: Carla Customer <carla@customer.example>\r\nTo: Ann Agent <ann@shop.example>\r\n\
         Subject: Broken vase\r\nMessage-ID: <q1@customer.example>\r\n\
         Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\nThe vase came in pieces. Money back?\r\n",
    );
    ok(d, &["ingest", "q1.eml"]);
    let drs = json(d, &["dr", "list", "--json"]);
    drs[0]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_from_etraq_is_threaded_recorded_once_and_the_answer_threads_back() {
    let up = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &up, "");
    let id = carla_writes(d);
    write(
        d,
        "reply.txt",
        "Dear Carla,\n\nsorry! A new vase is on its way.\n\nAnn",
    );
    let answer = json(
        d,
        &[
            "dr",
            "reply",
            &id,
            "--body-file",
            "reply.txt",
            "--cc",
            "boss@customer.example",
            "--json",
        ],
    );
    assert_eq!(answer["mail_type"], "Replied Mail");
    // What reached the relay: threaded to Carla's mail, tagged, from the owner, with the Cc.
    let got = up.received();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.mail_from, "ann@shop.example");
    let mut rcpt = m.rcpt_to.clone();
    rcpt.sort();
    assert_eq!(rcpt, ["boss@customer.example", "carla@customer.example"]);
    assert_eq!(
        m.header("In-Reply-To").as_deref(),
        Some("<q1@customer.example>")
    );
    assert_eq!(
        m.header("References").as_deref(),
        Some("<q1@customer.example>")
    );
    let subject = m.header("Subject").unwrap();
    assert_eq!(subject, format!("Re: [{id}] Broken vase"));
    assert!(
        m.header("Auto-Submitted").is_none(),
        "a person's reply is not automatic"
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&m.data)
        .unwrap();
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains("A new vase is on its way."), "{text}");
    assert!(
        text.contains("> The vase came in pieces. Money back?"),
        "{text}"
    );
    let reply_id = parsed.message_id().unwrap().to_string();
    assert_eq!(answer["message_id"], reply_id.as_str());

    // Recorded once, as the response.
    let detail = json(d, &["dr", "show", &id, "--json"]);
    let replies: Vec<&serde_json::Value> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["mail_type"] == "Replied Mail")
        .collect();
    assert_eq!(replies.len(), 1, "{detail:#}");
    assert_eq!(detail["status"], "replied");
    assert!(detail["first_response_at"].is_string(), "{detail:#}");

    // The same mail passing the gateway afterwards is a duplicate and changes nothing.
    std::fs::write(d.join("copy.eml"), &m.data).unwrap();
    let out = ok(d, &["ingest", "copy.eml"]);
    assert!(out.contains("Duplicate"), "{out}");
    let detail = json(d, &["dr", "show", &id, "--json"]);
    let n = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["mail_type"] == "Replied Mail")
        .count();
    assert_eq!(n, 1);

    // Carla answers the reply without the tag: it threads back to the DR by References.
    write(
        d,
        "q2.eml",
        &format!(
            "From: <carla@customer.example>\r\nTo: <ann@shop.example>\r\nSubject: Re: vase\r\n\
             Message-ID: <q2@customer.example>\r\nIn-Reply-To: <{reply_id}>\r\n\
             References: <q1@customer.example> <{reply_id}>\r\n\
             Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\nThank you!\r\n"
        ),
    );
    let out = ok(d, &["ingest", "q2.eml"]);
    assert!(out.contains(&id), "{out}");
    assert_eq!(
        json(d, &["dr", "list", "--json"]).as_array().unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_that_cannot_be_sent_are_refused_clearly_and_record_nothing() {
    let up = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &up, "");
    let id = carla_writes(d);
    write(d, "empty.txt", "  \n\n");
    write(d, "reply.txt", "Hello");
    refused(
        d,
        &["dr", "reply", &id, "--body-file", "empty.txt"],
        "a reply needs a text",
    );
    refused(
        d,
        &["dr", "reply", &id, "--body-file", "missing.txt"],
        "missing.txt",
    );
    refused(
        d,
        &[
            "dr",
            "reply",
            &id,
            "--body-file",
            "reply.txt",
            "--as",
            "nobody@shop.example",
        ],
        "not a registered user",
    );
    refused(
        d,
        &[
            "dr",
            "reply",
            &id,
            "--body-file",
            "reply.txt",
            "--cc",
            "not an address",
        ],
        "--cc",
    );
    refused(
        d,
        &[
            "dr",
            "reply",
            "SUPP-01012026.99",
            "--body-file",
            "reply.txt",
        ],
        "not found",
    );
    // The relay refuses: nothing is recorded, the error names the relay.
    up.set(Behavior::RejectMail("451 4.3.0 try later".into()));
    refused(
        d,
        &["dr", "reply", &id, "--body-file", "reply.txt"],
        "relay",
    );
    up.set(Behavior::Accept);
    let detail = json(d, &["dr", "show", &id, "--json"]);
    assert_eq!(
        detail["messages"].as_array().unwrap().len(),
        1,
        "{detail:#}"
    );
    // A closed DR must be reopened first.
    ok(d, &["dr", "close", &id]);
    refused(
        d,
        &["dr", "reply", &id, "--body-file", "reply.txt"],
        "is closed",
    );
    ok(d, &["dr", "reopen", &id]);
    // A DR whose customer became a local address has no customer to answer.
    let cfg = std::fs::read_to_string(d.join("etraq.toml"))
        .unwrap()
        .replace(
            "local_domains = [\"shop.example\"]",
            "local_domains = [\"shop.example\", \"customer.example\"]",
        );
    std::fs::write(d.join("etraq.toml"), cfg).unwrap();
    refused(
        d,
        &["dr", "reply", &id, "--body-file", "reply.txt"],
        "has no customer",
    );
    assert!(up.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcript_never_holds_an_internal_note_and_goes_out_through_the_outbox() {
    let up = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = setup(d, &up, "[support]\ntranscript_on_close = true\n");
    let id = carla_writes(d);
    write(d, "reply.txt", "We send a new vase today.");
    ok(d, &["dr", "reply", &id, "--body-file", "reply.txt"]);
    // An internal note and an internal forward on the DR, with words that must stay inside.
    write(
        d,
        "note.eml",
        &format!(
            "From: <ann@shop.example>\r\nTo: <bob@shop.example>\r\nSubject: [{id}] note\r\n\
             Message-ID: <note1@shop.example>\r\nDate: Sat, 05 Dec 2026 11:00:00 +0000\r\n\r\n\
             SECRET-NOTE: she is a VIP, give her 20% off.\r\n"
        ),
    );
    let out = ok(d, &["ingest", "note.eml"]);
    assert!(out.contains("Internal Note"), "{out}");
    let text = ok(d, &["dr", "transcript", &id]);
    assert!(!text.contains("SECRET-NOTE"), "{text}");
    assert!(text.contains("The vase came in pieces"), "{text}");
    assert!(text.contains("We send a new vase today."), "{text}");
    let html = ok(d, &["dr", "transcript", &id, "--html"]);
    assert!(!html.contains("SECRET-NOTE") && html.contains("We send a new vase today."));

    // support.transcript_on_close: closing mails it; serve's notifier takes it to the relay.
    let before = up.received().len();
    ok(d, &["dr", "close", &id]);
    let mut child = serve(d, p.smtp).await;
    wait_for("the transcript", || up.received().len() > before).await;
    let _ = child.kill();
    let _ = child.wait();
    let m = up.received().pop().unwrap();
    assert_eq!(m.rcpt_to, ["carla@customer.example"]);
    assert_eq!(
        m.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert!(m.header("Subject").unwrap().contains(&id));
    let raw = String::from_utf8_lossy(&m.data);
    let parsed = mail_parser::MessageParser::default()
        .parse(&m.data)
        .unwrap();
    let body = parsed.body_text(0).unwrap();
    assert!(body.contains("We send a new vase today."), "{body}");
    assert!(!raw.contains("SECRET-NOTE") && !body.contains("SECRET-NOTE"));
    assert!(parsed.body_html(0).is_some(), "text and HTML");
    // --no-transcript overrides the configured default.
    ok(d, &["dr", "reopen", &id]);
    ok(d, &["dr", "close", &id, "--no-transcript"]);
}

#[test]
fn the_knowledge_base_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("etraq.toml"),
        "local_domains = [\"shop.example\"]\n[store]\nurl = \"sled:data/store\"\n",
    )
    .unwrap();
    write(
        d,
        "a.md",
        "Send us a **photo** within 14 days.\n\n<script>alert(1)</script>",
    );
    let a = json(
        d,
        &[
            "kb",
            "add",
            "An item arrived broken",
            "--file",
            "a.md",
            "--tag",
            "Returns",
            "--public",
            "--json",
        ],
    );
    assert_eq!(a["version"], 1);
    assert_eq!(a["tags"], serde_json::json!(["returns"]));
    let id = a["id"].as_u64().unwrap().to_string();
    write(d, "b.md", "We refund within 3 working days.");
    ok(
        d,
        &["kb", "add", "When will my refund arrive?", "--file", "b.md"],
    );
    let hits = json(d, &["kb", "search", "my parcel came smashed", "--json"]);
    assert_eq!(hits[0]["id"].as_u64().unwrap().to_string(), id, "{hits:#}");
    assert!(hits[0]["title"].is_string() && hits[0]["score"].is_number());
    let hits = json(d, &["kb", "search", "money back", "--json"]);
    assert_eq!(hits[0]["title"], "When will my refund arrive?", "{hits:#}");
    ok(
        d,
        &[
            "kb",
            "set",
            &id,
            "--title",
            "An item arrived broken or damaged",
            "--private",
        ],
    );
    let shown = json(d, &["kb", "show", &id, "--json"]);
    assert_eq!(shown["article"]["version"], 2);
    assert_eq!(shown["article"]["public"], false);
    assert_eq!(shown["history"].as_array().unwrap().len(), 2);
    let text = ok(d, &["kb", "show", &id]);
    assert!(
        text.contains("History:") && text.contains("v1") && text.contains("v2"),
        "{text}"
    );
    refused(d, &["kb", "add", " ", "--file", "a.md"], "title");
    refused(d, &["kb", "add", "x", "--file", "nope.md"], "nope.md");
    refused(d, &["kb", "set", "999", "--title", "x"], "not found");
    ok(d, &["kb", "delete", &id]);
    refused(d, &["kb", "show", &id], "not found");
    assert_eq!(
        json(d, &["kb", "list", "--json"]).as_array().unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_whose_template_fails_is_disabled_with_its_error_and_the_mail_is_tracked() {
    let up = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = setup(d, &up, "");
    // Compiles and renders for an empty DR, fails for a real one (division by zero).
    write(d, "t.html", "<p>{% if dr.id %}{{ 1 / 0 }}{% endif %}</p>");
    ok(
        d,
        &[
            "template",
            "add",
            "fragile",
            "--kind",
            "acknowledgement",
            "--subject",
            "Re: {{ dr.subject }}",
            "--html",
            "t.html",
        ],
    );
    // A template that names a field acknowledgements do not have is refused at once.
    write(d, "bad.html", "<p>{{ subscriber.email }}</p>");
    refused(
        d,
        &[
            "template",
            "add",
            "wrong",
            "--kind",
            "acknowledgement",
            "--subject",
            "x",
            "--html",
            "bad.html",
        ],
        "unknown merge field `subscriber.email`",
    );
    refused(
        d,
        &["autoreply", "add", "r0", "--template", "nosuch"],
        "not found",
    );
    refused(
        d,
        &["autoreply", "add", "r0", "--subject-matches", "(["],
        "regular expression",
    );
    ok(d, &["autoreply", "add", "r1", "--template", "fragile"]);
    let mut child = serve(d, p.smtp).await;
    smtp_send(
        p.smtp,
        "dave@customer.example",
        "ann@shop.example",
        b"From: <dave@customer.example>\r\nTo: <ann@shop.example>\r\nSubject: Help\r\nMessage-ID: <d1@customer.example>\r\n\r\nHelp me.\r\n",
    )
    .await;
    wait_for("the rule to be disabled", || {
        json(d, &["autoreply", "show", "r1", "--json"])["error"].is_string()
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let rule = json(d, &["autoreply", "show", "r1", "--json"]);
    assert!(
        rule["error"].as_str().unwrap().contains("fragile"),
        "{rule:#}"
    );
    let listed = ok(d, &["autoreply", "list"]);
    assert!(listed.contains("DISABLED"), "{listed}");
    // The mail was tracked and relayed; no acknowledgement left.
    let drs = json(d, &["dr", "list", "--json"]);
    assert_eq!(drs.as_array().unwrap().len(), 1);
    assert!(
        up.received()
            .iter()
            .all(|m| m.header("Auto-Submitted").is_none())
    );
    assert_eq!(up.received().len(), 1);
    // Fixed (a working template under the same name), the rule is enabled again.
    write(d, "t.html", "<p>We got it: {{ dr.id }}</p>");
    ok(
        d,
        &[
            "template",
            "add",
            "fragile",
            "--kind",
            "acknowledgement",
            "--subject",
            "Re: {{ dr.subject }}",
            "--html",
            "t.html",
        ],
    );
    ok(d, &["autoreply", "enable", "r1"]);
    assert!(json(d, &["autoreply", "show", "r1", "--json"])["error"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mails_from_one_sender_arriving_at_once_get_one_acknowledgement() {
    let up = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = setup(d, &up, "");
    ok(d, &["autoreply", "add", "all"]);
    let mut child = serve(d, p.smtp).await;
    // Eight sessions at once, each a new conversation from the same customer.
    let mut sends = Vec::new();
    for i in 0..8 {
        let port = p.smtp;
        sends.push(tokio::spawn(async move {
            let raw = format!(
                "From: <eve@customer.example>\r\nTo: <ann@shop.example>\r\nSubject: Topic {i}\r\n\
                 Message-ID: <e{i}@customer.example>\r\n\r\nQuestion {i}.\r\n"
            );
            smtp_send(
                port,
                "eve@customer.example",
                "ann@shop.example",
                raw.as_bytes(),
            )
            .await;
        }));
    }
    for s in sends {
        s.await.unwrap();
    }
    assert_eq!(
        json(d, &["dr", "list", "--json"]).as_array().unwrap().len(),
        8
    );
    // Give the notifier time to mail whatever was queued.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = child.kill();
    let _ = child.wait();
    let acks = up
        .received()
        .iter()
        .filter(|m| m.header("Auto-Submitted").as_deref() == Some("auto-replied"))
        .count();
    assert_eq!(acks, 1, "one acknowledgement for eight mails at once");
    let history = json(d, &["history", "eve@customer.example", "--json"]);
    let recorded = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["mail_type"] == "Auto Reply")
        .count();
    assert_eq!(recorded, 1);
}
