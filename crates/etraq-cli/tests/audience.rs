//! `etraq list`, `subscriber`, `blocklist` and `template` through the real binary, on both
//! stores: CSV import with broken rows, re-import, export, opt-in and consent rules, the
//! contract JSON, templates checked when added and previewed as real messages.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use assert_cmd::Command;
use serde_json::Value;

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
        Env { dir, store }
    }

    fn etraq(&self) -> Command {
        let mut c = Command::cargo_bin("etraq").unwrap();
        c.current_dir(self.dir.path())
            .env("ETRAQ_STORE", &self.store)
            .env_remove("ETRAQ_CONFIG");
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.etraq().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: bad JSON {text:?}: {e}"))
    }

    /// Runs a command that must fail with status 1; returns its standard error.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.etraq().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {out:?}");
        String::from_utf8(out.stderr).unwrap()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_string_lossy().into_owned()
    }
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
    import_reports_broken_rows_by_line_and_imports_the_rest,
    a_second_import_updates_instead_of_duplicating,
    consent_withdrawn_is_never_overridden,
    double_opt_in_lists_keep_new_members_unconfirmed,
    export_imports_back_and_lists_count_members,
    every_builtin_template_previews_as_a_two_part_message,
    templates_are_checked_when_added,
    segments_pick_the_recipients_a_campaign_would_have,
    a_campaign_in_evaluation_mode_lands_in_the_maildir_and_skips_who_left,
);

fn import_reports_broken_rows_by_line_and_imports_the_rest(backend: &str) {
    let env = Env::new(backend);
    env.ok(&["list", "create", "News"]);
    let mut csv = b"email,name,country\n".to_vec();
    csv.extend_from_slice(b"ann@example.org,\"Smith, Ann\",DE\n"); // 2: quoted comma
    csv.extend_from_slice(b"not-an-address,X,FR\n"); // 3: bad address
    csv.extend_from_slice(b"b\xffb@example.org,Bad,FR\n"); // 4: bad UTF-8
    csv.extend_from_slice(b"big@example.org,");
    csv.extend(std::iter::repeat_n(b'x', 1024 * 1024)); // 5: a 1 MB field
    csv.extend_from_slice(b",FR\n");
    csv.extend_from_slice(b"bob@example.org,Bob,\n"); // 6
    let file = env.write("people.csv", &csv);
    let r = env.json(&["subscriber", "import", &file, "--list", "news", "--json"]);
    assert_eq!(r["imported"], 2, "{r}");
    assert_eq!(r["updated"], 0, "{r}");
    assert_eq!(r["skipped"], 0, "{r}");
    let errors = r["errors"].as_array().unwrap();
    let lines: Vec<u64> = errors.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 4, 5], "{r}");
    for e in errors {
        assert!(!e["reason"].as_str().unwrap().is_empty(), "{e}");
    }
    let ann = env.json(&["subscriber", "show", "ann@example.org", "--json"]);
    assert_eq!(ann["name"], "Smith, Ann");
    assert_eq!(ann["attribs"]["country"], "DE");
    assert_eq!(ann["blocklisted"], false);
    assert_eq!(ann["lists"][0]["name"], "News");
    assert_eq!(ann["lists"][0]["status"], "confirmed");
    assert!(ann["events"].as_array().unwrap().is_empty());

    // A file without an email column stops at once, naming the header line.
    let file = env.write("no-email.csv", b"name,country\nAnn,DE\n");
    let err = env.fails(&["subscriber", "import", &file, "--list", "news"]);
    assert!(err.contains("line 1") && err.contains("email"), "{err}");
    // So do a missing list and a missing file, by name.
    let err = env.fails(&["subscriber", "import", &file, "--list", "nope"]);
    assert!(err.contains("list not found: nope"), "{err}");
    let err = env.fails(&["subscriber", "import", "missing.csv", "--list", "news"]);
    assert!(err.contains("missing.csv"), "{err}");
}

fn a_second_import_updates_instead_of_duplicating(backend: &str) {
    let env = Env::new(backend);
    env.ok(&["list", "create", "News"]);
    let file = env.write(
        "a.csv",
        b"Email,Name,Plan\nAnn@Example.org,Ann,pro\nbob@example.org,Bob,free\n",
    );
    env.ok(&["subscriber", "import", &file, "--list", "News"]);
    let file = env.write(
        "b.csv",
        b"email,plan\nann@example.org,team\ncid@example.org,\n",
    );
    let r = env.json(&["subscriber", "import", &file, "--list", "NEWS", "--json"]);
    assert_eq!(
        (r["imported"].as_u64(), r["updated"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    let all = env.json(&["subscriber", "list", "--json"]);
    let emails: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["ann@example.org", "bob@example.org", "cid@example.org"]
    );
    let ann = env.json(&["subscriber", "show", "ANN@example.org", "--json"]);
    assert_eq!(
        ann["name"], "Ann",
        "a file without names keeps the stored one"
    );
    assert_eq!(ann["attribs"]["Plan"], "pro");
    assert_eq!(ann["attribs"]["plan"], "team");
}

fn consent_withdrawn_is_never_overridden(backend: &str) {
    let env = Env::new(backend);
    env.ok(&["list", "create", "News"]);
    env.ok(&[
        "subscriber",
        "add",
        "ann@example.org",
        "--list",
        "News",
        "--name",
        "Ann",
    ]);
    env.ok(&["subscriber", "unsubscribe", "ann@example.org"]);
    env.ok(&["blocklist", "add", "@spam.test"]);
    env.ok(&[
        "blocklist",
        "add",
        "eve@example.org",
        "--reason",
        "complaint",
    ]);
    let file = env.write(
        "c.csv",
        b"email\nann@example.org\nzed@spam.test\neve@example.org\nok@example.org\n",
    );
    let r = env.json(&[
        "subscriber",
        "import",
        &file,
        "--list",
        "news",
        "--confirmed",
        "--json",
    ]);
    assert_eq!(r["imported"], 1, "{r}");
    assert_eq!(r["skipped"], 3, "{r}");
    let ann = env.json(&["subscriber", "show", "ann@example.org", "--json"]);
    assert_eq!(ann["lists"][0]["status"], "unsubscribed");
    let missing = env.fails(&["subscriber", "show", "zed@spam.test"]);
    assert!(missing.contains("zed@spam.test"), "{missing}");
    let blocked = env.json(&["blocklist", "list", "--json"]);
    let rows: Vec<(String, String)> = blocked
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["address"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("@spam.test".to_string(), "manual".to_string()),
            ("eve@example.org".to_string(), "complaint".to_string())
        ]
    );
    assert!(blocked[0]["created_at"].is_string());
    env.ok(&["blocklist", "remove", "@spam.test"]);
    let err = env.fails(&["blocklist", "remove", "@spam.test"]);
    assert!(err.contains("@spam.test"), "{err}");
    let err = env.fails(&["blocklist", "add", "@"]);
    assert!(err.contains("address"), "{err}");
}

fn double_opt_in_lists_keep_new_members_unconfirmed(backend: &str) {
    let env = Env::new(backend);
    env.ok(&["list", "create", "Beta", "--double-opt-in", "--public"]);
    env.ok(&["subscriber", "add", "ann@example.org", "--list", "beta"]);
    env.ok(&[
        "subscriber",
        "add",
        "bob@example.org",
        "--list",
        "beta",
        "--confirmed",
    ]);
    let l = env.json(&["list", "show", "beta", "--json"]);
    assert_eq!(l["opt_in"], "double");
    assert_eq!(l["public"], true);
    assert_eq!(
        (l["confirmed"].as_u64(), l["unconfirmed"].as_u64()),
        (Some(1), Some(1)),
        "{l}"
    );
    let unconfirmed = env.json(&[
        "subscriber",
        "list",
        "--list",
        "Beta",
        "--status",
        "unconfirmed",
        "--json",
    ]);
    assert_eq!(unconfirmed.as_array().unwrap().len(), 1);
    assert_eq!(unconfirmed[0]["email"], "ann@example.org");
    env.ok(&["list", "set", "beta", "--single-opt-in", "--private"]);
    let l = env.json(&["list", "show", "Beta", "--json"]);
    assert_eq!(
        (l["opt_in"].as_str(), l["public"].as_bool()),
        (Some("single"), Some(false))
    );
    let err = env.fails(&["list", "create", "BETA"]);
    assert!(err.contains("exists"), "{err}");
    let err = env.fails(&["list", "create", "a/b"]);
    assert!(err.contains("name"), "{err}");
}

fn export_imports_back_and_lists_count_members(backend: &str) {
    let env = Env::new(backend);
    env.ok(&["list", "create", "News"]);
    env.ok(&["list", "create", "Other"]);
    let file = env.write(
        "a.csv",
        b"email,name,city\nann@example.org,\"Ann, A.\",Berlin\nbob@example.org,Bob,\n",
    );
    env.ok(&["subscriber", "import", &file, "--list", "news"]);
    let exported = env.ok(&["subscriber", "export", "--list", "news"]);
    assert_eq!(
        exported,
        "email,name,status,city\nann@example.org,\"Ann, A.\",confirmed,Berlin\nbob@example.org,Bob,confirmed,\n"
    );
    let back = env.write("back.csv", exported.as_bytes());
    let r = env.json(&["subscriber", "import", &back, "--list", "other", "--json"]);
    assert_eq!(r["imported"], 2, "{r}");
    assert!(r["errors"].as_array().unwrap().is_empty(), "{r}");
    let bob = env.json(&["subscriber", "show", "bob@example.org", "--json"]);
    assert!(bob["attribs"].get("status").is_none(), "{bob}");
    env.ok(&[
        "subscriber",
        "unsubscribe",
        "bob@example.org",
        "--list",
        "news",
    ]);
    let lists = env.json(&["list", "ls", "--json"]);
    let news = &lists[0];
    assert_eq!(news["name"], "News");
    assert_eq!(
        (
            news["confirmed"].as_u64(),
            news["unconfirmed"].as_u64(),
            news["unsubscribed"].as_u64()
        ),
        (Some(1), Some(0), Some(1)),
        "{news}"
    );
    env.ok(&["list", "delete", "other"]);
    let err = env.fails(&["list", "show", "other"]);
    assert!(err.contains("list not found"), "{err}");
    let bob = env.json(&["subscriber", "show", "bob@example.org", "--json"]);
    assert_eq!(bob["lists"].as_array().unwrap().len(), 1, "{bob}");
}

fn every_builtin_template_previews_as_a_two_part_message(backend: &str) {
    let env = Env::new(backend);
    env.ok(&["list", "create", "Customers"]);
    let file = env.write(
        "a.csv",
        "email,name,plan\nann@example.org,\"<script>alert(1)</script> Ann\",pro\nbob@example.org,,\n"
            .as_bytes(),
    );
    env.ok(&["subscriber", "import", &file, "--list", "customers"]);
    let list = env.json(&["template", "list", "--json"]);
    let builtins: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["builtin"] == true)
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        builtins,
        [
            "newsletter",
            "promotion",
            "announcement",
            "press-release",
            "customer-letter"
        ]
    );
    for name in &builtins {
        for who in ["ann@example.org", "bob@example.org"] {
            let raw = env.ok(&[
                "template",
                "preview",
                name,
                "--subscriber",
                who,
                "--campaign",
                "Spring",
            ]);
            let msg = mail_parser::MessageParser::new()
                .parse(raw.as_bytes())
                .unwrap_or_else(|| panic!("{name}: not a message"));
            let subject = msg.subject().unwrap_or_default();
            assert!(!subject.is_empty(), "{name}");
            assert!(msg.message_id().is_some(), "{name}");
            assert_eq!(
                msg.to().and_then(|t| t.first()).and_then(|a| a.address()),
                Some(who)
            );
            let html = msg
                .body_html(0)
                .unwrap_or_else(|| panic!("{name}: no HTML part"));
            let text = msg
                .body_text(0)
                .unwrap_or_else(|| panic!("{name}: no text part"));
            assert_ne!(html, text, "{name}: two different parts");
            assert!(
                html.contains("href=\"https://example.invalid/u/preview\""),
                "{name}: {html}"
            );
            assert!(
                text.contains("https://example.invalid/u/preview"),
                "{name}: {text}"
            );
            assert!(
                !html.contains("<script>alert"),
                "{name}: merge data must be escaped"
            );
            assert!(!text.contains("{{"), "{name}: {text}");
            if who == "ann@example.org" && name == "promotion" {
                assert!(html.contains("pro plan"), "{html}");
                assert!(html.contains("&lt;script&gt;"), "{html}");
            }
        }
    }
}

fn templates_are_checked_when_added(backend: &str) {
    let env = Env::new(backend);
    let bad = env.write("bad.html", b"<p>Hello</p>\n<p>{{ subscriber.nmae }}</p>\n");
    let err = env.fails(&[
        "template",
        "add",
        "Mine",
        "--kind",
        "custom",
        "--subject",
        "Hi",
        "--html",
        &bad,
    ]);
    assert!(
        err.contains("line 2") && err.contains("subscriber.nmae"),
        "{err}"
    );
    let include = env.write("inc.html", br#"{% include "/etc/passwd" %}"#);
    let err = env.fails(&[
        "template",
        "add",
        "Mine",
        "--kind",
        "custom",
        "--subject",
        "Hi",
        "--html",
        &include,
    ]);
    assert!(!err.contains("root:"), "{err}");
    let looping = env.write(
        "loop.html",
        b"{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
    );
    let err = env.fails(&[
        "template",
        "add",
        "Mine",
        "--kind",
        "custom",
        "--subject",
        "Hi",
        "--html",
        &looping,
    ]);
    assert!(err.contains("too much work"), "{err}");
    let good = env.write(
        "good.html",
        b"<p>Hello {{ subscriber.name | default('friend') }}</p>",
    );
    let text = env.write("good.txt", b"Hello {{ subscriber.name }}");
    env.ok(&[
        "template",
        "add",
        "Mine",
        "--kind",
        "custom",
        "--subject",
        "Hi {{ subscriber.name }}",
        "--html",
        &good,
        "--text",
        &text,
    ]);
    let t = env.json(&["template", "show", "mine", "--json"]);
    assert_eq!(t["kind"], "custom");
    assert_eq!(t["builtin"], false);
    let err = env.fails(&[
        "template",
        "add",
        "promotion",
        "--kind",
        "custom",
        "--subject",
        "x",
        "--html",
        &good,
    ]);
    assert!(err.contains("built-in"), "{err}");
    env.ok(&["template", "delete", "Mine"]);
    let err = env.fails(&["template", "show", "mine"]);
    assert!(err.contains("template not found"), "{err}");
}

fn segments_pick_the_recipients_a_campaign_would_have(backend: &str) {
    let env = Env::new(backend);
    env.ok(&["list", "create", "News"]);
    let file = env.write(
        "a.csv",
        b"email,country\nann@example.org,DE\nbob@example.org,FR\ncid@spam.test,DE\ndan@example.org,DE\n",
    );
    env.ok(&["subscriber", "import", &file, "--list", "news"]);
    env.ok(&["subscriber", "unsubscribe", "dan@example.org"]);
    env.ok(&["blocklist", "add", "@spam.test"]);
    let rows = env.json(&[
        "subscriber",
        "list",
        "--list",
        "news",
        "--where",
        r#"subscriber.attribs.country == "DE" and customer.open_drs == 0"#,
        "--json",
    ]);
    let emails: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["ann@example.org"],
        "unsubscribed, blocklisted and FR are out"
    );
    let err = env.fails(&[
        "subscriber",
        "list",
        "--list",
        "news",
        "--where",
        "subscribr.x == 1",
    ]);
    assert!(
        err.contains("where") && err.contains("subscribr.x"),
        "{err}"
    );
    let err = env.fails(&[
        "subscriber",
        "list",
        "--list",
        "news",
        "--where",
        "1 %}{% include 'x'",
    ]);
    assert!(err.contains("where"), "{err}");
}

fn a_campaign_in_evaluation_mode_lands_in_the_maildir_and_skips_who_left(backend: &str) {
    let env = Env::new(backend);
    env.ok(&["list", "create", "News"]);
    let file = env.write(
        "a.csv",
        b"email,name,country\nann@example.org,Ann,DE\nbob@example.org,Bob,FR\ncid@example.org,Cid,DE\neve@spam.test,Eve,DE\n",
    );
    env.ok(&["subscriber", "import", &file, "--list", "news"]);
    let err = env.fails(&[
        "campaign",
        "create",
        "Bad",
        "--list",
        "news",
        "--template",
        "nope",
    ]);
    assert!(err.contains("template not found"), "{err}");
    let err = env.fails(&[
        "campaign",
        "create",
        "Bad",
        "--list",
        "nolist",
        "--template",
        "newsletter",
    ]);
    assert!(err.contains("list not found"), "{err}");
    env.ok(&[
        "campaign",
        "create",
        "Spring",
        "--list",
        "news",
        "--template",
        "promotion",
        "--where",
        r#"subscriber.attribs.country == "DE""#,
    ]);
    let err = env.fails(&[
        "campaign",
        "create",
        "SPRING",
        "--list",
        "news",
        "--template",
        "promotion",
    ]);
    assert!(err.contains("exists"), "{err}");
    // A test copy goes out, marked, and is not counted.
    env.ok(&["campaign", "test", "Spring", "--to", "boss@example.com"]);
    let show = env.json(&["campaign", "show", "Spring", "--json"]);
    assert_eq!(show["status"], "draft", "{show}");
    assert_eq!(show["recipients"], 0, "{show}");
    let maildir = env.dir.path().join("etraq-data/maildir/new");
    let test_copy = std::fs::read_dir(&maildir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&test_copy).unwrap();
    let msg = mail_parser::MessageParser::new().parse(&bytes).unwrap();
    assert!(
        msg.subject().unwrap().starts_with("[test] "),
        "{:?}",
        msg.subject()
    );
    std::fs::remove_file(test_copy).unwrap();
    // Consent withdrawn before the send is respected.
    env.ok(&["subscriber", "unsubscribe", "cid@example.org"]);
    env.ok(&["blocklist", "add", "@spam.test"]);
    let report = env.json(&["campaign", "run", "Spring", "--json"]);
    assert_eq!(report["status"], "finished", "{report}");
    assert_eq!(
        (report["recipients"].as_u64(), report["sent"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let rows = env.json(&["campaign", "recipients", "Spring", "--json"]);
    assert_eq!(rows[0]["email"], "ann@example.org");
    assert_eq!(rows[0]["state"], "sent");
    for key in [
        "message_id",
        "sent_at",
        "error",
        "opened",
        "clicked",
        "bounced",
    ] {
        assert!(rows[0].get(key).is_some(), "{key} missing: {}", rows[0]);
    }
    let maildir = env.dir.path().join("etraq-data/maildir/new");
    let files: Vec<_> = std::fs::read_dir(&maildir).unwrap().collect();
    assert_eq!(files.len(), 1, "one mail in {}", maildir.display());
    let bytes = std::fs::read(files[0].as_ref().unwrap().path()).unwrap();
    let msg = mail_parser::MessageParser::new().parse(&bytes).unwrap();
    assert_eq!(
        msg.to().and_then(|t| t.first()).and_then(|a| a.address()),
        Some("ann@example.org")
    );
    assert_eq!(msg.message_id(), rows[0]["message_id"].as_str());
    assert!(msg.header_raw("List-Unsubscribe").unwrap().contains("/u/"));
    assert_eq!(
        msg.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(msg.header_raw("Precedence").map(str::trim), Some("bulk"));
    assert_eq!(
        msg.header_raw("X-Etraq-Campaign").map(str::trim),
        Some("Spring")
    );
    assert!(msg.header_raw("Return-Path").unwrap().contains("bounce+"));
    assert!(msg.body_html(0).unwrap().contains("Ann"));
    assert!(msg.body_text(0).is_some());
    let err = env.fails(&["campaign", "run", "Spring"]);
    assert!(err.contains("finished"), "{err}");
}
