//! Full-text search, the store's part: ranking, each operator, diacritics, filters, and that
//! user text with search syntax is only ever text. Scoping is the service's (it filters the
//! store's matches by what the actor may open) and is tested through `App::search`.
//! Every backend runs these (they are part of [`crate::store_tests!`]).

use etraq_core::Store;
use etraq_core::archive::parse_query;
use etraq_core::tracking::ChangeSet;
use jiff::tz::TimeZone;

use crate::fixtures::*;
use crate::{Opener, temp_dir};

/// Records a mail with `subject`, from `from` (with a display name), and `body` as its text.
#[allow(clippy::too_many_arguments)]
async fn put(
    store: &dyn Store,
    id: &str,
    from: &str,
    name: &str,
    subject: &str,
    body: &str,
    when: &str,
    dr: Option<u64>,
    attachment: bool,
) -> u64 {
    let mut m = mail(id, from, "ann@example.com", None);
    m.sender_name = Some(name.into());
    m.subject = subject.into();
    m.received_at = at(when);
    let dr_write = dr.map(|n| {
        let d = crate::fixtures::dr(n, "ann@example.com", from);
        m.dr = Some(d.id.clone());
        etraq_core::store::DrWrite {
            dr: d,
            expected_version: 0,
        }
    });
    let raw = if attachment {
        format!(
            "From: {name} <{from}>\r\nTo: ann@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
             --b\r\nContent-Type: application/pdf; name=\"invoice-4711.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"invoice-4711.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"
        )
    } else {
        format!(
            "From: {name} <{from}>\r\nTo: ann@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        )
    };
    let cs = ChangeSet {
        raw: std::sync::Arc::new(raw.into_bytes()),
        ..change(m, dr_write)
    };
    store.apply(cs).await.unwrap()
}

async fn find(store: &dyn Store, q: &str) -> Vec<u64> {
    let q = parse_query(q, &TimeZone::UTC).unwrap();
    store
        .search_mails(&q, 0, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|(seq, _)| seq)
        .collect()
}

/// Every operator of the query language, ranking and diacritics, on one small archive.
pub async fn search_finds_ranks_and_filters(open: Opener) {
    let dir = temp_dir();
    let store = open(dir.path().to_path_buf()).await.unwrap();
    let s = store.as_ref();
    let parcel = put(
        s,
        "p1@cust.example",
        "carol@cust.example",
        "Carol Customer",
        "Parcel never arrived",
        "My parcel with order 1234 never arrived. Please help.",
        "2026-11-20T09:00:00Z",
        Some(7),
        false,
    )
    .await;
    let mention = put(
        s,
        "p2@cust.example",
        "dave@other.example",
        "Dave",
        "Question",
        "Is the parcel service open on Sunday? Also my order never arrived either.",
        "2026-11-25T09:00:00Z",
        None,
        false,
    )
    .await;
    let invoice = put(
        s,
        "p3@cust.example",
        "erin@cust.example",
        "Erin",
        "Invoice",
        "Please find the invoice attached. Grüße aus Köln.",
        "2026-12-01T09:00:00Z",
        None,
        true,
    )
    .await;

    // All words must match; a subject match ranks above a body-only one.
    assert_eq!(find(s, "parcel arrived").await, [parcel, mention]);
    assert_eq!(find(s, "parcel sunday").await, [mention]);
    // A phrase must appear as written.
    assert_eq!(find(s, "\"order 1234\"").await, [parcel]);
    assert_eq!(find(s, "\"arrived order\"").await, Vec::<u64>::new());
    // -word excludes, with words or with filters alone.
    assert_eq!(find(s, "arrived -sunday").await, [parcel]);
    assert_eq!(find(s, "-sunday").await, [invoice, parcel]);
    assert_eq!(
        find(s, "after:2026-11-21 -subject:invoice").await,
        [mention]
    );
    // Fields: from: matches the address and the display name; to:; subject:.
    assert_eq!(find(s, "from:carol").await, [parcel]);
    assert_eq!(find(s, "from:\"Carol Customer\"").await, [parcel]);
    assert_eq!(find(s, "from:dave@other.example").await, [mention]);
    assert_eq!(find(s, "subject:invoice").await, [invoice]);
    assert_eq!(find(s, "to:ann@example.com").await.len(), 3);
    assert_eq!(find(s, "subject:parcel sunday").await, Vec::<u64>::new());
    // Attachments: by name, and has:attachment.
    assert_eq!(find(s, "4711").await, [invoice]);
    assert_eq!(find(s, "has:attachment").await, [invoice]);
    // Diacritics fold both ways.
    assert_eq!(find(s, "koln").await, [invoice]);
    assert_eq!(find(s, "grusse").await, Vec::<u64>::new(), "ß is not ss");
    assert_eq!(find(s, "Grüße").await, [invoice]);
    assert_eq!(find(s, "KÖLN").await, [invoice]);
    // dr: and dates.
    assert_eq!(find(s, "dr:SUPP-11202026.7").await, [parcel]);
    assert_eq!(find(s, "dr:7 arrived").await, [parcel]);
    assert_eq!(
        find(s, "after:2026-11-21").await,
        [invoice, mention],
        "newest first"
    );
    assert_eq!(find(s, "before:2026-11-21 arrived").await, [parcel]);
    assert_eq!(
        find(s, "after:2026-11-21 before:2026-12-01").await,
        [mention]
    );
    // Search syntax typed by a user is text: no error, no surprise match.
    for q in [
        "NEAR(parcel arrived)",
        "parcel*",
        "\"unbalanced",
        "^parcel",
        "parcel OR invoice",
        "body:parcel",
        "a\"b\"c",
    ] {
        let parsed = parse_query(q, &TimeZone::UTC);
        if let Ok(parsed) = parsed {
            s.search_mails(&parsed, 0, 10)
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }
    assert_eq!(
        find(s, "parcel OR invoice").await,
        Vec::<u64>::new(),
        "OR is a word"
    );
    // Paging.
    let q = parse_query("to:ann@example.com", &TimeZone::UTC).unwrap();
    let first = s.search_mails(&q, 0, 2).await.unwrap();
    let rest = s.search_mails(&q, 2, 2).await.unwrap();
    assert_eq!((first.len(), rest.len()), (2, 1));
    assert!(first.iter().all(|(a, _)| rest.iter().all(|(b, _)| a != b)));
}

/// Mail recorded before a restart is still found after it.
pub async fn search_survives_reopen(open: Opener) {
    let dir = temp_dir();
    {
        let store = open(dir.path().to_path_buf()).await.unwrap();
        put(
            store.as_ref(),
            "r1@cust.example",
            "carol@cust.example",
            "Carol",
            "Refund",
            "About my refund",
            "2026-11-20T09:00:00Z",
            None,
            false,
        )
        .await;
        store.close().await.unwrap();
    }
    let store = open(dir.path().to_path_buf()).await.unwrap();
    assert_eq!(find(store.as_ref(), "refund").await.len(), 1);
}

/// Search through the service finds only what the actor may open: an agent sees the mail of
/// their own DRs, an admin sees all. Mail goes in through the real tracker.
pub async fn search_is_scoped_to_what_the_actor_may_open(open: Opener) {
    use etraq_core::access::{Actor, Viewer};
    use etraq_core::config::LiveConfig;
    use etraq_core::{Config, Envelope, Tracker};

    let dir = temp_dir();
    let store = open(dir.path().to_path_buf()).await.unwrap();
    for u in ["ann@example.com", "bob@example.com"] {
        store.put_user(&user(u, u)).await.unwrap();
    }
    let config = Config {
        local_domains: vec!["example.com".into()],
        timezone: "UTC".into(),
        ..Config::default()
    };
    let tracker = std::sync::Arc::new(Tracker::new(store.clone(), rules()));
    for (n, (to, body)) in [
        ("ann@example.com", "My parcel never arrived in Köln."),
        ("bob@example.com", "The parcel for Bob is late."),
    ]
    .into_iter()
    .enumerate()
    {
        let raw = format!(
            "From: Carol <carol@cust.example>\r\nTo: {to}\r\nSubject: Parcel\r\n\
             Message-ID: <scope{n}@cust.example>\r\n\r\n{body}\r\n"
        );
        let t = tracker
            .track(
                raw.as_bytes(),
                &Envelope::default(),
                at("2026-11-27T09:00:00Z"),
            )
            .await
            .unwrap();
        assert!(t.decision.is_tracked());
    }
    let app = etraq_core::service::App::new(
        store.clone(),
        tracker,
        LiveConfig::new(config),
        dir.path().join("logs"),
    );
    let users = store.list_users().await.unwrap();
    let ann = users
        .iter()
        .find(|u| u.email.as_str() == "ann@example.com")
        .unwrap();
    let ann = Actor::new(Viewer::user(ann.clone()), &users);
    let rows = app.search(&ann, "parcel", 20).await.unwrap();
    assert_eq!(rows.len(), 1, "ann finds her own mail only");
    assert!(rows[0].snippet.contains("parcel"), "{}", rows[0].snippet);
    assert_eq!(rows[0].to, ["ann@example.com"]);
    assert_eq!(app.search(&ann, "bob", 20).await.unwrap().len(), 0);
    assert_eq!(app.search(&ann, "koln", 20).await.unwrap().len(), 1);
    let admin = Actor::admin();
    assert_eq!(app.search(&admin, "parcel", 20).await.unwrap().len(), 2);
    // A query that does not parse is the caller's error, in words.
    let e = app.search(&ann, "before:soon", 20).await.unwrap_err();
    assert!(e.to_string().contains("is not a date"), "{e}");
}
