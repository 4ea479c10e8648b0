//! The Utilities tab on a real console: who sees it, starting jobs (pasted, uploaded) and the
//! clear answer to each bad input (a binary upload, one too large, a URL that is not http, a
//! job of someone else), and a job's page: its results filtered by verdict and sorted, and the
//! downloads. The runner that executes jobs is `etraq serve`'s (tested in the CLI's
//! `tests/jobs.rs`); here results are written through the same `JobBook` it uses.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use etraq_core::Role;
use etraq_core::jobs::{JobBook, JobState, ResultRow};

fn multipart(boundary: &str, name: &str, file: &[u8], fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    b.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend(file);
    b.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

async fn upload(
    c: &Console,
    s: &Session,
    name: &str,
    file: &[u8],
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let r = s
        .client
        .post(c.url("/utilities/validate"))
        .header("cookie", s.cookie.clone().unwrap())
        .header("origin", c.url(""))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(multipart("XyZ", name, file, fields))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, location, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_starts_jobs_reads_results_and_bad_input_is_answered_clearly() {
    let c = Console::start().await;
    c.user("sue@example.com", Role::Supervisor, Some("SUPP"), None)
        .await;
    c.user("tom@example.com", Role::Supervisor, Some("SALES"), None)
        .await;
    c.user(
        "ann@example.com",
        Role::Agent,
        Some("SUPP"),
        Some("sue@example.com"),
    )
    .await;
    let sue = c.login_as("sue@example.com").await;
    let tom = c.login_as("tom@example.com").await;
    let ann = c.login_as("ann@example.com").await;

    // The tab is the supervisors'.
    assert!(
        sue.get("/status")
            .await
            .body
            .contains("href=\"/utilities\"")
    );
    assert!(
        !ann.get("/status")
            .await
            .body
            .contains("href=\"/utilities\"")
    );
    assert_eq!(ann.get("/utilities/validate").await.status, 403);
    let page = sue.get("/utilities/validate").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    assert!(page.body.contains("id=\"start-validation\""));

    // A file upload, a CSV: every field with an @.
    let (status, location, body) = upload(
        &c,
        &sue,
        "people.csv",
        b"email,name\nann@customer.test,Ann\nbob@customer.test,Bob\n",
        &[("addresses", "carol@customer.test\nann@customer.test")],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location, "/jobs/1");
    let job = sue.get("/jobs/1").await;
    assert_eq!(job.status, 200);
    assert!(job.body.contains("id=\"job-progress\""), "{}", job.body);
    assert!(
        job.body
            .contains("data-src=\"/api/v1/jobs/1?results=false\"")
    );
    assert!(job.body.contains("<span id=\"job-state\">queued</span>"));
    assert!(
        job.body.contains("<span id=\"job-total\">3</span>"),
        "each address once: {}",
        job.body
    );
    assert!(job.body.contains("id=\"cancel-job\""));
    assert!(
        job.body
            .contains("about <span id=\"job-eta\">—</span> left"),
        "no rate yet, no ETA"
    );

    // Bad input, each with its own clear answer.
    let (status, _, body) =
        upload(&c, &sue, "photo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", &[]).await;
    assert_eq!(status, 400);
    assert!(body.contains("photo.png is not a text file"), "{body}");
    let big = vec![b'a'; 9 * 1024 * 1024];
    let (status, _, body) = upload(&c, &sue, "huge.txt", &big, &[]).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("larger than 8 MiB") || body.contains("too large"),
        "{body}"
    );
    let (status, _, body) = upload(&c, &sue, "empty.txt", b"", &[("addresses", "  ")]).await;
    assert_eq!(status, 400);
    assert!(body.contains("no address to check"), "{body}");
    let r = sue
        .post(
            "/utilities/extract",
            &[("seeds", "ftp://files.example/\nhttps://ok.example/")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("only http and https are crawled"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("ftp://files.example/"),
        "the form keeps what was typed"
    );
    let r = sue
        .post("/utilities/extract", &[("seeds", "javascript:alert(1)")])
        .await;
    assert_eq!(r.status, 400);
    let r = sue
        .post(
            "/utilities/extract",
            &[("seeds", "https://shop.example/contact"), ("depth", "two")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("is not a whole number"), "{}", r.body);
    // Someone else's job.
    let other = tom.get("/jobs/1").await;
    assert_eq!(other.status, 403);
    assert!(
        other.body.contains("only they and administrators"),
        "{}",
        other.body
    );
    assert_eq!(tom.get("/jobs/1/results.csv").await.status, 403);
    assert_eq!(sue.get("/jobs/42").await.status, 404);
    let admin = c.admin().await;
    assert_eq!(
        admin.get("/jobs/1").await.status,
        200,
        "admins see every job"
    );

    // The job finishes (written as the runner writes it): results filtered and sorted.
    let book = JobBook::new(c.store.as_ref());
    let mut j = book.get(1).await.unwrap().unwrap();
    j.state = JobState::Done;
    j.done = 3;
    j.finished_at = Some(jiff::Timestamp::now());
    let row = |a: &str, v: &str, why: &str| ResultRow {
        address: a.into(),
        verdict: Some(v.into()),
        reason: why.into(),
        ..ResultRow::default()
    };
    book.append(
        &mut j,
        &[
            row("carol@customer.test", "invalid", "no such mailbox"),
            row("ann@customer.test", "safe", "the mailbox exists"),
            row("bob@customer.test", "risky", "catch-all domain, \"quoted\""),
        ],
    )
    .await
    .unwrap();
    let page = sue.get("/jobs/1?sort=address").await;
    assert!(
        page.body.contains("Create a list on the Campaigns tab"),
        "no list to import into yet"
    );
    assert_eq!(sue.post("/lists", &[("name", "Leads")]).await.status, 303);
    let page = sue.get("/jobs/1?sort=address").await;
    let (a, b, cc) = (
        page.body.find("ann@customer.test").unwrap(),
        page.body.find("bob@customer.test").unwrap(),
        page.body.find("carol@customer.test").unwrap(),
    );
    assert!(a < b && b < cc, "sorted by address");
    assert!(
        page.body.contains("id=\"import-safe\""),
        "a done validation offers the import"
    );
    assert!(!page.body.contains("id=\"cancel-job\""), "nothing to stop");
    let safe = sue.get("/jobs/1?verdict=safe").await;
    assert!(safe.body.contains("ann@customer.test"));
    assert!(!safe.body.contains("carol@customer.test"));
    let csv = sue.get("/jobs/1/results.csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.headers.get("content-disposition").unwrap(),
        "attachment; filename=\"job-1.csv\""
    );
    assert_eq!(
        csv.headers.get("x-content-type-options").unwrap(),
        "nosniff"
    );
    let text = csv.body.trim_start_matches('\u{feff}');
    assert!(text.starts_with("address,verdict,reason\n"), "{text}");
    assert!(
        text.contains("bob@customer.test,risky,\"catch-all domain, \"\"quoted\"\"\""),
        "{text}"
    );
    let json = sue.get("/jobs/1/results.json").await;
    let rows: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);

    // Import the safe ones into a list (the subscriber import underneath).
    let r = sue.post("/jobs/1/import", &[("list", "Leads")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/jobs/1?done=imported-1");
    let members = sue.get("/subscribers?list=Leads").await.body;
    assert!(members.contains("ann@customer.test"), "{members}");
    assert!(!members.contains("bob@customer.test"));
    // A queued job is cancelled at once.
    let r = sue
        .post(
            "/utilities/extract",
            &[("seeds", "https://shop.example/contact")],
        )
        .await;
    assert_eq!(r.location(), "/jobs/2");
    let r = sue.post("/jobs/2/cancel", &[]).await;
    assert_eq!(r.status, 303);
    assert!(
        sue.get("/jobs/2")
            .await
            .body
            .contains("<span id=\"job-state\">cancelled</span>")
    );
    // Listed on its kind's page.
    let list = sue.get("/utilities/extract").await;
    assert!(list.body.contains("href=\"/jobs/2\""));
    assert!(
        !list.body.contains("href=\"/jobs/1\""),
        "a validation is on the other page"
    );
}
