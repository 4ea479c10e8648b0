//! The outbox of etraq's own messages: queued durably, handed out when due, rescheduled on
//! failure, and gone from the due list once sent or given up.

use etraq_core::outbox::{Delivery, OutMessage, OutboxStore, QueuedMail};

use crate::conformance::open_in;
use crate::fixtures::*;
use crate::{Opener, temp_dir};

fn queued(kind: &str, to: &str, due: &str) -> QueuedMail {
    QueuedMail {
        id: 0,
        kind: kind.into(),
        message: OutMessage {
            cc: Vec::new(),
            from: addr("lists@example.com"),
            from_name: Some("News".into()),
            to: addr(to),
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

/// Messages come out when due, in due order; a failure reschedules; sent and failed ones
/// leave the due list but stay listed; everything survives a reopen.
pub async fn outbox_queues_and_reschedules(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let ids = outbox_contract(s.as_ref(), s.as_ref()).await;
    s.close().await.unwrap();
    let s = open_in(open, dir.path()).await;
    outbox_contract_after_reopen(s.as_ref(), ids).await;
    s.close().await.unwrap();
}

/// The outbox contract up to a reopen, on a store and another handle of the same store (the
/// same one, or another node of a shared database): answers the three ids it queued.
pub async fn outbox_contract(s: &dyn OutboxStore, other: &dyn OutboxStore) -> [u64; 3] {
    // Two in one transaction, one alone.
    let ids = s
        .queue_mails(vec![
            queued("confirm", "ann@customer.example", "2026-11-27T12:05:00Z"),
            queued("confirm", "bob@customer.example", "2026-11-27T12:01:00Z"),
        ])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let (a, b) = (ids[0], ids[1]);
    let c = other
        .queue_mails(vec![queued(
            "autoreply",
            "cid@customer.example",
            "2026-11-27T12:02:00Z",
        )])
        .await
        .unwrap()[0];
    assert!(a != b && b != c && a != c, "distinct ids");
    let due = other
        .due_mail(at("2026-11-27T12:03:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![b, c],
        "due ones, earliest first"
    );
    assert_eq!(
        due[0].message,
        queued("confirm", "bob@customer.example", "2026-11-27T12:01:00Z").message
    );
    assert_eq!(
        s.due_mail(at("2026-11-27T13:00:00Z"), 1)
            .await
            .unwrap()
            .len(),
        1,
        "limit"
    );
    // b fails once and is due later; c is sent.
    s.set_delivery(
        b,
        Delivery::Pending {
            attempts: 1,
            next_attempt_at: at("2026-11-27T14:00:00Z"),
            last_error: Some("451 try later".into()),
        },
    )
    .await
    .unwrap();
    s.set_delivery(
        c,
        Delivery::Sent {
            at: at("2026-11-27T12:03:00Z"),
            attempts: 1,
        },
    )
    .await
    .unwrap();
    let due = s.due_mail(at("2026-11-27T13:00:00Z"), 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a]);
    s.set_delivery(
        a,
        Delivery::Failed {
            at: at("2026-11-27T13:00:00Z"),
            error: "550 no such user".into(),
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        s.set_delivery(999_999, Delivery::due(at("2026-11-27T13:00:00Z")))
            .await,
        Err(etraq_core::Error::NotFound { .. })
    ));
    [a, b, c]
}

/// The rest of the outbox contract, on the store opened again.
pub async fn outbox_contract_after_reopen(s: &dyn OutboxStore, ids: [u64; 3]) {
    let [a, b, _c] = ids;
    let due = s.due_mail(at("2026-11-28T00:00:00Z"), 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), vec![b]);
    assert!(matches!(
        due[0].delivery,
        Delivery::Pending { attempts: 1, .. }
    ));
    let confirms = s.queued_mail("confirm", 10).await.unwrap();
    assert_eq!(
        confirms.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![b, a],
        "newest first"
    );
    assert!(matches!(confirms[1].delivery, Delivery::Failed { .. }));
    let acks = s.queued_mail("autoreply", 10).await.unwrap();
    assert!(matches!(
        acks[0].delivery,
        Delivery::Sent { attempts: 1, .. }
    ));
}

/// A message queued by a change set (an acknowledgement) is written in the change set's own
/// transaction: there when the DR is, absent when the write fails, including as part of a
/// batch that fails as a whole.
pub async fn outbox_message_commits_with_its_change_set(open: Opener) {
    use crate::fixtures::new_dr_change;
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let mut ok = new_dr_change(
        1,
        "first@customer.example",
        "ann@example.com",
        "cy@customer.example",
    );
    ok.queue = vec![queued(
        "autoreply",
        "cy@customer.example",
        "2026-11-27T12:00:00Z",
    )];
    s.apply(ok).await.unwrap();
    assert_eq!(s.queued_mail("autoreply", 10).await.unwrap().len(), 1);
    // The same DR number again conflicts: the batch fails and queues nothing.
    let fine = new_dr_change(
        2,
        "second@customer.example",
        "ann@example.com",
        "dd@customer.example",
    );
    let mut clash = new_dr_change(
        1,
        "third@customer.example",
        "ann@example.com",
        "ee@customer.example",
    );
    clash.queue = vec![queued(
        "autoreply",
        "ee@customer.example",
        "2026-11-27T12:00:00Z",
    )];
    assert!(s.apply_batch(vec![fine, clash]).await.is_err());
    let queued_now = s.queued_mail("autoreply", 10).await.unwrap();
    assert_eq!(queued_now.len(), 1, "{queued_now:?}");
    assert!(
        s.get_dr(&crate::fixtures::dr(2, "ann@example.com", "dd@customer.example").id)
            .await
            .unwrap()
            .is_none()
    );
    s.close().await.unwrap();
    let s = open_in(open, dir.path()).await;
    let due = s.due_mail(at("2026-11-28T00:00:00Z"), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message.to, addr("cy@customer.example"));
}

/// Claims are exclusive: eight notifiers claiming at once (on a shared database, as on two
/// nodes) take every due message and every due alert exactly once, a claimed one is never due
/// again (a node dying mid-send leaves it in doubt, never sent twice), and a claim counts its
/// attempt.
pub async fn outbox_claims_are_exclusive(open: Opener) {
    use etraq_core::model::AlertMail;
    use etraq_core::store::CycleWrite;
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let now = at("2026-11-27T13:00:00Z");
    let mails: Vec<QueuedMail> = (0..40)
        .map(|i| {
            queued(
                "confirm",
                &format!("c{i}@customer.example"),
                "2026-11-27T12:00:00Z",
            )
        })
        .collect();
    s.queue_mails(mails).await.unwrap();
    let alerts = (0..40)
        .map(|i| {
            let mut a = crate::conformance::alert_for_tests(&format!("u{i}@example.com"));
            a.mail = AlertMail::Pending {
                attempts: 0,
                next_attempt_at: at("2026-11-27T12:00:00Z"),
                last_error: None,
            };
            a
        })
        .collect();
    s.apply_cycle(CycleWrite {
        record: crate::conformance::cycle_for_tests(),
        drs: vec![],
        alerts,
    })
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mail = Vec::new();
            let mut alerts = Vec::new();
            for _ in 0..4 {
                mail.extend(s.claim_due_mail(now, 3).await.unwrap());
                alerts.extend(s.claim_alerts(now, 3).await.unwrap());
            }
            (mail, alerts)
        }));
    }
    let mut mail_ids = Vec::new();
    let mut alert_ids = Vec::new();
    for t in tasks {
        let (m, a) = t.await.unwrap();
        for q in &m {
            assert!(
                matches!(q.delivery, Delivery::Sending { attempts: 1, since } if since == now),
                "{:?}",
                q.delivery
            );
        }
        for x in &a {
            assert!(matches!(x.mail, AlertMail::Sending { attempts: 1, .. }));
        }
        mail_ids.extend(m.into_iter().map(|q| q.id));
        alert_ids.extend(a.into_iter().map(|x| x.id));
    }
    // What the eight did not get in their four rounds is still due; take it.
    mail_ids.extend(
        s.claim_due_mail(now, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.id),
    );
    alert_ids.extend(
        s.claim_alerts(now, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.id),
    );
    for ids in [&mut mail_ids, &mut alert_ids] {
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "a message or alert was claimed twice");
        assert_eq!(n, 40);
    }
    assert!(s.due_mail(now, 100).await.unwrap().is_empty());
    assert!(s.outbox(now, 100).await.unwrap().is_empty());
    assert!(s.claim_due_mail(now, 100).await.unwrap().is_empty());
    s.close().await.unwrap();
}
