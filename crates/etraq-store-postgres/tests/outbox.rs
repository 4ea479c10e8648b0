//! The outbox on PostgreSQL, as the conformance suite holds the other stores to it: messages
//! come out when due, earliest first; a failure reschedules; sent and failed ones leave the due
//! list but stay listed; unknown ids answer `NotFound`; another node sees it all.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use etraq_core::EmailAddress;
use etraq_core::outbox::{Delivery, OutMessage, OutboxStore, QueuedMail};
use etraq_store_postgres::PgStore;
use etraq_store_postgres::testing::Cluster;
use jiff::Timestamp;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn queued(kind: &str, to: &str, due: &str) -> QueuedMail {
    QueuedMail {
        id: 0,
        kind: kind.into(),
        message: OutMessage {
            from: EmailAddress::parse("lists@example.com").unwrap(),
            from_name: Some("News".into()),
            to: EmailAddress::parse(to).unwrap(),
            cc: Vec::new(),
            subject: format!("about {to}"),
            text: "hello".into(),
            html: Some("<p>hello</p>".into()),
            message_id: format!("{kind}.{to}"),
            headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
        },
        created_at: at("2026-11-27T12:00:00Z"),
        delivery: Delivery::due(at(due)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_queues_reschedules_and_is_shared_by_nodes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let a = PgStore::open_pg(&cluster.url()).await.unwrap();
    let b = PgStore::open_pg(&cluster.url()).await.unwrap();
    let ids = a
        .queue_mails(vec![
            queued("confirm", "ann@customer.example", "2026-11-27T12:05:00Z"),
            queued("confirm", "bob@customer.example", "2026-11-27T12:01:00Z"),
        ])
        .await
        .unwrap();
    let (x, y) = (ids[0], ids[1]);
    let z = b
        .queue_mails(vec![queued(
            "autoreply",
            "cid@customer.example",
            "2026-11-27T12:02:00Z",
        )])
        .await
        .unwrap()[0];
    assert!(x != y && y != z && x != z);
    let due = b.due_mail(at("2026-11-27T12:03:00Z"), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![y, z],
        "due ones, earliest first"
    );
    assert_eq!(
        due[0].message,
        queued("confirm", "bob@customer.example", "2026-11-27T12:01:00Z").message
    );
    assert_eq!(
        a.due_mail(at("2026-11-27T13:00:00Z"), 1)
            .await
            .unwrap()
            .len(),
        1,
        "limit"
    );
    a.set_delivery(
        y,
        Delivery::Pending {
            attempts: 1,
            next_attempt_at: at("2026-11-27T14:00:00Z"),
            last_error: Some("451 try later".into()),
        },
    )
    .await
    .unwrap();
    b.set_delivery(
        z,
        Delivery::Sent {
            at: at("2026-11-27T12:03:00Z"),
            attempts: 1,
        },
    )
    .await
    .unwrap();
    let due = a.due_mail(at("2026-11-27T13:00:00Z"), 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), vec![x]);
    a.set_delivery(
        x,
        Delivery::Failed {
            at: at("2026-11-27T13:00:00Z"),
            error: "550 no such user".into(),
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        a.set_delivery(999_999, Delivery::due(at("2026-11-27T13:00:00Z")))
            .await,
        Err(etraq_core::Error::NotFound { .. })
    ));
    a.close();
    let c = PgStore::open_pg(&cluster.url()).await.unwrap();
    let due = c.due_mail(at("2026-11-28T00:00:00Z"), 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), vec![y]);
    assert!(matches!(
        due[0].delivery,
        Delivery::Pending { attempts: 1, .. }
    ));
    let confirms = c.queued_mail("confirm", 10).await.unwrap();
    assert_eq!(
        confirms.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![y, x],
        "newest first"
    );
    assert!(matches!(confirms[1].delivery, Delivery::Failed { .. }));
    assert_eq!(c.queued_mail("autoreply", 10).await.unwrap().len(), 1);
}
