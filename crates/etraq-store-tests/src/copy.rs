//! `etraq migrate`'s tables ([`etraq_core::copy`]): a store copied into a fresh one of the same
//! backend verifies table by table, answers every lookup, listing and search the same, and
//! hands out ids past the copied ones. (The CLI test copies across all three backends.)

use std::sync::Arc;

use etraq_core::Store;
use etraq_core::copy::{self, Table};
use etraq_core::outbox::{Delivery, OutMessage, QueuedMail};
use etraq_core::store::{DrQuery, MailQuery, PendingDelivery, ResponseQuery};
use etraq_core::support::kb;
use etraq_core::{MessageId, ResponseTime};

use crate::conformance::open_in;
use crate::fixtures::*;
use crate::{Opener, search_query, temp_dir};

async fn fill(s: &Arc<dyn Store>) -> (u64, u64) {
    s.put_user(&user("b@example.com", "B")).await.unwrap();
    s.kv_put("settings/x", Some("{\"a\":1}")).await.unwrap();
    // More than a page of text keys, written at once.
    let mut puts = tokio::task::JoinSet::new();
    for i in 0..copy::PAGE + 50 {
        let s = s.clone();
        puts.spawn(async move { s.kv_put(&format!("session/{i:04}"), Some("x")).await });
    }
    while let Some(r) = puts.join_next().await {
        r.unwrap().unwrap();
    }
    let first = s.reserve_dr_numbers(3).await.unwrap();
    let mut last_seq = 0;
    for (i, customer) in ["ann@x.test", "bob@y.test", "cy@z.test"].iter().enumerate() {
        let mut cs = new_dr_change(
            first + i as u64,
            &format!("m{i}@x.test"),
            "b@example.com",
            customer,
        );
        cs.raw = Arc::new(
            format!(
                "Message-ID: <m{i}@x.test>\r\nFrom: {customer}\r\nTo: b@example.com\r\n\
                 Subject: gearbox number {i}\r\n\r\nthe gearbox rattles\r\n"
            )
            .into_bytes(),
        );
        if i == 1 {
            cs.response = Some(ResponseTime {
                dr: dr_id(first + 1),
                user: addr("b@example.com"),
                awaiting_since: at("2026-11-27T09:00:00Z"),
                responded_at: at("2026-11-27T10:00:00Z"),
                seconds: 3600,
                first: true,
            });
        }
        last_seq = s.apply(cs).await.unwrap();
    }
    let now = at("2026-12-01T10:00:00Z");
    let input = kb::ArticleInput {
        title: Some("Rattling gearbox".into()),
        body: Some("Tighten the gearbox screws.".into()),
        tags: Some(vec!["gearbox".into()]),
        public: Some(true),
    };
    let a = input.apply(kb::blank(now), "b@example.com", now).unwrap();
    s.kb_put(a).await.unwrap();
    s.queue_mails(vec![queued(now)]).await.unwrap();
    s.put_pending(&PendingDelivery {
        id: 0,
        message_id: MessageId::parse("<p@x.test>").unwrap(),
        mail_from: Some(addr("ann@x.test")),
        rcpt_to: vec![addr("b@example.com")],
        size: 10,
        client: "192.0.2.1".into(),
        started_at: now,
    })
    .await
    .unwrap();
    // More links than one page of a copy holds (the pages after the first start from a
    // (campaign, link) cursor).
    let c = s
        .create_campaign(crate::campaign::campaign("Spring"))
        .await
        .unwrap();
    let urls = (0..copy::PAGE + 100)
        .map(|i| format!("https://shop.example.com/{i}"))
        .collect();
    s.add_campaign_links(c.id, urls).await.unwrap();
    (first + 2, last_seq)
}

fn queued(now: jiff::Timestamp) -> QueuedMail {
    QueuedMail {
        id: 0,
        kind: "acknowledgement".into(),
        message: OutMessage {
            from: addr("b@example.com"),
            from_name: None,
            to: addr("ann@x.test"),
            cc: Vec::new(),
            subject: "Got it".into(),
            text: "Thanks".into(),
            html: None,
            message_id: "ack@example.com".into(),
            headers: Vec::new(),
        },
        created_at: now,
        delivery: Delivery::Pending {
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
        },
    }
}

/// Copied into an empty store, every table verifies; the copy lists, looks up and searches the
/// same, and new DRs, mail, articles and queued messages get ids past the copied ones.
pub async fn copy_round_trips_and_continues(open: Opener) {
    let (d1, d2) = (temp_dir(), temp_dir());
    let a = open_in(open, d1.path()).await;
    let (last_dr, last_seq) = fill(&a).await;
    let b = open_in(open, d2.path()).await;
    assert_eq!(copy::first_nonempty(&*b).await.unwrap(), None);
    assert_eq!(
        copy::first_nonempty(&*a).await.unwrap(),
        Some(Table::Counters)
    );
    for t in Table::ALL {
        let report = copy::copy_table(&*a, &*b, t, &|_, _| {}).await.unwrap();
        assert!(report.verified, "{t:?} does not verify");
    }
    b.finish_import().await.unwrap();

    let all = DrQuery {
        limit: 50,
        ..DrQuery::default()
    };
    assert_eq!(
        a.list_drs(&all).await.unwrap(),
        b.list_drs(&all).await.unwrap()
    );
    let mails = MailQuery {
        limit: 50,
        ..MailQuery::default()
    };
    assert_eq!(
        a.list_mails(&mails).await.unwrap(),
        b.list_mails(&mails).await.unwrap()
    );
    assert_eq!(
        a.mails_by_message_id(&mid("m1@x.test")).await.unwrap(),
        b.mails_by_message_id(&mid("m1@x.test")).await.unwrap()
    );
    assert_eq!(
        b.raw_message(last_seq).await.unwrap(),
        a.raw_message(last_seq).await.unwrap()
    );
    assert_eq!(
        a.list_responses(&ResponseQuery::default()).await.unwrap(),
        b.list_responses(&ResponseQuery::default()).await.unwrap()
    );
    assert_eq!(a.list_users().await.unwrap(), b.list_users().await.unwrap());
    assert_eq!(
        a.kv_scan("settings/").await.unwrap(),
        b.kv_scan("settings/").await.unwrap()
    );
    assert_eq!(b.kv_scan("session/").await.unwrap().len(), copy::PAGE + 50);
    assert_eq!(
        a.list_pending().await.unwrap(),
        b.list_pending().await.unwrap()
    );
    assert_eq!(
        a.queued_mail("acknowledgement", 10).await.unwrap(),
        b.queued_mail("acknowledgement", 10).await.unwrap()
    );
    assert_eq!(a.stats().await.unwrap(), b.stats().await.unwrap());
    let c = b.get_campaign("Spring").await.unwrap().unwrap();
    assert_eq!(
        a.campaign_links(c.id).await.unwrap(),
        b.campaign_links(c.id).await.unwrap()
    );
    assert_eq!(
        b.campaign_links(c.id).await.unwrap().len(),
        copy::PAGE + 100
    );
    let q = search_query("gearbox from:bob@y.test").unwrap();
    let found: Vec<u64> = b
        .search_mails(&q, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the copy's search index holds the copied mail"
    );
    let kb_hits = b
        .kb_search(&["gearbox".to_string()], true, 5)
        .await
        .unwrap();
    assert_eq!(
        kb_hits.len(),
        1,
        "the copy's knowledge-base index holds the article"
    );

    // New records get ids past the copied ones.
    let n = b.reserve_dr_numbers(1).await.unwrap();
    assert!(n > last_dr, "DR number {n} after {last_dr}");
    let seq = b
        .apply(new_dr_change(
            n,
            "new@x.test",
            "b@example.com",
            "dee@x.test",
        ))
        .await
        .unwrap();
    assert!(seq > last_seq, "seq {seq} after {last_seq}");
    let ids = b
        .queue_mails(vec![queued(at("2026-12-02T10:00:00Z"))])
        .await
        .unwrap();
    let old = a.queued_mail("acknowledgement", 10).await.unwrap();
    assert!(ids[0] > old[0].id);
    let now = at("2026-12-02T10:00:00Z");
    let art = kb::ArticleInput {
        title: Some("Second".into()),
        body: Some("More.".into()),
        tags: None,
        public: Some(true),
    }
    .apply(kb::blank(now), "b@example.com", now)
    .unwrap();
    let added = b.kb_put(art).await.unwrap();
    assert_eq!(
        b.kb_list().await.unwrap().len(),
        2,
        "article {} is new",
        added.id
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}
