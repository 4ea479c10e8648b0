//! The console in a real browser (headless Chromium driven over WebDriver by fantoccini), on a
//! real `etraq serve`: a customer's mail comes in through the SMTP gateway; the owner signs in,
//! finds the DR in Tracked Mails, opens it and reassigns it; the new owner signs in and sees it.
//! Screenshots go to `target/tmp/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test says so and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn etraq(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir)
        .args(["--config", "etraq.toml"])
        .args(args)
        .env_remove("ETRAQ_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "etraq {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends one message over SMTP, checking every reply.
fn smtp_send(addr: &str, from: &str, to: &str, body: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut expect = |code: &str| loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    };
    expect("220");
    for (cmd, code) in [
        ("EHLO customer.example".to_string(), "250"),
        (format!("MAIL FROM:<{from}>"), "250"),
        (format!("RCPT TO:<{to}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        expect(code);
    }
    s.write_all(body.as_bytes()).unwrap();
    s.write_all(b"\r\n.\r\n").unwrap();
    expect("250");
    s.write_all(b"QUIT\r\n").unwrap();
    expect("221");
}

struct Server {
    child: Child,
    smtp: String,
    web: String,
    admin_password: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `etraq serve` and reads its SMTP and console addresses from its banner.
fn serve(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_etraq"))
        .current_dir(dir)
        .args(["--config", "etraq.toml", "serve"])
        .env_remove("ETRAQ_STORE")
        .env("ETRAQ_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut admin_password = String::new();
    let mut next_is_password = false;
    let banner = loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("console on ") => break l,
            Some(Ok(l)) => {
                if next_is_password {
                    admin_password = l.trim().to_string();
                }
                next_is_password = l.contains("admin password is");
            }
            other => panic!("etraq serve stopped before listening: {other:?}"),
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let smtp = banner
        .split("SMTP on ")
        .nth(1)
        .and_then(|s| s.split([',', ' ']).next())
        .unwrap()
        .to_string();
    let web = banner
        .split("console on ")
        .nth(1)
        .and_then(|s| s.split([',', ' ']).next())
        .unwrap()
        .to_string();
    Server {
        child,
        smtp,
        web,
        admin_password,
    }
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver(port: u16) -> Driver {
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver(child)
}

async fn browser(driver_port: u16, profile: &Path) -> Client {
    browser_as(driver_port, profile, None).await
}

/// A browser that gives `user_agent` instead of headless Chromium's own (which says
/// `HeadlessChrome`, and which the tracking rules rightly take for a machine).
async fn browser_as(driver_port: u16, profile: &Path, user_agent: Option<&str>) -> Client {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,900",
    ]
    .map(String::from)
    .into();
    args.push(format!("--user-data-dir={}", profile.display()));
    if let Some(ua) = user_agent {
        args.push(format!("--user-agent={ua}"));
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session")
}

fn shots() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots().join(name), png).unwrap();
}

async fn sign_in(c: &Client, web: &str, login: &str, password: &str) {
    c.goto(&format!("{web}/login")).await.unwrap();
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .send_keys(login)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let who = c.wait().for_element(Locator::Id("who")).await.unwrap();
    assert!(
        who.text().await.unwrap().starts_with(login),
        "signed in as {login}"
    );
}

/// The text of element `id`. Pages that poll (a job's progress) replace their elements, so an
/// element found may be gone when its text is asked: it is found again.
async fn text_of(c: &Client, id: &str) -> String {
    let mut last = None;
    for _ in 0..20 {
        match c.find(Locator::Id(id)).await {
            Ok(e) => match e.text().await {
                Ok(t) => return t,
                Err(err) => last = Some(err),
            },
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("cannot read #{id}: {last:?}")
}

/// Waits for the page's flash message to say `words` and returns it. A form posted
/// redirects to a new page: until it arrives the old page (maybe with an older flash) is
/// still there, and an element found on it goes stale — so the flash is found again until
/// the new one says what is expected.
async fn flash_saying(c: &Client, words: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(e) = c.find(Locator::Css("p.flash")).await
            && let Ok(t) = e.text().await
        {
            if t.contains(words) {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no flash saying {words:?} (last seen: {last:?})")
}

#[test]
fn an_owner_finds_and_reassigns_a_dr_and_the_new_owner_sees_it() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run does)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("etraq.toml"),
        "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
         [smtp]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
         [store]\nurl = \"sqlite:data/etraq.db\"\n",
    )
    .unwrap();
    etraq(
        dir.path(),
        &["user", "add", "ann@example.com", "--name", "Ann Agent"],
        None,
    );
    etraq(
        dir.path(),
        &["user", "add", "bob@example.com", "--name", "Bob Builder"],
        None,
    );
    etraq(
        dir.path(),
        &["user", "passwd", "ann@example.com"],
        Some("ann-password\n"),
    );
    etraq(
        dir.path(),
        &["user", "passwd", "bob@example.com"],
        Some("bob-password\n"),
    );
    let server = serve(dir.path());
    smtp_send(
        &server.smtp,
        "carol@customer.example",
        "ann@example.com",
        "From: Carol <carol@customer.example>\r\nTo: ann@example.com\r\n\
         Subject: Order 1234 never arrived\r\nMessage-ID: <order1234@customer.example>\r\n\r\n\
         Where is my parcel?",
    );
    let listed: serde_json::Value =
        serde_json::from_str(&etraq(dir.path(), &["dr", "list", "--json"], None)).unwrap();
    let dr = listed[0]["id"].as_str().unwrap().to_string();

    let profile = tempfile::tempdir().unwrap();
    let port = free_port();
    let _driver = start_driver(port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(port, profile.path()).await;
        let web = server.web.as_str();

        // Ann signs in and finds the DR in Tracked Mails.
        sign_in(&c, web, "ann@example.com", "ann-password").await;
        c.goto(&format!("{web}/tracked")).await.unwrap();
        let link = c
            .find(Locator::LinkText(&dr))
            .await
            .expect("the DR in Tracked Mails");
        screenshot(&c, "1-ann-tracked-mails.png").await;
        link.click().await.unwrap();
        c.wait().for_element(Locator::Id("dr-owner")).await.unwrap();
        assert_eq!(text_of(&c, "dr-id").await, dr);
        assert_eq!(text_of(&c, "dr-owner").await, "ann@example.com");
        assert_eq!(text_of(&c, "dr-subject").await, "Order 1234 never arrived");

        // She reassigns it to Bob.
        c.find(Locator::Id("f-owner"))
            .await
            .unwrap()
            .select_by_value("bob@example.com")
            .await
            .unwrap();
        c.find(Locator::Id("assign"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        flash_saying(&c, "new owner").await;
        assert_eq!(text_of(&c, "dr-owner").await, "bob@example.com");
        assert!(text_of(&c, "dr-cc").await.contains("ann@example.com"));
        screenshot(&c, "2-ann-reassigned.png").await;

        // She signs out; Bob signs in and sees it.
        c.find(Locator::Id("logout"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait().for_element(Locator::Id("sign-in")).await.unwrap();
        sign_in(&c, web, "bob@example.com", "bob-password").await;
        c.goto(&format!("{web}/tracked")).await.unwrap();
        let link = c
            .find(Locator::LinkText(&dr))
            .await
            .expect("Bob sees the DR in Tracked Mails");
        screenshot(&c, "3-bob-tracked-mails.png").await;
        link.click().await.unwrap();
        c.wait().for_element(Locator::Id("dr-owner")).await.unwrap();
        assert_eq!(text_of(&c, "dr-owner").await, "bob@example.com");
        screenshot(&c, "4-bob-dr.png").await;

        // The admin's view: status and services, a report with its chart, the configuration.
        c.find(Locator::Id("logout"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait().for_element(Locator::Id("sign-in")).await.unwrap();
        sign_in(&c, web, "admin", &server.admin_password).await;
        c.goto(&format!("{web}/status")).await.unwrap();
        assert_eq!(text_of(&c, "service-smtp").await, "running");
        screenshot(&c, "5-admin-status.png").await;
        c.goto(&format!("{web}/reports/volume")).await.unwrap();
        c.find(Locator::Css("svg.chart"))
            .await
            .expect("the volume chart");
        screenshot(&c, "6-admin-volume-report.png").await;
        c.goto(&format!("{web}/config")).await.unwrap();
        c.find(Locator::Id("save-config")).await.unwrap();
        screenshot(&c, "7-admin-configuration.png").await;

        // Without JavaScript-only features the pages still carry everything: the status bar.
        let mut src = String::new();
        c.source()
            .await
            .unwrap()
            .as_bytes()
            .read_to_string(&mut src)
            .unwrap();
        assert!(src.contains("ESCALATED"));
        c.close().await.unwrap();
    });
}

#[test]
fn a_campaign_started_in_the_console_moves_its_progress_bar_until_it_is_sent() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run does)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Evaluation mode (no upstream): campaign mail goes into the Maildir, 60 per second.
    std::fs::write(
        dir.path().join("etraq.toml"),
        "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
         [smtp]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
         [store]\nurl = \"sqlite:data/etraq.db\"\n\
         [campaigns]\nrate_per_second = 60\nconcurrency = 2\n",
    )
    .unwrap();
    let mut csv = String::from("email,name,city\n");
    for i in 0..240 {
        csv.push_str(&format!("p{i}@customer.example,Person {i},Lyon\n"));
    }
    std::fs::write(dir.path().join("people.csv"), csv).unwrap();
    etraq(dir.path(), &["list", "create", "Customers"], None);
    etraq(
        dir.path(),
        &["subscriber", "import", "people.csv", "--list", "Customers"],
        None,
    );
    etraq(
        dir.path(),
        &[
            "campaign",
            "create",
            "Autumn",
            "--list",
            "Customers",
            "--template",
            "newsletter",
        ],
        None,
    );
    let server = serve(dir.path());
    let profile = tempfile::tempdir().unwrap();
    let port = free_port();
    let _driver = start_driver(port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(port, profile.path()).await;
        let web = server.web.as_str();
        sign_in(&c, web, "admin", &server.admin_password).await;
        c.goto(&format!("{web}/campaigns")).await.unwrap();
        c.find(Locator::LinkText("Autumn"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Id("campaign-start"))
            .await
            .unwrap();
        assert_eq!(text_of(&c, "progress-status").await, "draft");
        c.find(Locator::Id("campaign-start"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait().for_element(Locator::Css("p.flash")).await.unwrap();
        // The bar moves by itself (the page is not reloaded: it polls the campaign's JSON).
        let value = || async {
            c.execute(
                "return document.getElementById('progress-bar').value;",
                vec![],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap_or(0.0)
        };
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            let v = value().await;
            if seen.last() != Some(&v) {
                seen.push(v);
            }
            if seen.len() == 3 {
                screenshot(&c, "8-campaign-sending.png").await;
            }
            if v >= 240.0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the bar stopped at {v}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(
            seen.len() >= 3,
            "the bar moved in steps while sending: {seen:?}"
        );
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        // Once sent, the page shows the campaign finished.
        c.wait()
            .for_element(Locator::XPath(
                "//span[@id='progress-status'][text()='finished']",
            ))
            .await
            .unwrap();
        assert_eq!(text_of(&c, "progress-sent").await, "240");
        screenshot(&c, "9-campaign-sent.png").await;
        // A recipient's page lists the campaign's mail among their events.
        c.goto(&format!("{web}/subscribers/p7@customer.example"))
            .await
            .unwrap();
        let events = text_of(&c, "events").await;
        assert_eq!(events, "Events");
        let mut src = String::new();
        c.source()
            .await
            .unwrap()
            .as_bytes()
            .read_to_string(&mut src)
            .unwrap();
        assert!(src.contains(">sent<") && src.contains(">Autumn<"), "{src}");
        c.close().await.unwrap();
    });
    let maildir = dir.path().join("data").join("maildir").join("new");
    let delivered = std::fs::read_dir(&maildir).unwrap().count();
    assert_eq!(delivered, 240, "every recipient's mail is in the Maildir");
}

/// A small web shop on loopback, the campaign's links' target: answers every request with a
/// page, so a click's redirect ends somewhere real without leaving the machine.
fn shop() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<!doctype html><title>Shop</title><h1 id=shop>Spring collection</h1>";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

/// The HTML part of the campaign mail that went to `to`, from the evaluation Maildir.
fn mail_html(dir: &Path, to: &str) -> Option<String> {
    let mut stack = vec![dir.join("data").join("maildir")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for p in entries.flatten().map(|e| e.path()) {
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(raw) = std::fs::read(&p) else {
                continue;
            };
            let Some(m) = mail_parser::MessageParser::default().parse(&raw) else {
                continue;
            };
            let to_matches = m
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .is_some_and(|a| a.eq_ignore_ascii_case(to));
            if to_matches {
                return m.body_html(0).map(|h| h.into_owned());
            }
        }
    }
    None
}

/// The walkthrough a marketer makes in evaluation mode: a campaign whose links go to the shop
/// is started in the console; a recipient opens the mail in Chromium (the pixel loads) and
/// clicks a link (the redirect lands on the shop); the campaign's report page then counts
/// them as a person's, and its charts, the comparison and the list's growth chart are drawn.
/// Screenshots: `10-campaign-report.png` … `13-list-growth.png`.
#[test]
fn a_recipient_opens_and_clicks_in_chromium_and_the_report_counts_and_charts_it() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run does)"
        );
        return;
    }
    let shop = shop();
    let dir = tempfile::tempdir().unwrap();
    let web_port = free_port();
    // Evaluation mode (no upstream): campaign mail goes into the Maildir. The console's port is
    // fixed so the mail's links point at it.
    std::fs::write(
        dir.path().join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
             [smtp]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("spring.html"),
        format!(
            "<html><body><h1>Spring sale</h1><p>Hello {{{{ subscriber.name }}}},</p>\
             <p><a href=\"{shop}/spring\">See the spring collection</a></p>\
             <p><a href=\"{shop}/outlet\">The outlet</a></p>\
             <p><a href=\"{{{{ unsubscribe_url }}}}\">Unsubscribe</a></p></body></html>"
        ),
    )
    .unwrap();
    etraq(
        dir.path(),
        &["user", "add", "sue@example.com", "--name", "Sue Sales"],
        None,
    );
    etraq(dir.path(), &["list", "create", "News"], None);
    for (e, n) in [
        ("ann@customer.example", "Ann"),
        ("bob@customer.example", "Bob"),
        ("cy@customer.example", "Cy"),
    ] {
        etraq(
            dir.path(),
            &[
                "subscriber",
                "add",
                e,
                "--list",
                "News",
                "--name",
                n,
                "--confirmed",
            ],
            None,
        );
    }
    etraq(
        dir.path(),
        &[
            "template",
            "add",
            "Spring",
            "--kind",
            "promotion",
            "--subject",
            "Spring sale",
            "--html",
            "spring.html",
        ],
        None,
    );
    etraq(
        dir.path(),
        &[
            "campaign",
            "create",
            "Spring",
            "--list",
            "News",
            "--template",
            "Spring",
            "--owner",
            "sue@example.com",
        ],
        None,
    );
    let server = serve(dir.path());
    let web = server.web.clone();
    let profile = tempfile::tempdir().unwrap();
    let port = free_port();
    let _driver = start_driver(port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Ann's browser, as a person's: an ordinary Chrome on Linux.
        let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/130.0.0.0 Safari/537.36";
        let c = browser_as(port, profile.path(), Some(ua)).await;
        sign_in(&c, &web, "admin", &server.admin_password).await;
        c.goto(&format!("{web}/campaigns/Spring")).await.unwrap();
        c.find(Locator::Id("campaign-start"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::XPath(
                "//span[@id='progress-status'][text()='finished']",
            ))
            .await
            .unwrap();
        let sent_at = Instant::now();
        let html =
            mail_html(dir.path(), "ann@customer.example").expect("Ann's mail in the Maildir");
        assert!(html.contains("/t/c/") && html.contains("/t/o/"), "{html}");
        assert!(
            !html.contains(&format!("href=\"{shop}/spring\"")),
            "links are tracked"
        );
        // A person does not open a mail within seconds of its sending (the bot rule would
        // rightly count that as a machine): wait like one.
        let wait = Duration::from_secs(11).saturating_sub(sent_at.elapsed());
        tokio::time::sleep(wait).await;

        // Ann opens the mail: her mail client shows the HTML, and the pixel loads.
        let page = dir.path().join("ann-mail.html");
        std::fs::write(&page, &html).unwrap();
        c.goto(&format!("file://{}", page.display())).await.unwrap();
        let link = c
            .find(Locator::LinkText("See the spring collection"))
            .await
            .unwrap();
        // She clicks: the redirect lands on the shop, with the conversion parameter.
        link.click().await.unwrap();
        c.wait().for_element(Locator::Id("shop")).await.unwrap();
        let landed = c.current_url().await.unwrap().to_string();
        assert!(
            landed.starts_with(&format!("{shop}/spring?etraq=")),
            "{landed}"
        );

        // The marketer looks at the report.
        c.goto(&format!("{web}/campaigns/Spring")).await.unwrap();
        c.wait().for_element(Locator::Id("results")).await.unwrap();
        let results = c
            .find(Locator::Css(
                "#results + .table-wrap table, #results ~ div table",
            ))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(results.contains("Recipients who opened"), "{results}");
        c.find(Locator::Css("#chart-over-time svg"))
            .await
            .expect("the opens and clicks chart");
        c.find(Locator::Css("#chart-links svg"))
            .await
            .expect("the clicks per link chart");
        c.find(Locator::Css("#chart-came-back svg"))
            .await
            .expect("what came back");
        screenshot(&c, "10-campaign-report.png").await;
        c.execute(
            "document.getElementById('chart-over-time').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
        screenshot(&c, "11-campaign-charts.png").await;
        c.goto(&format!("{web}/campaigns")).await.unwrap();
        c.find(Locator::Id("compare"))
            .await
            .expect("the comparison");
        screenshot(&c, "12-campaigns-compared.png").await;
        c.goto(&format!("{web}/lists/News")).await.unwrap();
        c.find(Locator::Css("#chart-growth svg"))
            .await
            .expect("the growth chart");
        screenshot(&c, "13-list-growth.png").await;
        c.close().await.unwrap();
    });
    // The counts, as the command line shows them: one person's open and click.
    let report: serde_json::Value = serde_json::from_str(&etraq(
        dir.path(),
        &["campaign", "show", "Spring", "--json"],
        None,
    ))
    .unwrap();
    assert_eq!(report["sent"], 3);
    assert_eq!(report["human_opens"], 1, "{report}");
    assert_eq!(report["human_clicks"], 1, "{report}");
    assert_eq!(report["links"][0]["human_clicks"], 1, "{report}");
}

/// Reading and finding mail as an agent would: thousands of generated mails and one HTML
/// customer mail with an attachment and a remote tracking image are in the archive; the agent
/// types a word from its body into the search box, opens the result, reads it (nothing of the
/// sender's script runs, the remote image waits), and the attachment link downloads.
/// Screenshots: `14-search-results.png`, `15-mail-page.png`.
#[test]
fn an_agent_finds_a_mail_by_a_word_in_its_body_and_reads_it_safely() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run does)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("etraq.toml"),
        "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
         [smtp]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
         [store]\nurl = \"sqlite:data/etraq.db\"\n",
    )
    .unwrap();
    // Background traffic: 2,000 generated mails.
    let mut mbox = String::new();
    let mut traffic = etraq_benches_like::traffic();
    for _ in 0..2_000 {
        mbox.push_str("From generator@etraq.invalid Fri Nov 27 09:00:00 2026\n");
        mbox.push_str(&traffic.next().unwrap());
        mbox.push('\n');
    }
    std::fs::write(dir.path().join("traffic.mbox"), mbox).unwrap();
    etraq(dir.path(), &["ingest", "traffic.mbox"], None);
    etraq(
        dir.path(),
        &["user", "add", "ann@example.com", "--name", "Ann Agent"],
        None,
    );
    etraq(
        dir.path(),
        &["user", "passwd", "ann@example.com"],
        Some("ann-password\n"),
    );
    let server = serve(dir.path());
    smtp_send(
        &server.smtp,
        "carol@customer.example",
        "ann@example.com",
        "From: Carol <carol@customer.example>\r\nTo: ann@example.com\r\n\
         Subject: Damaged lampshade\r\nMessage-ID: <lamp@customer.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <p id=\"carol\">The lampshade arrived <b>cracked</b>; photo attached.</p>\
         <img src=\"https://tracker.example/open.gif\"><script>document.title='pwned'</script>\r\n\
         --b\r\nContent-Type: image/jpeg; name=\"crack.jpg\"\r\n\
         Content-Disposition: attachment; filename=\"crack.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRgABAQAAAQABAAD/2Q==\r\n--b--",
    );
    let web = server.web.clone();
    let profile = tempfile::tempdir().unwrap();
    let port = free_port();
    let _driver = start_driver(port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(port, profile.path()).await;
        sign_in(&c, &web, "ann@example.com", "ann-password").await;
        c.find(Locator::Id("search-box"))
            .await
            .unwrap()
            .send_keys("lampshade\u{E007}")
            .await
            .unwrap();
        let link = c
            .wait()
            .for_element(Locator::LinkText("Damaged lampshade"))
            .await
            .expect("the mail among the results");
        screenshot(&c, "14-search-results.png").await;
        link.click().await.unwrap();
        // (ammonia drops the sender's id attributes: they could clobber the console's own.)
        let body = c
            .wait()
            .for_element(Locator::Css(".mail-html p"))
            .await
            .unwrap();
        assert!(body.text().await.unwrap().contains("arrived cracked"));
        assert_ne!(
            c.title().await.unwrap(),
            "pwned",
            "the sender's script did not run"
        );
        let src = c.source().await.unwrap();
        assert!(!src.contains("tracker.example"), "the remote image waits");
        assert!(src.contains("remote image(s) not loaded"));
        let a = c.find(Locator::LinkText("crack.jpg")).await.unwrap();
        let href = a.attr("href").await.unwrap().unwrap();
        assert!(href.contains("/part/0"), "{href}");
        screenshot(&c, "15-mail-page.png").await;
        c.close().await.unwrap();
    });
}

/// The generator's mails, without depending on the benches crate: a small vocabulary,
/// customers writing to the company.
mod etraq_benches_like {
    pub fn traffic() -> impl Iterator<Item = String> {
        const WORDS: &[&str] = &[
            "printer", "invoice", "order", "delivery", "refund", "license", "server", "update",
            "error", "account", "password", "shipping", "contract", "renewal", "support",
        ];
        let mut x: u64 = 42;
        let mut n = 0u64;
        std::iter::from_fn(move || {
            n += 1;
            let mut word = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                WORDS[(x % WORDS.len() as u64) as usize]
            };
            let subject = format!("{} {} {n}", word(), word());
            let body: Vec<&str> = (0..40).map(|_| word()).collect();
            Some(format!(
                "From: c{}@customer.test\nTo: support@example.com\nSubject: {subject}\n\
                 Message-ID: <g{n}@customer.test>\nDate: Fri, 27 Nov 2026 09:00:00 +0000\n\n{}\n",
                n % 300,
                body.join(" ")
            ))
        })
    }
}

#[path = "../../etraq-validate/tests/net/mod.rs"]
mod net;

/// A small site for the extractor on loopback: `/` links to twenty pages that take 400 ms each,
/// each naming one address; `ann@acme-tools.com` is a real mailbox, the others are not.
async fn slow_site() -> std::net::SocketAddr {
    use axum::http::{StatusCode, Uri, header};
    use axum::response::IntoResponse;
    async fn page(uri: Uri) -> axum::response::Response {
        let html = |s: String| ([(header::CONTENT_TYPE, "text/html")], s).into_response();
        match uri.path() {
            "/" => html(
                (0..20)
                    .map(|i| format!(r#"<a href="/p{i}">page {i}</a> "#))
                    .collect(),
            ),
            p if p.starts_with("/p") => {
                tokio::time::sleep(Duration::from_millis(400)).await;
                let who = if p == "/p0" {
                    "ann".to_string()
                } else {
                    format!("staff{}", &p[2..])
                };
                html(format!("<p>Write to {who}@acme-tools.com</p>"))
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().fallback(page)).await;
    });
    addr
}

/// The Utilities tab as a new user would go through it: start an extraction from the console,
/// watch its bar reach 100% without reloading, check what it found in one click, and import the
/// safe address into a list. DNS, SMTP and the web site are peers on loopback.
#[test]
fn a_crawl_started_in_the_console_is_checked_and_its_safe_address_imported() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run does)"
        );
        return;
    }
    let peers = tokio::runtime::Runtime::new().unwrap();
    let (dns, smtp_port, site) = peers.block_on(async {
        let (port, servers) = net::start_smtp(vec![(
            std::net::Ipv4Addr::new(127, 0, 0, 2),
            net::Mode::Mailboxes(vec!["ann@acme-tools.com"]),
        )])
        .await;
        std::mem::forget(servers);
        let dns = net::start_dns(vec![
            (
                "acme-tools.com",
                net::Zone::Records {
                    mx: vec![(10, "mx.acme-tools.com".into())],
                    a: vec![],
                },
            ),
            (
                "mx.acme-tools.com",
                net::Zone::Records {
                    mx: vec![],
                    a: vec![std::net::Ipv4Addr::new(127, 0, 0, 2)],
                },
            ),
        ])
        .await;
        (dns, port, slow_site().await)
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("etraq.toml"),
        format!(
            "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
             [smtp]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
             [store]\nurl = \"sqlite:data/etraq.db\"\n\
             [validator]\ndns = [\"{dns}\"]\nsmtp_port = {smtp_port}\ntimeout = 2\n\
             [extractor]\nthreads = 1\ndelay = 0\n"
        ),
    )
    .unwrap();
    etraq(dir.path(), &["list", "create", "Leads"], None);
    let server = serve(dir.path());
    let profile = tempfile::tempdir().unwrap();
    let port = free_port();
    let _driver = start_driver(port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(port, profile.path()).await;
        let web = server.web.as_str();
        sign_in(&c, web, "admin", &server.admin_password).await;
        c.find(Locator::LinkText("Utilities"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::LinkText("Email Extractor"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait().for_element(Locator::Id("f-seeds")).await.unwrap()
            .send_keys(&format!("http://{site}/"))
            .await
            .unwrap();
        c.find(Locator::Id("start-extraction"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait().for_element(Locator::Id("job-progress")).await.unwrap();
        // The bar moves by itself while the crawl runs (about 8 s for 21 pages, progress written
        // every 2 s).
        let bar = || async {
            let v = c
                .execute(
                    "var b = document.getElementById('job-bar'); return b ? [b.value, b.max] : [0, 1];",
                    vec![],
                )
                .await
                .unwrap();
            (v[0].as_f64().unwrap_or(0.0), v[1].as_f64().unwrap_or(1.0))
        };
        let start = Instant::now();
        let mut seen: Vec<(f64, f64)> = Vec::new();
        loop {
            let state = c
                .execute(
                    "var s = document.getElementById('job-state'); return s ? s.textContent : '';",
                    vec![],
                )
                .await
                .unwrap();
            let b = bar().await;
            if seen.last() != Some(&b) {
                seen.push(b);
            }
            if seen.len() == 2 {
                screenshot(&c, "16-crawl-running.png").await;
            }
            if state == "done" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the crawl did not finish: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (v, max) = bar().await;
        assert_eq!(v, max, "the bar is full when done: {seen:?}");
        assert!(seen.len() >= 3, "the bar moved in steps: {seen:?}");
        assert_eq!(text_of(&c, "job-results").await, "20");
        screenshot(&c, "17-crawl-done.png").await;
        // One click from the crawl to its validation (the page reloads itself once done).
        c.wait()
            .for_element(Locator::Id("validate-results"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // Done, and reloaded with its results.
        c.wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::XPath("//td[text()='ann@acme-tools.com']"))
            .await
            .unwrap();
        // Rows show while it runs (written with each progress step); the page reloads itself
        // once the job is done.
        let start = Instant::now();
        loop {
            // Read through a script: the page may be reloading between two looks.
            let state = c
                .execute(
                    "var s = document.getElementById('job-state'); return s ? s.textContent : '';",
                    vec![],
                )
                .await
                .unwrap_or_default();
            if state == "done" {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the validation never finished");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        c.wait()
            .for_element(Locator::XPath("//td[text()='ann@acme-tools.com']"))
            .await
            .unwrap();
        let mut src = String::new();
        c.source()
            .await
            .unwrap()
            .as_bytes()
            .read_to_string(&mut src)
            .unwrap();
        assert!(src.contains("ann@acme-tools.com"), "{src}");
        assert_eq!(src.matches(">invalid<").count(), 19, "{src}");
        assert_eq!(src.matches(">safe<").count(), 1, "{src}");
        // Only the safe ones: the verdict filter.
        c.find(Locator::LinkText("Safe"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait().for_element(Locator::Id("import-safe")).await.unwrap();
        screenshot(&c, "18-validation-done.png").await;
        c.find(Locator::Id("import-safe"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(
            flash_saying(&c, "imported").await,
            "1 safe addresses imported."
        );
        // The CSV download is a real file.
        let href = c
            .find(Locator::Id("download-csv"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(href.ends_with("/results.csv"), "{href}");
        c.close().await.unwrap();
    });
    let members = etraq(
        dir.path(),
        &["subscriber", "list", "--list", "Leads", "--json"],
        None,
    );
    assert!(members.contains("ann@acme-tools.com"), "{members}");
    assert!(!members.contains("staff1@acme-tools.com"), "{members}");
}

/// Scrolls an element to the middle of the window, as a person would before clicking it
/// (the status bar is fixed at the bottom), and clicks it.
async fn click_centered(c: &Client, locator: Locator<'_>) {
    let e = c.find(locator).await.unwrap();
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'});",
        vec![serde_json::to_value(&e).unwrap()],
    )
    .await
    .unwrap();
    e.click().await.unwrap();
}

/// Every message in the evaluation Maildir, parsed: (Auto-Submitted, subject, text).
fn maildir_messages(dir: &Path) -> Vec<(Option<String>, String, String)> {
    let new = dir.join("data").join("maildir").join("new");
    let Ok(entries) = std::fs::read_dir(new) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(&raw)?;
            Some((
                m.header_raw("Auto-Submitted").map(|v| v.trim().to_string()),
                m.subject().unwrap_or("").to_string(),
                m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            ))
        })
        .collect()
}

#[test]
fn a_customer_is_acknowledged_and_the_agent_answers_with_a_suggested_article_and_a_transcript() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run does)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Evaluation mode: every mail etraq sends lands in data/maildir.
    std::fs::write(
        d.join("etraq.toml"),
        "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\n\
         [smtp]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
         [store]\nurl = \"sqlite:data/etraq.db\"\n",
    )
    .unwrap();
    etraq(
        d,
        &["user", "add", "ann@example.com", "--name", "Ann Agent"],
        None,
    );
    etraq(
        d,
        &["user", "passwd", "ann@example.com"],
        Some("ann-password\n"),
    );
    std::fs::write(
        d.join("broken.md"),
        "Sorry about that! Send us a photo of the item and the box within 14 days and we ship a replacement at no cost.",
    )
    .unwrap();
    etraq(
        d,
        &[
            "kb",
            "add",
            "An item arrived broken or damaged",
            "--file",
            "broken.md",
            "--tag",
            "returns",
            "--public",
        ],
        None,
    );
    std::fs::write(d.join("hours.md"), "We answer every day from 8 to 18.").unwrap();
    etraq(
        d,
        &["kb", "add", "Opening hours", "--file", "hours.md"],
        None,
    );
    etraq(
        d,
        &["autoreply", "add", "support", "--to", "ann@example.com"],
        None,
    );
    let server = serve(d);
    smtp_send(
        &server.smtp,
        "carol@customer.example",
        "ann@example.com",
        "From: Carol <carol@customer.example>\r\nTo: ann@example.com\r\n\
         Subject: My vase arrived smashed\r\nMessage-ID: <vase@customer.example>\r\n\r\n\
         The vase I ordered came in pieces. What now?",
    );
    // The acknowledgement goes out through the outbox (mailed within seconds).
    let start = Instant::now();
    while !maildir_messages(d)
        .iter()
        .any(|(auto, _, _)| auto.as_deref() == Some("auto-replied"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no acknowledgement: {:?}",
            maildir_messages(d)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed: serde_json::Value =
        serde_json::from_str(&etraq(d, &["dr", "list", "--json"], None)).unwrap();
    let dr = listed[0]["id"].as_str().unwrap().to_string();
    let ack = maildir_messages(d)
        .into_iter()
        .find(|(auto, _, _)| auto.as_deref() == Some("auto-replied"))
        .unwrap();
    assert!(
        ack.1.contains(&dr),
        "the acknowledgement carries the DR tag: {ack:?}"
    );

    let profile = tempfile::tempdir().unwrap();
    let port = free_port();
    let _driver = start_driver(port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(port, profile.path()).await;
        let web = server.web.as_str();
        sign_in(&c, web, "ann@example.com", "ann-password").await;
        c.goto(&format!("{web}/tracked")).await.unwrap();
        c.find(Locator::LinkText(&dr))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Id("suggestions"))
            .await
            .unwrap();
        // The thread shows the acknowledgement as an Auto Reply; the wait is still running.
        let mut src = String::new();
        c.source()
            .await
            .unwrap()
            .as_bytes()
            .read_to_string(&mut src)
            .unwrap();
        assert!(
            src.contains("Auto Reply"),
            "the acknowledgement is on the DR"
        );
        assert_eq!(text_of(&c, "dr-status").await, "open");
        let panel = text_of(&c, "suggestions").await;
        assert!(
            panel.contains("An item arrived broken or damaged"),
            "{panel}"
        );
        screenshot(&c, "support-1-dr-with-suggestions.png").await;

        // Insert the suggested article into the reply, add a line, send.
        let body = c.find(Locator::Id("f-reply-body")).await.unwrap();
        body.send_keys("Dear Carol,").await.unwrap();
        click_centered(&c, Locator::Css("button.insert-article")).await;
        let text = body.prop("value").await.unwrap().unwrap_or_default();
        assert!(text.starts_with("Dear Carol,"), "{text}");
        assert!(text.contains("Send us a photo of the item"), "{text}");
        screenshot(&c, "support-2-article-inserted.png").await;
        click_centered(&c, Locator::Id("send-reply")).await;
        flash_saying(&c, "reply is sent").await;
        assert_eq!(text_of(&c, "dr-status").await, "replied");
        let mut src = String::new();
        c.source()
            .await
            .unwrap()
            .as_bytes()
            .read_to_string(&mut src)
            .unwrap();
        assert!(src.contains("Replied Mail"));
        screenshot(&c, "support-3-replied.png").await;

        // Close with a transcript.
        click_centered(&c, Locator::Id("f-transcript")).await;
        click_centered(&c, Locator::Id("close")).await;
        // Closed with a transcript (the flash after the reply's is a different one).
        flash_saying(&c, "transcript is on its way").await;
        assert_eq!(text_of(&c, "dr-status").await, "closed");
        screenshot(&c, "support-4-closed.png").await;

        // The Support tab: the knowledge base, an article, the acknowledgement rules.
        c.goto(&format!("{web}/kb")).await.unwrap();
        c.find(Locator::LinkText("An item arrived broken or damaged"))
            .await
            .unwrap();
        screenshot(&c, "support-5-knowledge-base.png").await;
        c.find(Locator::LinkText("An item arrived broken or damaged"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let article = c
            .wait()
            .for_element(Locator::Id("article-body"))
            .await
            .unwrap();
        assert!(article.text().await.unwrap().contains("Send us a photo"));
        screenshot(&c, "support-6-article.png").await;
        c.goto(&format!("{web}/autoreplies")).await.unwrap();
        let rules = text_of(&c, "rules").await;
        assert!(rules.is_empty() || rules.contains("Rules"), "{rules}");
        let mut src = String::new();
        c.source()
            .await
            .unwrap()
            .as_bytes()
            .read_to_string(&mut src)
            .unwrap();
        assert!(
            src.contains(">support<") && src.contains("active"),
            "the rule is listed"
        );
        screenshot(&c, "support-7-acknowledgements.png").await;
        c.close().await.unwrap();
    });

    // The customer got the reply (with the article) and then the transcript.
    let start = Instant::now();
    loop {
        let all = maildir_messages(d);
        let reply = all
            .iter()
            .find(|(auto, s, _)| auto.is_none() && s.starts_with("Re: "));
        let transcript = all
            .iter()
            .find(|(auto, _, _)| auto.as_deref() == Some("auto-generated"));
        if let (Some(reply), Some(t)) = (reply, transcript) {
            assert!(reply.2.contains("Send us a photo of the item"), "{reply:?}");
            assert!(
                reply.2.contains("> The vase I ordered came in pieces."),
                "{reply:?}"
            );
            assert!(
                t.2.contains("Dear Carol,") && t.2.contains("The vase I ordered came in pieces."),
                "{t:?}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "missing reply or transcript: {all:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
