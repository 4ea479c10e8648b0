//! The tracking scenarios of docs/tracking.md through the library: real raw mail into a real [`Tracker`] on the backend
//! under test.

use std::sync::Arc;

use etraq_core::store::{MailQuery, ResponseQuery};
use etraq_core::{
    Decision, Direction, Dr, DrId, DrStatus, Envelope, Error, Incoming, MailType, ReceivedAt,
    Store, Tracked, Tracker, UntrackedReason,
};
use jiff::Timestamp;

use crate::fixtures::*;
use crate::{Opener, temp_dir};

/// A store with four users and a tracker on it. `carol` has tracking off.
pub struct World {
    _dir: tempfile::TempDir,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The tracker.
    pub tracker: Arc<Tracker>,
}

impl World {
    /// Opens a fresh store and registers the users.
    pub async fn new(open: Opener) -> World {
        let dir = temp_dir();
        let store = open(dir.path().to_path_buf())
            .await
            .unwrap_or_else(|e| panic!("cannot open the store: {e}"));
        for (email, name, tracking) in [
            ("support@example.com", "Support", true),
            ("alice@example.com", "Alice", true),
            ("bob@example.com", "Bob", true),
            ("carol@example.com", "Carol", false),
        ] {
            let mut u = user(email, name);
            u.tracking = tracking;
            store.put_user(&u).await.unwrap();
        }
        World {
            _dir: dir,
            tracker: Arc::new(Tracker::new(store.clone(), rules())),
            store,
        }
    }

    /// Tracks a raw mail at `now` with the envelope taken from its headers.
    pub async fn track(&self, raw: &[u8], now: Timestamp) -> Tracked {
        self.tracker
            .track(raw, &Envelope::default(), now)
            .await
            .unwrap_or_else(|e| panic!("tracking failed: {e}"))
    }

    /// The DR with this id, which must exist.
    pub async fn dr(&self, id: &DrId) -> Dr {
        self.store.get_dr(id).await.unwrap().unwrap()
    }
}

fn t0() -> Timestamp {
    at("2026-11-27T09:00:00Z")
}

fn tracked(t: &Tracked) -> MailType {
    match t.decision {
        Decision::Tracked { mail_type } => mail_type,
        Decision::Untracked { reason } => panic!("expected tracked, got untracked ({reason})"),
    }
}

fn untracked(t: &Tracked) -> UntrackedReason {
    match t.decision {
        Decision::Untracked { reason } => reason,
        Decision::Tracked { mail_type } => panic!("expected untracked, got tracked ({mail_type})"),
    }
}

/// The customer's first mail: to support (and carol, whose tracking is off), Cc bob.
fn first_mail() -> Vec<u8> {
    raw(&[
        ("From", "Ann Customer <Ann@Customer.TEST>"),
        (
            "To",
            "Carol <carol@example.com>, Support <support@example.com>",
        ),
        ("Cc", "bob@example.com"),
        ("Subject", "Printer on fire"),
        ("Message-ID", "<c1@customer.test>"),
        ("Date", "Fri, 27 Nov 2026 09:00:00 +0000"),
    ])
}

async fn opened(w: &World) -> (Tracked, Dr) {
    let t = w.track(&first_mail(), t0()).await;
    assert_eq!(tracked(&t), MailType::Normal);
    let dr = w.dr(t.dr.as_ref().unwrap()).await;
    (t, dr)
}

fn reply_from_support(dr: &Dr, id: &str) -> Vec<u8> {
    raw(&[
        ("From", "Support <support@example.com>"),
        ("To", "ann@customer.test"),
        ("Subject", &format!("Re: {} Printer on fire", dr.id.tag())),
        ("Message-ID", &format!("<{id}>")),
    ])
}

/// A new customer mail gives a DR (`Normal Mail`) owned by the first tracking-enabled local
/// recipient; the other local recipients become CC users.
pub async fn new_customer_mail_opens_a_dr(open: Opener) {
    let w = World::new(open).await;
    let (t, dr) = opened(&w).await;
    assert_eq!(t.direction, Direction::Inbound);
    assert_eq!(dr.owner, addr("support@example.com"));
    assert_eq!(
        dr.cc_users,
        vec![addr("carol@example.com"), addr("bob@example.com")]
    );
    assert_eq!(dr.customer, addr("ann@customer.test"));
    assert_eq!(dr.status, DrStatus::Open);
    assert_eq!(dr.awaiting_since, Some(t0()));
    assert_eq!(dr.assigned_on, t0());
    assert_eq!(dr.subject, "Printer on fire");
    assert!(dr.id.to_string().starts_with("SUPP-11272026."), "{}", dr.id);
    let m = w.store.get_mail(t.seq).await.unwrap().unwrap();
    assert_eq!(m.dr.as_ref(), Some(&dr.id));
    assert_eq!(m.sender_name.as_deref(), Some("Ann Customer"));
}

/// The employee's reply with the tag gives `Replied Mail`; the DR becomes `replied` and the
/// response time is recorded.
pub async fn tagged_reply_marks_replied_and_records_response_time(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    let t = w
        .track(&reply_from_support(&dr, "r1@example.com"), plus(t0(), 7200))
        .await;
    assert_eq!(t.direction, Direction::Outbound);
    assert_eq!(tracked(&t), MailType::Replied);
    assert_eq!(t.dr.as_ref(), Some(&dr.id));
    let after = w.dr(&dr.id).await;
    assert_eq!(after.status, DrStatus::Replied);
    assert_eq!(after.first_response_at, Some(plus(t0(), 7200)));
    assert_eq!(after.awaiting_since, None);
    let rs = w
        .store
        .list_responses(&ResponseQuery::default())
        .await
        .unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].seconds, 7200);
    assert_eq!(rs[0].user, addr("support@example.com"));
    assert!(rs[0].first);
    // A second reply while the customer is not waiting records no further response time.
    let t2 = w
        .track(&reply_from_support(&dr, "r2@example.com"), plus(t0(), 9000))
        .await;
    assert_eq!(tracked(&t2), MailType::Replied);
    assert_eq!(
        w.store
            .list_responses(&ResponseQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(w.dr(&dr.id).await.first_response_at, Some(plus(t0(), 7200)));
}

/// The customer's reply whose subject lost the tag, with only References, joins the same DR.
pub async fn customer_reply_without_tag_threads_by_references(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    w.track(&reply_from_support(&dr, "r1@example.com"), plus(t0(), 3600))
        .await;
    let reply = raw(&[
        ("From", "ann@customer.test"),
        ("To", "support@example.com"),
        ("Subject", "Re: Printer on fire"),
        ("References", "<c1@customer.test> <r1@example.com>"),
        ("Message-ID", "<c2@customer.test>"),
    ]);
    let t = w.track(&reply, plus(t0(), 7200)).await;
    assert_eq!(tracked(&t), MailType::Normal);
    assert_eq!(t.dr.as_ref(), Some(&dr.id));
    let after = w.dr(&dr.id).await;
    assert_eq!(after.status, DrStatus::Open);
    assert_eq!(after.awaiting_since, Some(plus(t0(), 7200)));
    assert_eq!(
        w.store
            .list_drs(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

/// A forward to a colleague gives `Forwarded` and the owner changes.
pub async fn forward_to_colleague_changes_owner(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    let fwd = raw(&[
        ("From", "support@example.com"),
        ("To", "Alice <alice@example.com>"),
        ("Subject", &format!("Fw: {} Printer on fire", dr.id.tag())),
        ("Message-ID", "<fw1@example.com>"),
    ]);
    let t = w.track(&fwd, plus(t0(), 600)).await;
    assert_eq!(t.direction, Direction::Internal);
    assert_eq!(tracked(&t), MailType::Forwarded);
    let after = w.dr(&dr.id).await;
    assert_eq!(after.owner, addr("alice@example.com"));
    assert!(after.cc_users.contains(&addr("support@example.com")));
    assert_eq!(after.status, DrStatus::Open);
    assert_eq!(
        after.awaiting_since, dr.awaiting_since,
        "a forward must not touch the timers"
    );
    // An internal mail about the DR that is not a forward is a note; the owner stays.
    let note = raw(&[
        ("From", "alice@example.com"),
        ("To", "bob@example.com"),
        ("Subject", &format!("Re: {} Printer on fire", dr.id.tag())),
        ("Message-ID", "<note1@example.com>"),
    ]);
    let n = w.track(&note, plus(t0(), 700)).await;
    assert_eq!(tracked(&n), MailType::InternalNote);
    assert_eq!(w.dr(&dr.id).await.owner, addr("alice@example.com"));
}

/// Local to local without a DR gives `Local Email`.
pub async fn local_to_local_without_dr_is_local_email(open: Opener) {
    let w = World::new(open).await;
    let m = raw(&[
        ("From", "alice@example.com"),
        ("To", "bob@example.com"),
        ("Subject", "Lunch?"),
        ("Message-ID", "<lunch@example.com>"),
    ]);
    let t = w.track(&m, t0()).await;
    assert_eq!(t.direction, Direction::Internal);
    assert_eq!(untracked(&t), UntrackedReason::LocalEmail);
    assert_eq!(t.dr, None);
}

/// A recipient with tracking off gives `Tracking Disabled For Recipient`.
pub async fn recipient_with_tracking_off_is_not_tracked(open: Opener) {
    let w = World::new(open).await;
    let m = raw(&[
        ("From", "ann@customer.test"),
        ("To", "carol@example.com"),
        ("Subject", "For Carol"),
        ("Message-ID", "<carol1@customer.test>"),
    ]);
    let t = w.track(&m, t0()).await;
    assert_eq!(untracked(&t), UntrackedReason::TrackingDisabled);
    assert!(
        w.store
            .list_drs(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// An out-of-office reply gives `Auto-generated`; the DR's status and timers stay unchanged.
pub async fn out_of_office_is_auto_generated_and_changes_nothing(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    w.track(&reply_from_support(&dr, "r1@example.com"), plus(t0(), 3600))
        .await;
    let before = w.dr(&dr.id).await;
    let ooo = raw(&[
        ("From", "ann@customer.test"),
        ("To", "support@example.com"),
        (
            "Subject",
            &format!("Out of office: Re: {} Printer on fire", dr.id.tag()),
        ),
        ("In-Reply-To", "<r1@example.com>"),
        ("Auto-Submitted", "auto-replied"),
        ("Message-ID", "<ooo1@customer.test>"),
    ]);
    let t = w.track(&ooo, plus(t0(), 3700)).await;
    assert_eq!(untracked(&t), UntrackedReason::AutoGenerated);
    assert_eq!(
        t.dr.as_ref(),
        Some(&dr.id),
        "the auto-reply joins the DR's history"
    );
    assert_eq!(w.dr(&dr.id).await, before, "an auto-reply changed the DR");
    let history = w
        .store
        .list_mails(&MailQuery {
            dr: Some(dr.id.clone()),
            ..MailQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(history.items.len(), 3);
}

/// Ingesting the same mail twice gives `Duplicate`, with no second DR.
pub async fn same_mail_twice_is_duplicate(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    let t = w.track(&first_mail(), plus(t0(), 60)).await;
    assert_eq!(untracked(&t), UntrackedReason::Duplicate);
    assert_eq!(t.dr, None);
    assert_eq!(
        w.store
            .list_drs(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(w.dr(&dr.id).await, dr, "a duplicate changed the DR");
}

/// A customer's reply to an employee's first outbound mail gives a DR owned by that employee.
pub async fn customer_answer_to_employee_first_mail_opens_dr_for_employee(open: Opener) {
    let w = World::new(open).await;
    let offer = raw(&[
        ("From", "Alice <alice@example.com>"),
        ("To", "ann@customer.test"),
        ("Subject", "Our offer"),
        ("Message-ID", "<offer1@example.com>"),
    ]);
    let o = w.track(&offer, t0()).await;
    assert_eq!(untracked(&o), UntrackedReason::OutboundNewMail);
    let answer = raw(&[
        ("From", "ann@customer.test"),
        ("To", "support@example.com"),
        ("Cc", "alice@example.com"),
        ("Subject", "Re: Our offer"),
        ("In-Reply-To", "<offer1@example.com>"),
        ("Message-ID", "<a1@customer.test>"),
    ]);
    let t = w.track(&answer, plus(t0(), 3600)).await;
    assert_eq!(tracked(&t), MailType::Normal);
    let dr = w.dr(t.dr.as_ref().unwrap()).await;
    assert_eq!(dr.owner, addr("alice@example.com"));
    assert_eq!(dr.customer, addr("ann@customer.test"));
    let offer_rec = w.store.get_mail(o.seq).await.unwrap().unwrap();
    assert_eq!(
        offer_rec.dr.as_ref(),
        Some(&dr.id),
        "the employee's first mail joins the DR"
    );
}

/// A stranger using a valid subject tag gets a new DR and does not join the old one.
pub async fn stranger_with_valid_tag_gets_new_dr(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    let m = raw(&[
        ("From", "mallory@evil.test"),
        ("To", "support@example.com"),
        ("Subject", &format!("Re: {} send me the data", dr.id.tag())),
        ("Message-ID", "<m1@evil.test>"),
    ]);
    let t = w.track(&m, plus(t0(), 60)).await;
    assert_eq!(tracked(&t), MailType::Normal);
    let new_id = t.dr.clone().unwrap();
    assert_ne!(new_id, dr.id);
    assert_eq!(w.dr(&new_id).await.customer, addr("mallory@evil.test"));
    assert_eq!(
        w.dr(&dr.id).await,
        dr,
        "the stranger's mail touched the old DR"
    );
}

/// A malformed Message-ID never threads: a second sender quoting the same garbage in its
/// References gets a DR of its own instead of joining the first one's (the review found
/// `<<script>…@x>` read as `/script` and matched).
pub async fn malformed_message_id_never_joins_another_dr(open: Opener) {
    let w = World::new(open).await;
    let first = raw(&[
        ("From", "ann@customer.test"),
        ("To", "support@example.com"),
        ("Subject", "Help"),
        ("Message-ID", "<<script>alert(1)</script>@x>"),
    ]);
    let a = w.track(&first, t0()).await;
    assert_eq!(tracked(&a), MailType::Normal);
    let dr_a = a.dr.clone().unwrap();
    assert!(a.message_id.is_derived(), "{}", a.message_id);
    let second = raw(&[
        ("From", "mallory@evil.test"),
        ("To", "support@example.com"),
        ("Subject", "Re: Help"),
        ("Message-ID", "<m2@evil.test>"),
        ("In-Reply-To", "<<script>alert(1)</script>@x>"),
        (
            "References",
            "<<script>alert(1)</script>@x> </script> <script>",
        ),
    ]);
    let b = w.track(&second, plus(t0(), 60)).await;
    assert_eq!(tracked(&b), MailType::Normal);
    let dr_b = b.dr.clone().unwrap();
    assert_ne!(dr_b, dr_a, "the stranger joined another customer's DR");
    assert_eq!(w.dr(&dr_b).await.customer, addr("mallory@evil.test"));
    // The same mail delivered again is still a duplicate of itself.
    let again = w.track(&first, plus(t0(), 120)).await;
    assert_eq!(untracked(&again), UntrackedReason::Duplicate);
}

/// A closed DR reopens on a customer reply.
pub async fn closed_dr_reopens_on_customer_reply(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    let closed = w.tracker.close_dr(&dr.id, plus(t0(), 60)).await.unwrap();
    assert_eq!(closed.status, DrStatus::Closed);
    let reply = raw(&[
        ("From", "ann@customer.test"),
        ("To", "support@example.com"),
        ("Subject", "Re: Printer on fire"),
        ("In-Reply-To", "<c1@customer.test>"),
        ("Message-ID", "<c3@customer.test>"),
    ]);
    let t = w.track(&reply, plus(t0(), 86_400)).await;
    assert_eq!(tracked(&t), MailType::Normal);
    let after = w.dr(&dr.id).await;
    assert_eq!(after.status, DrStatus::Open);
    assert_eq!(after.awaiting_since, Some(plus(t0(), 86_400)));
}

/// A customer writing again while already waiting does not restart the wait: the response time
/// counts from the first unanswered mail.
pub async fn second_customer_mail_keeps_the_wait_running(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    let nudge = raw(&[
        ("From", "ann@customer.test"),
        ("To", "support@example.com"),
        ("Subject", "Re: Printer on fire - any news?"),
        ("In-Reply-To", "<c1@customer.test>"),
        ("Message-ID", "<c2@customer.test>"),
    ]);
    w.track(&nudge, plus(t0(), 3600)).await;
    assert_eq!(w.dr(&dr.id).await.awaiting_since, Some(t0()));
    w.track(
        &reply_from_support(&dr, "r1@example.com"),
        plus(t0(), 3 * 3600),
    )
    .await;
    let rs = w
        .store
        .list_responses(&ResponseQuery::default())
        .await
        .unwrap();
    assert_eq!(rs[0].seconds, 3 * 3600);
}

/// A conversation tracked as one batch gives the same decisions and DRs as tracked one by one.
pub async fn batch_threads_like_one_by_one(open: Opener) {
    let mails: Vec<Vec<u8>> = vec![
        first_mail(),
        raw(&[
            ("From", "alice@example.com"),
            ("To", "zed@other.test"),
            ("Subject", "Hello"),
            ("Message-ID", "<o1@example.com>"),
        ]),
        raw(&[
            ("From", "support@example.com"),
            ("To", "ann@customer.test"),
            ("Subject", "Re: Printer on fire"),
            ("In-Reply-To", "<c1@customer.test>"),
            ("Message-ID", "<r1@example.com>"),
        ]),
        raw(&[
            ("From", "zed@other.test"),
            ("To", "support@example.com"),
            ("Subject", "Re: Hello"),
            ("In-Reply-To", "<o1@example.com>"),
            ("Message-ID", "<z1@other.test>"),
        ]),
        raw(&[
            ("From", "ann@customer.test"),
            ("To", "support@example.com"),
            ("Subject", "Re: Printer on fire"),
            ("References", "<c1@customer.test> <r1@example.com>"),
            ("Message-ID", "<c2@customer.test>"),
        ]),
        first_mail(),
    ];
    let one = World::new(open).await;
    let mut singles = Vec::new();
    for (i, m) in mails.iter().enumerate() {
        singles.push(one.track(m, plus(t0(), i as i64 * 600)).await);
    }
    let many = World::new(open).await;
    let items = mails
        .iter()
        .enumerate()
        .map(|(i, m)| Incoming {
            raw: m.clone(),
            envelope: Envelope::default(),
            received: ReceivedAt::At(plus(t0(), i as i64 * 600)),
        })
        .collect();
    let batch = many.tracker.track_batch(items).await.unwrap();
    let shape = |v: &[Tracked]| {
        v.iter()
            .map(|t| (t.decision, t.direction, t.dr.as_ref().map(|d| d.number())))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&batch), shape(&singles));
    for t in batch.iter().filter_map(|t| t.dr.as_ref()) {
        let (a, b) = (one.dr(t).await, many.dr(t).await);
        assert_eq!(a, b, "DR {t} differs between batch and one-by-one");
    }
    let numbers: Vec<u64> = many
        .store
        .list_drs(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d.id.number())
        .collect();
    assert_eq!(numbers, vec![2, 1], "batch DR numbers are not dense");
}

/// 16 customer mails on one DR arriving at once: all recorded on it, none lost.
pub async fn concurrent_replies_are_not_lost(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let tracker = w.tracker.clone();
        tasks.push(tokio::spawn(async move {
            let m = raw(&[
                ("From", "ann@customer.test"),
                ("To", "support@example.com"),
                ("Subject", "Re: Printer on fire"),
                ("In-Reply-To", "<c1@customer.test>"),
                ("Message-ID", &format!("<burst{i}@customer.test>")),
            ]);
            tracker
                .track(&m, &Envelope::default(), plus(t0(), 60 + i))
                .await
        }));
    }
    for t in tasks {
        let t = t.await.unwrap().unwrap();
        assert_eq!(t.dr.as_ref(), Some(&dr.id));
    }
    let after = w.dr(&dr.id).await;
    assert_eq!(after.version, 17, "an update was lost");
    let thread = w
        .store
        .list_mails(&MailQuery {
            dr: Some(dr.id.clone()),
            limit: 100,
            ..MailQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(thread.items.len(), 17);
}

/// 16 identical deliveries arriving at once: one record is the mail, the others `Duplicate`.
pub async fn concurrent_duplicates_make_one_record(open: Opener) {
    let w = World::new(open).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let tracker = w.tracker.clone();
        tasks.push(tokio::spawn(async move {
            tracker
                .track(&first_mail(), &Envelope::default(), t0())
                .await
        }));
    }
    let mut originals = 0;
    for t in tasks {
        let t = t.await.unwrap().unwrap();
        if t.decision.reason() != Some(UntrackedReason::Duplicate) {
            originals += 1;
        }
    }
    assert_eq!(originals, 1);
    assert_eq!(
        w.store
            .list_drs(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

/// A malformed mail still gets a decision and is archived byte for byte.
pub async fn malformed_mail_is_decided_and_archived(open: Opener) {
    let w = World::new(open).await;
    let garbage = b"\x00\xff\xfe not a mail at all \r\n\r\n\x80\x81".to_vec();
    let t = w.track(&garbage, t0()).await;
    assert!(t.decision.reason().is_some() || t.decision.mail_type().is_some());
    assert_eq!(w.store.raw_message(t.seq).await.unwrap(), Some(garbage));
    let broken_headers = b"From: Ann <ann@customer.test\r\nTo: support@example.com,,, <<>>\r\nSubject: =?utf-8?B?broken?=\r\nMessage-ID: <<>>\r\nDate: yesterday\r\n\r\nbody".to_vec();
    let t = w.track(&broken_headers, t0()).await;
    assert!(t.derived_message_id);
    assert_eq!(
        w.store.raw_message(t.seq).await.unwrap(),
        Some(broken_headers)
    );
}

/// Close, assign and reopen by a user; errors for an unknown DR and a non-local owner.
pub async fn user_actions_close_assign_reopen(open: Opener) {
    let w = World::new(open).await;
    let (_, dr) = opened(&w).await;
    let a = w
        .tracker
        .assign_dr(&dr.id, &addr("bob@example.com"), plus(t0(), 10))
        .await
        .unwrap();
    assert_eq!(a.owner, addr("bob@example.com"));
    assert!(a.cc_users.contains(&addr("support@example.com")));
    assert!(!a.cc_users.contains(&addr("bob@example.com")));
    let bad = w
        .tracker
        .assign_dr(&dr.id, &addr("x@customer.test"), t0())
        .await;
    assert!(matches!(bad, Err(Error::Invalid(_))), "{bad:?}");
    let c = w.tracker.close_dr(&dr.id, plus(t0(), 20)).await.unwrap();
    assert_eq!((c.status, c.awaiting_since), (DrStatus::Closed, None));
    let r = w.tracker.reopen_dr(&dr.id, plus(t0(), 30)).await.unwrap();
    assert_eq!(
        (r.status, r.awaiting_since),
        (DrStatus::Open, Some(plus(t0(), 30)))
    );
    let missing = w.tracker.close_dr(&dr_id(999), t0()).await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
}
