//! The conformance suite: every `Store` method, concurrency, durability across reopen, lookups
//! and keyset pagination. Each case opens a fresh store.

use std::collections::HashSet;
use std::sync::Arc;

use etraq_core::model::{Alert, AlertKind, AlertMail, CycleDecision, CycleRecord};
use etraq_core::store::{
    AlertQuery, CycleWrite, DrQuery, DrWrite, FactsQuery, MailQuery, ResponseQuery,
};
use etraq_core::{Direction, DrStatus, Error, Party, ResponseTime, Role, Store, UntrackedReason};

use crate::fixtures::*;
use crate::{Opener, temp_dir};

pub(crate) async fn open_in(open: Opener, dir: &std::path::Path) -> Arc<dyn Store> {
    open(dir.to_path_buf())
        .await
        .unwrap_or_else(|e| panic!("cannot open the store: {e}"))
}

/// `put_user` creates and replaces; `get_user` and `list_users` find them, ordered by address.
pub async fn users_round_trip(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    assert_eq!(s.get_user(&addr("bob@example.com")).await.unwrap(), None);
    let mut bob = user("bob@example.com", "Bob");
    s.put_user(&bob).await.unwrap();
    s.put_user(&user("alice@example.com", "Alice"))
        .await
        .unwrap();
    bob.department = Some("sales".into());
    bob.supervisor = Some(addr("alice@example.com"));
    bob.role = Role::Supervisor;
    bob.tracking = false;
    s.put_user(&bob).await.unwrap();
    assert_eq!(s.get_user(&bob.email).await.unwrap(), Some(bob.clone()));
    let all = s.list_users().await.unwrap();
    let names: Vec<&str> = all.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(names, vec!["alice@example.com", "bob@example.com"]);
    s.close().await.unwrap();
}

/// 16 concurrent tasks allocate 10,000 DR numbers: no duplicates. Ranges never overlap.
pub async fn dr_numbers_are_unique_under_concurrency(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(625);
            for _ in 0..625 {
                mine.push(s.reserve_dr_numbers(1).await.unwrap());
            }
            mine
        }));
    }
    let mut all = HashSet::new();
    for t in tasks {
        for n in t.await.unwrap() {
            assert!(all.insert(n), "DR number {n} was handed out twice");
        }
    }
    assert_eq!(all.len(), 10_000);
    let first = s.reserve_dr_numbers(5).await.unwrap();
    for n in first..first + 5 {
        assert!(all.insert(n), "range overlaps earlier numbers at {n}");
    }
    let next = s.reserve_dr_numbers(1).await.unwrap();
    assert!(!all.contains(&next));
    s.close().await.unwrap();
}

/// One `apply` writes the DR, the mail, the Message-ID index, the parties and the raw message;
/// every lookup finds them.
pub async fn apply_writes_everything_and_lookups_find_it(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.put_user(&user("support@example.com", "Support"))
        .await
        .unwrap();
    let cs = new_dr_change(
        7,
        "m1@customer.test",
        "support@example.com",
        "ann@customer.test",
    );
    let raw = cs.raw.clone();
    let d = cs.dr.clone().unwrap().dr;
    let seq = s.apply(cs).await.unwrap();
    assert!(seq > 0);

    // By DR id; a wrong prefix or date with the same number is not found.
    assert_eq!(s.get_dr(&d.id).await.unwrap(), Some(d.clone()));
    let wrong = etraq_core::DrId::new("SALE", d.id.date(), 7).unwrap();
    assert_eq!(s.get_dr(&wrong).await.unwrap(), None);
    assert_eq!(s.get_dr(&dr_id(8)).await.unwrap(), None);

    // By seq and Message-ID; raw message archived byte for byte.
    let m = s.get_mail(seq).await.unwrap().unwrap();
    assert_eq!(m.seq, seq);
    assert_eq!(m.dr.as_ref(), Some(&d.id));
    assert_eq!(
        s.mails_by_message_id(&mid("m1@customer.test"))
            .await
            .unwrap(),
        vec![m.clone()]
    );
    assert_eq!(
        s.mails_by_message_id(&mid("<m1@customer.test>"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.mails_by_message_id(&mid("nope@x"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.raw_message(seq).await.unwrap().as_ref(), Some(&*raw));
    assert_eq!(s.raw_message(seq + 1000).await.unwrap(), None);
    assert_eq!(s.get_mail(seq + 1000).await.unwrap(), None);

    // By owner, status and customer (address and @domain).
    let q = |f: fn(&mut DrQuery)| {
        let mut q = DrQuery::default();
        f(&mut q);
        q
    };
    let ids =
        |p: etraq_core::Page<etraq_core::Dr>| p.items.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s
            .list_drs(&q(|q| q.owner = Some(addr("support@example.com"))))
            .await
            .unwrap()),
        vec![d.id.clone()]
    );
    assert!(
        ids(s
            .list_drs(&q(|q| q.owner = Some(addr("bob@example.com"))))
            .await
            .unwrap())
        .is_empty()
    );
    assert_eq!(
        ids(s
            .list_drs(&q(|q| q.status = Some(DrStatus::Open)))
            .await
            .unwrap())
        .len(),
        1
    );
    assert!(
        ids(s
            .list_drs(&q(|q| q.status = Some(DrStatus::Closed)))
            .await
            .unwrap())
        .is_empty()
    );
    assert_eq!(
        ids(s
            .list_drs(&q(
                |q| q.customer = Some(Party::Address(addr("ann@customer.test")))
            ))
            .await
            .unwrap())
        .len(),
        1
    );
    assert_eq!(
        ids(s
            .list_drs(&q(
                |q| q.customer = Some(Party::Domain("customer.test".into()))
            ))
            .await
            .unwrap())
        .len(),
        1
    );
    assert!(
        ids(s
            .list_drs(&q(|q| q.customer = Some(Party::Domain("other.test".into()))))
            .await
            .unwrap())
        .is_empty()
    );

    // Mail listings by tracked flag, DR and party.
    let mq = |f: fn(&mut MailQuery)| {
        let mut q = MailQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        s.list_mails(&mq(|q| q.tracked = Some(true)))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        s.list_mails(&mq(|q| q.tracked = Some(false)))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let by_dr = s
        .list_mails(&MailQuery {
            dr: Some(d.id.clone()),
            ..MailQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_dr.items, vec![m.clone()]);
    assert_eq!(
        s.list_mails(&mq(
            |q| q.party = Some(Party::Domain("customer.test".into()))
        ))
        .await
        .unwrap()
        .items,
        vec![m.clone()]
    );
    assert_eq!(
        s.list_mails(&mq(
            |q| q.party = Some(Party::Address(addr("ann@customer.test")))
        ))
        .await
        .unwrap()
        .items
        .len(),
        1
    );
    assert!(
        s.list_mails(&mq(
            |q| q.party = Some(Party::Address(addr("bob@customer.test")))
        ))
        .await
        .unwrap()
        .items
        .is_empty()
    );

    // Thread facts: duplicate per direction, referenced mails with their DR, tags, users.
    let facts = s
        .thread_facts(&FactsQuery {
            message_id: mid("m1@customer.test"),
            direction: Direction::Inbound,
            candidates: vec![mid("m1@customer.test"), mid("unknown@x")],
            tags: vec![d.id.clone(), dr_id(99)],
            users: vec![addr("support@example.com"), addr("nobody@example.com")],
        })
        .await
        .unwrap();
    assert!(facts.duplicate);
    assert_eq!(facts.referenced.len(), 1);
    assert_eq!(facts.referenced[0].dr.as_ref(), Some(&d.id));
    assert_eq!(facts.referenced[0].sender, Some(addr("ann@customer.test")));
    assert_eq!(facts.drs, vec![d.clone()]);
    assert_eq!(facts.users.len(), 1);
    let other_dir = s
        .thread_facts(&FactsQuery {
            message_id: mid("m1@customer.test"),
            direction: Direction::Outbound,
            ..facts_query()
        })
        .await
        .unwrap();
    assert!(!other_dir.duplicate);
    assert!(!facts.referenced[0].campaign_mail);

    // A campaign's mail is marked as such in the facts (the reply rule needs it).
    let mut cm = mail(
        "3.7.abcdef012345@example.com",
        "ann@customer.test",
        "news@example.com",
        None,
    );
    cm.direction = Direction::Outbound;
    cm.decision = etraq_core::Decision::Untracked {
        reason: etraq_core::UntrackedReason::CampaignMail,
    };
    s.apply(change(cm, None)).await.unwrap();
    let facts = s
        .thread_facts(&FactsQuery {
            candidates: vec![mid("3.7.abcdef012345@example.com")],
            ..facts_query()
        })
        .await
        .unwrap();
    assert_eq!(facts.referenced.len(), 1);
    assert!(facts.referenced[0].campaign_mail);
    s.close().await.unwrap();
}

/// `thread_facts_batch` answers each query exactly as `thread_facts` does, in order.
pub async fn batch_facts_equal_single_facts(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.put_user(&user("b@example.com", "B")).await.unwrap();
    s.apply(new_dr_change(4, "t1@x.test", "b@example.com", "a@x.test"))
        .await
        .unwrap();
    s.apply(change(
        mail("t2@x.test", "a@x.test", "b@example.com", None),
        None,
    ))
    .await
    .unwrap();
    let queries = vec![
        FactsQuery {
            message_id: mid("t1@x.test"),
            candidates: vec![mid("t2@x.test"), mid("t1@x.test")],
            users: vec![addr("b@example.com")],
            ..facts_query()
        },
        FactsQuery {
            message_id: mid("new@x.test"),
            direction: Direction::Outbound,
            tags: vec![dr_id(4), dr_id(5)],
            ..facts_query()
        },
        facts_query(),
    ];
    let batch = s.thread_facts_batch(&queries).await.unwrap();
    assert_eq!(batch.len(), 3);
    for (q, b) in queries.iter().zip(&batch) {
        assert_eq!(&s.thread_facts(q).await.unwrap(), b);
    }
    assert!(batch[0].duplicate);
    assert_eq!(batch[0].referenced.len(), 2);
    assert_eq!(batch[1].drs.len(), 1);
    assert!(s.thread_facts_batch(&[]).await.unwrap().is_empty());
    s.close().await.unwrap();
}

fn alert(kind: AlertKind, user: &str, dr: u64, mail: AlertMail) -> Alert {
    Alert {
        id: 0,
        event_type: kind,
        user: addr(user),
        date_time: at("2026-11-27T12:00:00Z"),
        source_dr: dr_id(dr),
        assigned_on: at("2026-11-27T09:00:00Z"),
        dr_owner: addr("b@example.com"),
        level: 0,
        customer: addr("a@x.test"),
        subject: "Question".into(),
        waited_secs: 3600,
        cycle: 0,
        mail,
    }
}

/// A warning for `user` about DR 1, due at 12:00 (for other modules' cases).
pub(crate) fn alert_for_tests(user: &str) -> Alert {
    alert(
        AlertKind::Warning,
        user,
        1,
        pending_at("2026-11-27T12:00:00Z"),
    )
}

/// A cycle's record (for other modules' cases).
pub(crate) fn cycle_for_tests() -> CycleRecord {
    cycle_record(0, 0)
}

fn pending_at(s: &str) -> AlertMail {
    AlertMail::Pending {
        attempts: 0,
        next_attempt_at: at(s),
        last_error: None,
    }
}

fn cycle_record(warned: u64, escalated: u64) -> CycleRecord {
    CycleRecord {
        id: 0,
        at: at("2026-11-27T12:00:00Z"),
        warned,
        escalated,
        reminded: 0,
        bypassed: 3,
        decisions: vec![CycleDecision {
            dr: dr_id(1),
            action: etraq_core::model::CycleAction::Warning,
            detail: "to b@example.com".into(),
        }],
    }
}

/// DRs are found by due time: exactly those due, earliest first; a DR with nothing due leaves
/// the index.
pub async fn due_index(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    for (n, due) in [
        (1, Some("2026-11-27T10:00:00Z")),
        (2, Some("2026-11-27T09:30:00Z")),
        (3, None),
        (4, Some("2026-11-28T09:00:00Z")),
    ] {
        let mut cs = new_dr_change(n, &format!("due{n}@x.test"), "b@example.com", "a@x.test");
        if let Some(w) = cs.dr.as_mut() {
            w.dr.due_at = due.map(at);
        }
        s.apply(cs).await.unwrap();
    }
    let due = s.due_drs(at("2026-11-27T12:00:00Z"), 100).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.id.number()).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(
        s.due_drs(at("2026-11-27T12:00:00Z"), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.due_drs(at("2026-11-27T10:00:00Z"), 100)
            .await
            .unwrap()
            .len(),
        2,
        "due at exactly now counts"
    );
    let mut d = s.get_dr(&dr_id(2)).await.unwrap().unwrap();
    d.due_at = None;
    d.version = 2;
    s.save_dr(DrWrite {
        dr: d,
        expected_version: 1,
    })
    .await
    .unwrap();
    let mut d = s.get_dr(&dr_id(1)).await.unwrap().unwrap();
    d.due_at = Some(at("2026-11-29T00:00:00Z"));
    d.version = 2;
    s.save_dr(DrWrite {
        dr: d,
        expected_version: 1,
    })
    .await
    .unwrap();
    assert!(
        s.due_drs(at("2026-11-27T12:00:00Z"), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.due_drs(at("2026-12-01T00:00:00Z"), 100)
            .await
            .unwrap()
            .len(),
        2
    );
    s.close().await.unwrap();
}

/// A cycle writes its DRs, alerts, record and counters at once; a conflicting one writes nothing.
pub async fn cycles_are_atomic_and_count(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.apply(new_dr_change(1, "c1@x.test", "b@example.com", "a@x.test"))
        .await
        .unwrap();
    let mut warned = s.get_dr(&dr_id(1)).await.unwrap().unwrap();
    warned.warned_at = Some(at("2026-11-27T12:00:00Z"));
    warned.due_at = None;
    warned.version = 2;
    let write = CycleWrite {
        record: cycle_record(1, 0),
        drs: vec![DrWrite {
            dr: warned.clone(),
            expected_version: 1,
        }],
        alerts: vec![alert(
            AlertKind::Warning,
            "b@example.com",
            1,
            pending_at("2026-11-27T12:00:00Z"),
        )],
    };
    let rec = s.apply_cycle(write.clone()).await.unwrap();
    assert!(rec.id > 0);
    assert_eq!(s.get_dr(&dr_id(1)).await.unwrap().unwrap(), warned);
    let alerts = s.list_alerts(&AlertQuery::default()).await.unwrap().items;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].cycle, rec.id);
    assert!(alerts[0].id > 0);
    // The same write again conflicts (stale version) and adds nothing.
    assert!(matches!(
        s.apply_cycle(write).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        s.list_alerts(&AlertQuery::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let st = s.stats().await.unwrap();
    assert_eq!((st.warned, st.escalated, st.outbox), (1, 0, 1));
    s.apply_cycle(CycleWrite {
        record: cycle_record(0, 2),
        drs: vec![],
        alerts: vec![],
    })
    .await
    .unwrap();
    let st = s.stats().await.unwrap();
    assert_eq!((st.warned, st.escalated), (1, 2));
    let cycles = s.list_cycles(None, 10).await.unwrap().items;
    assert_eq!(cycles.len(), 2);
    assert!(cycles[0].id > cycles[1].id, "newest first");
    assert_eq!(cycles[1].decisions.len(), 1);
    let page = s.list_cycles(None, 1).await.unwrap();
    assert_eq!(
        s.list_cycles(page.next, 1).await.unwrap().items[0].id,
        cycles[1].id
    );
    s.close().await.unwrap();
}

/// The outbox holds pending alerts until they are due; mail state changes move them out.
pub async fn alert_outbox(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let alerts = vec![
        alert(
            AlertKind::Warning,
            "b@example.com",
            1,
            pending_at("2026-11-27T12:00:00Z"),
        ),
        alert(
            AlertKind::Escalated,
            "lead@example.com",
            1,
            pending_at("2026-11-27T12:05:00Z"),
        ),
        alert(AlertKind::Reminder, "c@example.com", 2, AlertMail::Disabled),
    ];
    s.apply_cycle(CycleWrite {
        record: cycle_record(1, 1),
        drs: vec![],
        alerts,
    })
    .await
    .unwrap();
    let due = s.outbox(at("2026-11-27T12:01:00Z"), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].user, addr("b@example.com"));
    assert_eq!(
        s.outbox(at("2026-11-27T13:00:00Z"), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    // A failed attempt is rescheduled; a success leaves the outbox for good.
    s.update_alert_mail(
        due[0].id,
        AlertMail::Pending {
            attempts: 1,
            next_attempt_at: at("2026-11-27T14:00:00Z"),
            last_error: Some("451".into()),
        },
    )
    .await
    .unwrap();
    let later = s.outbox(at("2026-11-27T13:00:00Z"), 10).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].user, addr("lead@example.com"));
    s.update_alert_mail(
        later[0].id,
        AlertMail::Sent {
            at: at("2026-11-27T13:00:00Z"),
            attempts: 1,
        },
    )
    .await
    .unwrap();
    let all = s.outbox(at("2030-01-01T00:00:00Z"), 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, due[0].id);
    assert_eq!(s.stats().await.unwrap().outbox, 1);
    assert!(matches!(
        s.update_alert_mail(9999, AlertMail::Disabled).await,
        Err(Error::NotFound { .. })
    ));
    // Listing by user and by DR.
    let q = |u: Option<&str>, d: Option<u64>| AlertQuery {
        user: u.map(addr),
        dr: d.map(dr_id),
        ..AlertQuery::default()
    };
    assert_eq!(
        s.list_alerts(&q(Some("lead@example.com"), None))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        s.list_alerts(&q(None, Some(2))).await.unwrap().items.len(),
        1
    );
    assert_eq!(s.list_alerts(&q(None, None)).await.unwrap().items.len(), 3);
    let first = s
        .list_alerts(&AlertQuery {
            limit: 2,
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = s
        .list_alerts(&AlertQuery {
            after: first.next,
            limit: 2,
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next.is_none());
    s.close().await.unwrap();
}

/// Mail volume per bucket, direction and decision; unreplied filter by waiting time.
pub async fn volume_and_unreplied(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let day = 86_400;
    for (i, (secs, dir_, dr)) in [
        (0, Direction::Inbound, true),
        (100, Direction::Inbound, false),
        (day + 5, Direction::Outbound, false),
        (day + 6, Direction::Inbound, true),
    ]
    .into_iter()
    .enumerate()
    {
        // The last mail goes to another employee, so a scope can tell them apart.
        let to = if i == 3 {
            "c@example.com"
        } else {
            "b@example.com"
        };
        let mut m = mail(&format!("v{i}@x.test"), "a@x.test", to, None);
        m.received_at = plus(at("2026-11-27T00:00:00Z"), secs);
        m.direction = dir_;
        if dr {
            m.decision = etraq_core::Decision::Tracked {
                mail_type: etraq_core::MailType::Normal,
            };
        }
        s.apply(change(m, None)).await.unwrap();
    }
    let v = s
        .volume(
            at("2026-11-27T00:00:00Z"),
            at("2026-11-29T00:00:00Z"),
            day,
            None,
        )
        .await
        .unwrap();
    let total: u64 = v.iter().map(|b| b.count).sum();
    assert_eq!(total, 4);
    // Scoped to a viewer: only mail with one of the scope's addresses on it.
    let scoped = |users: &'static [&'static str]| {
        let s = &s;
        async move {
            let users: Vec<_> = users.iter().map(|u| addr(u)).collect();
            s.volume(
                at("2026-11-27T00:00:00Z"),
                at("2026-11-29T00:00:00Z"),
                day,
                Some(&users),
            )
            .await
            .unwrap()
            .iter()
            .map(|b| b.count)
            .sum::<u64>()
        }
    };
    assert_eq!(scoped(&["b@example.com"]).await, 3);
    assert_eq!(scoped(&["c@example.com"]).await, 1);
    assert_eq!(scoped(&["b@example.com", "c@example.com"]).await, 4);
    assert_eq!(scoped(&["nobody@example.com"]).await, 0);
    assert_eq!(scoped(&[]).await, 0, "an empty scope counts nothing");
    let first_day: Vec<_> = v
        .iter()
        .filter(|b| b.start == at("2026-11-27T00:00:00Z").as_second())
        .collect();
    assert_eq!(first_day.iter().map(|b| b.count).sum::<u64>(), 2);
    assert!(
        first_day.iter().any(|b| b.tracked && b.count == 1)
            && first_day.iter().any(|b| !b.tracked && b.count == 1)
    );
    assert_eq!(
        s.volume(
            at("2026-11-28T00:00:00Z"),
            at("2026-11-29T00:00:00Z"),
            day,
            None
        )
        .await
        .unwrap()
        .iter()
        .map(|b| b.count)
        .sum::<u64>(),
        2
    );

    let mut old = dr(10, "b@example.com", "a@x.test");
    old.awaiting_since = Some(at("2026-11-20T00:00:00Z"));
    let mut fresh = dr(11, "b@example.com", "a@x.test");
    fresh.awaiting_since = Some(at("2026-11-27T00:00:00Z"));
    let mut replied = dr(12, "b@example.com", "a@x.test");
    replied.status = DrStatus::Replied;
    replied.awaiting_since = None;
    for (i, d) in [old, fresh, replied].into_iter().enumerate() {
        s.apply(change(
            mail(
                &format!("u{i}@x.test"),
                "a@x.test",
                "b@example.com",
                Some(&d.id),
            ),
            Some(DrWrite {
                dr: d,
                expected_version: 0,
            }),
        ))
        .await
        .unwrap();
    }
    let unreplied = s
        .list_drs(&DrQuery {
            awaiting_before: Some(at("2026-11-25T00:00:00Z")),
            ..DrQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        unreplied
            .items
            .iter()
            .map(|d| d.id.number())
            .collect::<Vec<_>>(),
        vec![10]
    );
    s.close().await.unwrap();
}

/// The delivery journal: entries are listed oldest first, dropped by id, and cleared by the
/// change set that records their mail, atomically with it.
pub async fn pending_journal(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let entry = |m: &str| etraq_core::store::PendingDelivery {
        id: 0,
        message_id: mid(m),
        mail_from: Some(addr("a@x.test")),
        rcpt_to: vec![addr("b@example.com")],
        size: 10,
        client: "127.0.0.1:4000".into(),
        started_at: at("2026-11-27T09:00:00Z"),
    };
    let a = s.put_pending(&entry("p1@x.test")).await.unwrap();
    let b = s.put_pending(&entry("p2@x.test")).await.unwrap();
    let c = s.put_pending(&entry("p3@x.test")).await.unwrap();
    assert!(a < b && b < c);
    let listed = s.list_pending().await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![a, b, c]
    );
    assert_eq!(listed[0].message_id, "p1@x.test");
    s.drop_pending(a).await.unwrap();
    let mut cs = change(mail("p2@x.test", "a@x.test", "b@example.com", None), None);
    cs.pending = Some(b);
    s.apply(cs).await.unwrap();
    assert_eq!(
        s.list_pending()
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        vec![c]
    );
    // A change set that conflicts leaves its journal entry in place.
    let mut dup = change(mail("p2@x.test", "a@x.test", "b@example.com", None), None);
    dup.pending = Some(c);
    assert!(s.apply(dup).await.is_err());
    assert_eq!(s.list_pending().await.unwrap().len(), 1);
    s.close().await.unwrap();
    let s = open_in(open, dir.path()).await;
    assert_eq!(
        s.list_pending().await.unwrap().len(),
        1,
        "the journal survives a reopen"
    );
    s.close().await.unwrap();
}

/// Writes that fail (a Message-ID already recorded) among many concurrent ones that succeed:
/// each failure is its own, every other write is kept. (A store that commits concurrent
/// writes in groups must not let one job's failure undo or fail the rest of its group.)
pub async fn a_failing_write_fails_alone_among_concurrent_ones(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    for i in 0..20 {
        s.apply(change(
            mail(&format!("old{i}@x.test"), "a@x.test", "b@example.com", None),
            None,
        ))
        .await
        .unwrap();
    }
    let mut tasks = Vec::new();
    for round in 0..5 {
        for i in 0..20 {
            let s = s.clone();
            // Every fifth write repeats a recorded Message-ID.
            let id = if i % 5 == 0 {
                format!("old{i}@x.test")
            } else {
                format!("new{round}-{i}@x.test")
            };
            tasks.push(tokio::spawn(async move {
                let r = s
                    .apply(change(mail(&id, "a@x.test", "b@example.com", None), None))
                    .await;
                (id, r)
            }));
        }
    }
    let mut kept = 0;
    for t in tasks {
        let (id, r) = t.await.unwrap();
        if id.starts_with("old") {
            assert!(matches!(r, Err(Error::Conflict(_))), "{id}: {r:?}");
        } else {
            r.unwrap_or_else(|e| panic!("{id} failed: {e}"));
            kept += 1;
            assert_eq!(
                s.mails_by_message_id(&mid(&id)).await.unwrap().len(),
                1,
                "{id}"
            );
        }
    }
    assert_eq!(kept, 80);
    for i in 0..20 {
        let id = format!("old{i}@x.test");
        assert_eq!(
            s.mails_by_message_id(&mid(&id)).await.unwrap().len(),
            1,
            "{id}"
        );
    }
    s.close().await.unwrap();
}

/// A Message-ID may be indexed once per direction; an unindexed duplicate record is allowed.
pub async fn duplicate_message_id_conflicts(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.apply(change(
        mail("d@x.test", "a@x.test", "b@example.com", None),
        None,
    ))
    .await
    .unwrap();
    let again = s
        .apply(change(
            mail("d@x.test", "a@x.test", "b@example.com", None),
            None,
        ))
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    let mut out = mail("d@x.test", "a@x.test", "b@example.com", None);
    out.direction = Direction::Outbound;
    s.apply(change(out, None)).await.unwrap();
    let mut dup = change(mail("d@x.test", "a@x.test", "b@example.com", None), None);
    dup.index_message_id = false;
    dup.mail.decision = etraq_core::Decision::Untracked {
        reason: UntrackedReason::Duplicate,
    };
    s.apply(dup).await.unwrap();
    assert_eq!(
        s.mails_by_message_id(&mid("d@x.test")).await.unwrap().len(),
        3
    );
    s.close().await.unwrap();
}

/// A DR write with a stale version, or a new DR with a used number, conflicts and writes nothing.
pub async fn stale_dr_version_conflicts(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let cs = new_dr_change(1, "a@x.test", "b@example.com", "a@x.test");
    let d = cs.dr.clone().unwrap().dr;
    s.apply(cs).await.unwrap();

    let mut v2 = d.clone();
    v2.status = DrStatus::Closed;
    v2.version = 2;
    s.save_dr(DrWrite {
        dr: v2.clone(),
        expected_version: 1,
    })
    .await
    .unwrap();
    let mut stale = d.clone();
    stale.owner = addr("eve@example.com");
    stale.version = 2;
    let r = s
        .save_dr(DrWrite {
            dr: stale,
            expected_version: 1,
        })
        .await;
    assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
    assert_eq!(s.get_dr(&d.id).await.unwrap(), Some(v2.clone()));

    let again = new_dr_change(1, "b@x.test", "b@example.com", "a@x.test");
    let r = s.apply(again).await;
    assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
    assert!(
        s.mails_by_message_id(&mid("b@x.test"))
            .await
            .unwrap()
            .is_empty(),
        "a conflicting change set left its mail behind"
    );

    let missing = s
        .save_dr(DrWrite {
            dr: {
                let mut x = dr(50, "b@example.com", "a@x.test");
                x.version = 2;
                x
            },
            expected_version: 1,
        })
        .await;
    assert!(matches!(missing, Err(Error::Conflict(_))), "{missing:?}");
    s.close().await.unwrap();
}

/// `apply_batch` writes all its change sets or, when one conflicts, none.
pub async fn batch_is_all_or_nothing(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.apply(change(
        mail("taken@x.test", "a@x.test", "b@example.com", None),
        None,
    ))
    .await
    .unwrap();
    let batch = vec![
        new_dr_change(1, "n1@x.test", "b@example.com", "a@x.test"),
        change(mail("n2@x.test", "a@x.test", "b@example.com", None), None),
        change(
            mail("taken@x.test", "a@x.test", "b@example.com", None),
            None,
        ),
    ];
    let r = s.apply_batch(batch).await;
    assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
    assert!(
        s.mails_by_message_id(&mid("n1@x.test"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.mails_by_message_id(&mid("n2@x.test"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.get_dr(&dr_id(1)).await.unwrap(), None);

    let ok = vec![
        new_dr_change(1, "n1@x.test", "b@example.com", "a@x.test"),
        change(mail("n2@x.test", "a@x.test", "b@example.com", None), None),
    ];
    let seqs = s.apply_batch(ok).await.unwrap();
    assert_eq!(seqs.len(), 2);
    assert!(seqs[0] < seqs[1]);
    assert!(s.get_dr(&dr_id(1)).await.unwrap().is_some());
    assert!(s.apply_batch(vec![]).await.unwrap().is_empty());
    s.close().await.unwrap();
}

/// A change set's `link` attaches an earlier unlinked mail to the new DR.
pub async fn linking_attaches_earlier_mail(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let mut first = mail("first@example.com", "emp@example.com", "ann@x.test", None);
    first.direction = Direction::Outbound;
    let first_seq = s.apply(change(first, None)).await.unwrap();
    let mut cs = new_dr_change(3, "answer@x.test", "emp@example.com", "ann@x.test");
    cs.link = vec![(mid("first@example.com"), Direction::Outbound)];
    s.apply(cs).await.unwrap();
    let linked = s.get_mail(first_seq).await.unwrap().unwrap();
    assert_eq!(linked.dr, Some(dr_id(3)));
    let thread = s
        .list_mails(&MailQuery {
            dr: Some(dr_id(3)),
            oldest_first: true,
            ..MailQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = thread.items.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, vec!["first@example.com", "answer@x.test"]);
    let facts = s
        .thread_facts(&FactsQuery {
            message_id: mid("z@x"),
            candidates: vec![mid("first@example.com")],
            ..facts_query()
        })
        .await
        .unwrap();
    assert_eq!(facts.referenced[0].dr, Some(dr_id(3)));
    assert_eq!(facts.drs.len(), 1);
    s.close().await.unwrap();
}

/// Response times are listed oldest first, filtered by time and by user.
pub async fn responses_filter_by_time_and_user(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let base = at("2026-11-27T09:00:00Z");
    for (i, who) in ["bob@example.com", "alice@example.com", "bob@example.com"]
        .iter()
        .enumerate()
    {
        let mut cs = change(mail(&format!("r{i}@x.test"), "a@x.test", who, None), None);
        cs.response = Some(ResponseTime {
            dr: dr_id(i as u64 + 1),
            user: addr(who),
            awaiting_since: base,
            responded_at: plus(base, 3600 * (i as i64 + 1)),
            seconds: 3600 * (i as i64 + 1),
            first: true,
        });
        s.apply(cs).await.unwrap();
    }
    let all = s.list_responses(&ResponseQuery::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.seconds).collect::<Vec<_>>(),
        vec![3600, 7200, 10800]
    );
    let since = s
        .list_responses(&ResponseQuery {
            since: Some(plus(base, 7200)),
            ..ResponseQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 2);
    let bob = s
        .list_responses(&ResponseQuery {
            user: Some(addr("bob@example.com")),
            ..ResponseQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        bob.iter().map(|r| r.seconds).collect::<Vec<_>>(),
        vec![3600, 10800]
    );
    s.close().await.unwrap();
}

/// `stats` counts tracked and untracked mail, DRs by status and users.
pub async fn stats_count_everything(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.apply(new_dr_change(1, "a1@x.test", "b@example.com", "a@x.test"))
        .await
        .unwrap();
    s.apply(new_dr_change(2, "a2@x.test", "b@example.com", "a@x.test"))
        .await
        .unwrap();
    s.apply(change(
        mail("u@x.test", "a@x.test", "b@example.com", None),
        None,
    ))
    .await
    .unwrap();
    let mut closed = dr(2, "b@example.com", "a@x.test");
    closed.status = DrStatus::Closed;
    closed.version = 2;
    s.save_dr(DrWrite {
        dr: closed,
        expected_version: 1,
    })
    .await
    .unwrap();
    s.put_user(&user("b@example.com", "B")).await.unwrap();
    let st = s.stats().await.unwrap();
    assert_eq!((st.tracked, st.untracked), (2, 1));
    assert_eq!((st.open, st.replied, st.closed), (1, 0, 1));
    assert_eq!(st.users, 1);
    s.close().await.unwrap();
}

/// DR listings page newest first with a cursor: pages do not overlap and together hold all.
pub async fn dr_listing_keyset_pagination(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let mut batch = Vec::new();
    for n in 1..=250u64 {
        let customer = if n % 2 == 0 {
            "even@even.test"
        } else {
            "odd@odd.test"
        };
        batch.push(new_dr_change(
            n,
            &format!("p{n}@x.test"),
            "b@example.com",
            customer,
        ));
    }
    s.apply_batch(batch).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = s
            .list_drs(&DrQuery {
                after,
                limit: 100,
                ..DrQuery::default()
            })
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|d| d.id.number()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=250u64).rev().collect::<Vec<_>>());

    // Filtered by customer domain, pages of 30.
    let mut evens = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_drs(&DrQuery {
                customer: Some(Party::Domain("even.test".into())),
                after,
                limit: 30,
                ..DrQuery::default()
            })
            .await
            .unwrap();
        evens.extend(page.items.iter().map(|d| d.id.number()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(evens, (1..=125u64).rev().map(|n| n * 2).collect::<Vec<_>>());
    s.close().await.unwrap();
}

/// Mail listings page both ways; a mail with two addresses of one domain appears once per
/// domain listing.
pub async fn mail_listing_keyset_pagination(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let mut batch = Vec::new();
    for n in 0..120u64 {
        let mut m = mail(
            &format!("q{n}@x.test"),
            "a@cust.test",
            "b@example.com",
            None,
        );
        m.parties = vec![addr("a@cust.test"), addr("z@cust.test")];
        batch.push(change(m, None));
    }
    let seqs = s.apply_batch(batch).await.unwrap();
    for oldest_first in [false, true] {
        for party in [
            None,
            Some(Party::Domain("cust.test".into())),
            Some(Party::Address(addr("z@cust.test"))),
        ] {
            let mut got = Vec::new();
            let mut after = None;
            loop {
                let page = s
                    .list_mails(&MailQuery {
                        party: party.clone(),
                        after,
                        limit: 50,
                        oldest_first,
                        ..MailQuery::default()
                    })
                    .await
                    .unwrap();
                got.extend(page.items.iter().map(|m| m.seq));
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            let mut want = seqs.clone();
            if !oldest_first {
                want.reverse();
            }
            assert_eq!(got, want, "oldest_first={oldest_first} party={party:?}");
        }
    }
    s.close().await.unwrap();
}

/// Close, reopen: everything written is still there, and writes continue without reusing numbers.
pub async fn everything_survives_close_and_reopen(open: Opener) {
    let dir = temp_dir();
    let (d, seq, first_number) = {
        let s = open_in(open, dir.path()).await;
        s.put_user(&user("b@example.com", "B")).await.unwrap();
        let first_number = s.reserve_dr_numbers(10).await.unwrap();
        let mut cs = new_dr_change(first_number, "keep@x.test", "b@example.com", "a@x.test");
        cs.response = Some(ResponseTime {
            dr: dr_id(first_number),
            user: addr("b@example.com"),
            awaiting_since: at("2026-11-27T09:00:00Z"),
            responded_at: at("2026-11-27T10:00:00Z"),
            seconds: 3600,
            first: true,
        });
        let d = cs.dr.clone().unwrap().dr;
        let seq = s.apply(cs).await.unwrap();
        s.close().await.unwrap();
        (d, seq, first_number)
    };
    let s = open_in(open, dir.path()).await;
    assert_eq!(s.get_dr(&d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(
        s.get_mail(seq).await.unwrap().unwrap().message_id,
        "keep@x.test"
    );
    assert!(s.raw_message(seq).await.unwrap().is_some());
    assert_eq!(s.list_users().await.unwrap().len(), 1);
    assert_eq!(
        s.list_responses(&ResponseQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.mails_by_message_id(&mid("keep@x.test"))
            .await
            .unwrap()
            .len(),
        1
    );
    let next = s.reserve_dr_numbers(1).await.unwrap();
    assert!(
        next >= first_number + 10,
        "number {next} reused after reopen"
    );
    let seq2 = s
        .apply(change(
            mail("after@x.test", "a@x.test", "b@example.com", None),
            None,
        ))
        .await
        .unwrap();
    assert!(seq2 > seq);
    s.close().await.unwrap();
}

/// After `close`, calls fail with `Error::Closed` instead of hanging or panicking.
pub async fn closed_store_refuses_calls(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.close().await.unwrap();
    assert!(matches!(s.reserve_dr_numbers(1).await, Err(Error::Closed)));
    assert!(matches!(s.get_dr(&dr_id(1)).await, Err(Error::Closed)));
    assert!(matches!(
        s.apply(change(
            mail("c@x.test", "a@x.test", "b@example.com", None),
            None
        ))
        .await,
        Err(Error::Closed)
    ));
}

/// Pages through a DR listing, returning the DR numbers in order.
async fn all_dr_numbers(s: &Arc<dyn Store>, q: DrQuery) -> Vec<u64> {
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = s.list_drs(&DrQuery { after, ..q.clone() }).await.unwrap();
        assert!(page.items.len() <= q.limit.max(1));
        got.extend(page.items.iter().map(|d| d.id.number()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    got
}

/// Scoped listings (`involving`): a user's DRs are those they own or are CC'd on, paged both
/// ways and merged across several users without duplicates; an assignment or CC change moves
/// the DR between scopes; the same holds for mails (any address on the mail) and alerts.
pub async fn scoped_listings_follow_owner_and_cc(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let mut batch = Vec::new();
    for n in 1..=60u64 {
        let owner = if n % 2 == 0 {
            "ann@example.com"
        } else {
            "bob@example.com"
        };
        let mut cs = new_dr_change(n, &format!("s{n}@x.test"), owner, "c@cust.test");
        if n % 3 == 0
            && let Some(w) = cs.dr.as_mut()
        {
            w.dr.cc_users = vec![addr("cat@example.com")];
        }
        if n % 5 == 0 {
            cs.mail.decision = etraq_core::Decision::Untracked {
                reason: UntrackedReason::Duplicate,
            };
        }
        batch.push(cs);
    }
    let seqs = s.apply_batch(batch).await.unwrap();
    let q = |users: &[&str], oldest_first: bool| DrQuery {
        involving: Some(users.iter().map(|u| addr(u)).collect()),
        ascending: oldest_first,
        limit: 7,
        ..DrQuery::default()
    };
    let ann: Vec<u64> = (1..=60).rev().filter(|n| n % 2 == 0).collect();
    assert_eq!(
        all_dr_numbers(&s, q(&["ann@example.com"], false)).await,
        ann
    );
    let cat: Vec<u64> = (1..=60).filter(|n| n % 3 == 0).collect();
    assert_eq!(all_dr_numbers(&s, q(&["cat@example.com"], true)).await, cat);
    let both: Vec<u64> = (1..=60)
        .rev()
        .filter(|n| n % 2 == 0 || n % 3 == 0)
        .collect();
    assert_eq!(
        all_dr_numbers(&s, q(&["cat@example.com", "ann@example.com"], false)).await,
        both
    );
    assert!(
        all_dr_numbers(&s, q(&[], false)).await.is_empty(),
        "an empty scope sees nothing"
    );
    assert!(
        all_dr_numbers(&s, q(&["nobody@example.com"], false))
            .await
            .is_empty()
    );
    // Other filters combine with the scope.
    let mut owned_by_bob = q(&["cat@example.com"], false);
    owned_by_bob.owner = Some(addr("bob@example.com"));
    assert_eq!(
        all_dr_numbers(&s, owned_by_bob).await,
        (1..=60u64)
            .rev()
            .filter(|n| n % 3 == 0 && n % 2 == 1)
            .collect::<Vec<_>>()
    );
    // Unscoped, oldest first.
    assert_eq!(
        all_dr_numbers(
            &s,
            DrQuery {
                ascending: true,
                limit: 25,
                ..DrQuery::default()
            }
        )
        .await,
        (1..=60u64).collect::<Vec<_>>()
    );

    // Exact counts by status, scoped the same way.
    let counts = |users: Option<&'static [&'static str]>| {
        let s = &s;
        async move {
            let users: Option<Vec<_>> = users.map(|u| u.iter().map(|a| addr(a)).collect());
            s.dr_counts(users.as_deref()).await.unwrap()
        }
    };
    let open = |n: u64| etraq_core::store::DrCounts {
        open: n,
        ..Default::default()
    };
    assert_eq!(counts(None).await, open(60));
    assert_eq!(counts(Some(&["ann@example.com"])).await, open(30));
    assert_eq!(counts(Some(&["cat@example.com"])).await, open(20));
    assert_eq!(
        counts(Some(&["ann@example.com", "cat@example.com"])).await,
        open(40),
        "a DR in two users' views counts once"
    );
    assert_eq!(counts(Some(&[])).await, open(0));

    // Assign DR 2 from ann to bob and CC dan: ann no longer sees it, bob and dan do.
    let mut d2 = s.get_dr(&dr_id(2)).await.unwrap().unwrap();
    d2.owner = addr("bob@example.com");
    d2.cc_users = vec![addr("dan@example.com")];
    d2.version = 2;
    s.save_dr(DrWrite {
        dr: d2,
        expected_version: 1,
    })
    .await
    .unwrap();
    assert!(
        !all_dr_numbers(&s, q(&["ann@example.com"], false))
            .await
            .contains(&2)
    );
    assert!(
        all_dr_numbers(&s, q(&["bob@example.com"], false))
            .await
            .contains(&2)
    );
    assert_eq!(
        all_dr_numbers(&s, q(&["dan@example.com"], false)).await,
        vec![2]
    );
    assert_eq!(counts(Some(&["ann@example.com"])).await, open(29));
    assert_eq!(counts(Some(&["dan@example.com"])).await, open(1));

    // Mails: every address on a mail is indexed (here the recipient, an employee).
    let mails = |users: &[&str], tracked: Option<bool>, oldest_first: bool| MailQuery {
        involving: Some(users.iter().map(|u| addr(u)).collect()),
        tracked,
        oldest_first,
        limit: 4,
        ..MailQuery::default()
    };
    let mut got = Vec::new();
    let mut q2 = mails(&["ann@example.com"], Some(true), true);
    loop {
        let page = s.list_mails(&q2).await.unwrap();
        got.extend(page.items.iter().map(|m| m.seq));
        match page.next {
            Some(n) => q2.after = Some(n),
            None => break,
        }
    }
    let want: Vec<u64> = seqs
        .iter()
        .enumerate()
        .filter(|(i, _)| (i + 1) % 2 == 0 && (i + 1) % 5 != 0)
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(got, want);
    let everyone = s
        .list_mails(&MailQuery {
            limit: 1000,
            ..mails(&["ann@example.com", "bob@example.com"], None, false)
        })
        .await
        .unwrap();
    assert_eq!(everyone.items.len(), 60);
    assert!(everyone.items.windows(2).all(|w| w[0].seq > w[1].seq));
    // With a party filter too: the customer's mail that ann is on.
    let with_party = s
        .list_mails(&MailQuery {
            party: Some(Party::Domain("cust.test".into())),
            limit: 1000,
            ..mails(&["ann@example.com"], None, false)
        })
        .await
        .unwrap();
    assert_eq!(with_party.items.len(), 30);
    assert!(
        s.list_mails(&mails(&[], None, false))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // The history of an employee's address finds their mail.
    assert_eq!(
        s.list_mails(&MailQuery {
            party: Some(Party::Address(addr("bob@example.com"))),
            limit: 1000,
            ..MailQuery::default()
        })
        .await
        .unwrap()
        .items
        .len(),
        30
    );

    // Alerts to someone in scope.
    s.apply_cycle(CycleWrite {
        record: cycle_record(2, 0),
        drs: vec![],
        alerts: vec![
            alert(
                AlertKind::Warning,
                "ann@example.com",
                4,
                pending_at("2026-11-27T12:00:00Z"),
            ),
            alert(
                AlertKind::Warning,
                "bob@example.com",
                3,
                pending_at("2026-11-27T12:00:00Z"),
            ),
        ],
    })
    .await
    .unwrap();
    let to = |users: &[&str]| AlertQuery {
        involving: Some(users.iter().map(|u| addr(u)).collect()),
        ..AlertQuery::default()
    };
    let a = s
        .list_alerts(&to(&["ann@example.com"]))
        .await
        .unwrap()
        .items;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].user.as_str(), "ann@example.com");
    assert_eq!(
        s.list_alerts(&to(&["ann@example.com", "bob@example.com"]))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert!(s.list_alerts(&to(&[])).await.unwrap().items.is_empty());
    s.close().await.unwrap();
}

/// The key-value space: put, overwrite, get, scan by prefix in key order, delete, and it
/// survives a reopen.
pub async fn key_value_entries(open: Opener) {
    let dir = temp_dir();
    {
        let s = open_in(open, dir.path()).await;
        assert_eq!(s.kv_get("password:admin").await.unwrap(), None);
        s.kv_put("password:admin", Some("h1")).await.unwrap();
        s.kv_put("password:admin", Some("h2")).await.unwrap();
        s.kv_put("session:b", Some("sb")).await.unwrap();
        s.kv_put("session:a", Some("sa")).await.unwrap();
        s.kv_put("sessionx", Some("not a session")).await.unwrap();
        s.kv_put("token:é", Some("unicode ✓")).await.unwrap();
        assert_eq!(
            s.kv_get("password:admin").await.unwrap().as_deref(),
            Some("h2")
        );
        assert_eq!(
            s.kv_scan("session:").await.unwrap(),
            vec![
                ("session:a".to_string(), "sa".to_string()),
                ("session:b".to_string(), "sb".to_string())
            ]
        );
        s.kv_put("session:a", None).await.unwrap();
        s.kv_put("session:never", None).await.unwrap();
        assert_eq!(s.kv_scan("session:").await.unwrap().len(), 1);
        s.close().await.unwrap();
    }
    let s = open_in(open, dir.path()).await;
    assert_eq!(
        s.kv_get("password:admin").await.unwrap().as_deref(),
        Some("h2")
    );
    assert_eq!(
        s.kv_get("token:é").await.unwrap().as_deref(),
        Some("unicode ✓")
    );
    assert_eq!(s.kv_scan("").await.unwrap().len(), 4);
    s.close().await.unwrap();
}

/// The unreplied order: open DRs only, the longest wait first (ties by number), at most
/// `limit`, with the other filters and the scope applied.
pub async fn longest_waiting_first(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let base = at("2026-11-27T00:00:00Z");
    let mut batch = Vec::new();
    for n in 1..=40u64 {
        let owner = if n % 2 == 0 {
            "ann@example.com"
        } else {
            "bob@example.com"
        };
        let mut cs = new_dr_change(n, &format!("w{n}@x.test"), owner, "c@cust.test");
        if let Some(w) = cs.dr.as_mut() {
            // Waits scrambled: DR n has waited since base + (n * 7 % 40) hours; every fifth is
            // replied (not waiting).
            let since = plus(base, ((n * 7) % 40) as i64 * 3600);
            w.dr.awaiting_since = Some(since);
            if n % 5 == 0 {
                w.dr.status = DrStatus::Replied;
                w.dr.awaiting_since = None;
            }
        }
        batch.push(cs);
    }
    s.apply_batch(batch).await.unwrap();
    let order = |pred: &dyn Fn(u64) -> bool| {
        let mut v: Vec<u64> = (1..=40u64).filter(|n| n % 5 != 0 && pred(*n)).collect();
        v.sort_by_key(|n| ((n * 7) % 40, *n));
        v
    };
    let q = |limit: usize, involving: Option<Vec<&str>>, before: Option<jiff::Timestamp>| DrQuery {
        longest_waiting_first: true,
        limit,
        involving: involving.map(|v| v.iter().map(|u| addr(u)).collect()),
        awaiting_before: before,
        ..DrQuery::default()
    };
    let got = |p: etraq_core::Page<etraq_core::Dr>| {
        assert!(p.next.is_none());
        p.items.iter().map(|d| d.id.number()).collect::<Vec<_>>()
    };
    let all = order(&|_| true);
    assert_eq!(got(s.list_drs(&q(100, None, None)).await.unwrap()), all);
    assert_eq!(
        got(s.list_drs(&q(5, None, None)).await.unwrap()),
        all[..5].to_vec()
    );
    let ann = order(&|n| n % 2 == 0);
    assert_eq!(
        got(s
            .list_drs(&q(100, Some(vec!["ann@example.com"]), None))
            .await
            .unwrap()),
        ann
    );
    assert_eq!(
        got(s
            .list_drs(&q(
                3,
                Some(vec!["bob@example.com", "ann@example.com"]),
                None
            ))
            .await
            .unwrap()),
        all[..3].to_vec()
    );
    // Waiting since before base + 10 h.
    let cut = plus(base, 10 * 3600);
    assert_eq!(
        got(s.list_drs(&q(100, None, Some(cut))).await.unwrap()),
        order(&|n| (n * 7) % 40 < 10)
    );
    s.close().await.unwrap();
}

/// Listings sorted by owner, customer or status (then by number), both ways, paged with the
/// (key, number) cursor, unscoped and scoped, with and without filters: every page continues
/// exactly where the last stopped.
pub async fn dr_listing_sorted_by_column(open: Opener) {
    use etraq_core::DrSort;
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let owners = [
        "ann@example.com",
        "bob@example.com",
        "cat@example.com",
        "dan@example.com",
        "al@example.com",
    ];
    let mut batch = Vec::new();
    let mut drs = Vec::new();
    for n in 1..=60u64 {
        let owner = owners[(n * 7 % 5) as usize];
        let customer = format!("c{}@cust{}.test", n % 9, n % 3);
        let mut cs = new_dr_change(n, &format!("so{n}@x.test"), owner, &customer);
        if let Some(w) = cs.dr.as_mut() {
            w.dr.status = [DrStatus::Open, DrStatus::Replied, DrStatus::Closed][(n % 3) as usize];
            if n % 4 == 0 {
                w.dr.cc_users = vec![addr("ann@example.com")];
            }
            drs.push(w.dr.clone());
        }
        batch.push(cs);
    }
    s.apply_batch(batch).await.unwrap();
    for sort in [DrSort::Owner, DrSort::Customer, DrSort::Status] {
        for ascending in [true, false] {
            for involving in [
                None,
                Some(vec!["ann@example.com"]),
                Some(vec!["ann@example.com", "cat@example.com"]),
            ] {
                for status in [None, Some(DrStatus::Open)] {
                    let scope: Option<Vec<etraq_core::EmailAddress>> = involving
                        .as_ref()
                        .map(|v| v.iter().map(|u| addr(u)).collect());
                    let mut want: Vec<(String, u64)> = drs
                        .iter()
                        .filter(|d| status.is_none_or(|s| d.status == s))
                        .filter(|d| {
                            scope
                                .as_ref()
                                .is_none_or(|sc| d.users().into_iter().any(|u| sc.contains(u)))
                        })
                        .map(|d| (sort.key(d).unwrap(), d.id.number()))
                        .collect();
                    want.sort();
                    if !ascending {
                        want.reverse();
                    }
                    let want: Vec<u64> = want.into_iter().map(|(_, n)| n).collect();
                    let mut got = Vec::new();
                    let mut after = None;
                    let mut after_key = None;
                    loop {
                        let page = s
                            .list_drs(&DrQuery {
                                status,
                                involving: scope.clone(),
                                sort,
                                ascending,
                                after,
                                after_key: after_key.clone(),
                                limit: 7,
                                ..DrQuery::default()
                            })
                            .await
                            .unwrap();
                        got.extend(page.items.iter().map(|d| d.id.number()));
                        match page.next {
                            Some(n) => {
                                after = Some(n);
                                after_key = page.items.last().and_then(|d| sort.key(d));
                            }
                            None => break,
                        }
                        assert!(got.len() <= 60, "paging does not end");
                    }
                    assert_eq!(
                        got, want,
                        "sort={sort:?} ascending={ascending} scope={involving:?} status={status:?}"
                    );
                }
            }
        }
    }
    // Sorting by a column a filter fixes is the number order.
    let one_owner = s
        .list_drs(&DrQuery {
            owner: Some(addr("ann@example.com")),
            sort: DrSort::Owner,
            limit: 100,
            ..DrQuery::default()
        })
        .await
        .unwrap();
    let nums: Vec<u64> = one_owner.items.iter().map(|d| d.id.number()).collect();
    let mut sorted = nums.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(nums, sorted);
    s.close().await.unwrap();
}
