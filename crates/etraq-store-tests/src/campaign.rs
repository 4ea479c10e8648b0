//! The campaign area's part of the conformance suite: lists, subscribers and their memberships,
//! imports merged by the shared rule, and the blocklist.

use etraq_core::campaign::{
    BlockEntry, BlockReason, Blocked, MailingList, MemberStatus, MergeOutcome, OptIn,
    SubscriberInput, SubscriberQuery,
};
use etraq_core::{EmailAddress, Error};
use jiff::Timestamp;

use crate::conformance::open_in;
use crate::{Opener, temp_dir};

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn input(email: &str, name: &str, attrs: &[(&str, &str)]) -> SubscriberInput {
    SubscriberInput {
        email: addr(email),
        name: Some(name.to_string()),
        attribs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect(),
    }
}

fn list(name: &str, opt_in: OptIn) -> MailingList {
    MailingList {
        opt_in,
        description: format!("the {name} list"),
        ..MailingList::new(name, t(0)).unwrap()
    }
}

/// Lists: created once per name in any case, updated, counted, deleted with their memberships.
pub async fn campaign_lists_and_counts(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.create_list(list("News", OptIn::Single)).await.unwrap();
    s.create_list(list("Beta", OptIn::Double)).await.unwrap();
    let e = s
        .create_list(list("NEWS", OptIn::Single))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    let mut beta = s.get_list("beta").await.unwrap().unwrap();
    assert_eq!(beta.opt_in, OptIn::Double);
    beta.public = true;
    s.update_list(beta.clone()).await.unwrap();
    assert!(s.get_list("BETA").await.unwrap().unwrap().public);
    let missing = s
        .update_list(list("Nope", OptIn::Single))
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");

    let out = s
        .merge_subscribers(
            "news",
            false,
            vec![input("a@x.test", "A", &[]), input("b@x.test", "B", &[])],
            t(1),
        )
        .await
        .unwrap();
    assert_eq!(out, vec![MergeOutcome::Imported, MergeOutcome::Imported]);
    s.merge_subscribers("Beta", false, vec![input("a@x.test", "", &[])], t(2))
        .await
        .unwrap();
    s.set_member_status(&addr("b@x.test"), "news", MemberStatus::Unsubscribed, t(3))
        .await
        .unwrap();
    let lists = s.list_lists().await.unwrap();
    let names: Vec<_> = lists.iter().map(|l| l.list.name.as_str()).collect();
    assert_eq!(names, ["Beta", "News"]);
    assert_eq!(
        (
            lists[0].confirmed,
            lists[0].unconfirmed,
            lists[0].unsubscribed
        ),
        (0, 1, 0)
    );
    assert_eq!(
        (
            lists[1].confirmed,
            lists[1].unconfirmed,
            lists[1].unsubscribed
        ),
        (1, 0, 1)
    );

    assert!(s.delete_list("NEWS").await.unwrap());
    assert!(!s.delete_list("news").await.unwrap());
    let a = s.get_subscriber(&addr("a@x.test")).await.unwrap().unwrap();
    assert!(a.membership("news").is_none(), "{a:?}");
    assert!(a.membership("beta").is_some(), "{a:?}");
    let q = SubscriberQuery {
        list: Some("news".into()),
        ..Default::default()
    };
    assert!(s.list_subscribers(&q).await.unwrap().items.is_empty());
    // A new list of the old name starts empty.
    s.create_list(list("News", OptIn::Single)).await.unwrap();
    assert!(s.list_subscribers(&q).await.unwrap().items.is_empty());
    s.close().await.unwrap();
}

/// Imports go through the one merge rule in one transaction: a second import updates instead
/// of duplicating, an unsubscribed or blocklisted address is skipped, addresses are one record
/// whatever their case, and everything survives a reopen.
pub async fn campaign_subscribers_merge_and_survive(open: Opener) {
    let dir = temp_dir();
    {
        let s = open_in(open, dir.path()).await;
        s.create_list(list("News", OptIn::Double)).await.unwrap();
        let e = s
            .merge_subscribers("nope", false, vec![input("a@x.test", "A", &[])], t(1))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        s.block(BlockEntry {
            address: Blocked::parse("@spam.test").unwrap(),
            reason: BlockReason::Manual,
            created_at: t(0),
        })
        .await
        .unwrap();
        let first = vec![
            input("Ann@X.test", "Ann", &[("country", "DE"), ("plan", "pro")]),
            input("bob@x.test", "Bob", &[]),
            input("eve@spam.test", "Eve", &[]),
        ];
        let out = s
            .merge_subscribers("news", false, first, t(1))
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                MergeOutcome::Imported,
                MergeOutcome::Imported,
                MergeOutcome::Skipped
            ]
        );
        assert!(
            s.get_subscriber(&addr("eve@spam.test"))
                .await
                .unwrap()
                .is_none()
        );
        s.set_member_status(
            &addr("bob@x.test"),
            "news",
            MemberStatus::Unsubscribed,
            t(2),
        )
        .await
        .unwrap();
        let again = vec![
            input("ann@x.test", "", &[("plan", "free")]),
            input("BOB@x.test", "Robert", &[]),
            input("cid@x.test", "Cid", &[]),
        ];
        let out = s
            .merge_subscribers("NEWS", true, again, t(3))
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                MergeOutcome::Updated,
                MergeOutcome::Skipped,
                MergeOutcome::Imported
            ]
        );
        let e = s
            .set_member_status(&addr("zed@x.test"), "news", MemberStatus::Confirmed, t(4))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        s.close().await.unwrap();
    }
    let s = open_in(open, dir.path()).await;
    let ann = s
        .get_subscriber(&addr("ANN@x.test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ann.email.as_str(), "ann@x.test");
    assert_eq!(ann.name, "Ann");
    assert_eq!(ann.attribs["country"], "DE");
    assert_eq!(ann.attribs["plan"], "free");
    let m = ann.membership("news").unwrap();
    assert_eq!(m.status, MemberStatus::Confirmed, "--confirmed confirms");
    assert_eq!(m.list, "News");
    let bob = s
        .get_subscriber(&addr("bob@x.test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.name, "Bob", "a skipped row changes nothing");
    assert_eq!(
        bob.membership("news").unwrap().status,
        MemberStatus::Unsubscribed
    );
    let cid = s
        .get_subscriber(&addr("cid@x.test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cid.membership("news").unwrap().status,
        MemberStatus::Confirmed
    );
    assert!(
        ann.id > 0 && bob.id > ann.id && cid.id > bob.id,
        "ids follow first storage"
    );
    s.close().await.unwrap();
}

/// Subscriber listings page by id, filter by list, status and text, and a page ends where the
/// next begins.
pub async fn campaign_subscriber_listing_pages(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    s.create_list(list("A", OptIn::Single)).await.unwrap();
    s.create_list(list("B", OptIn::Single)).await.unwrap();
    let inputs: Vec<_> = (0..25)
        .map(|i| input(&format!("p{i:02}@x.test"), "", &[]))
        .collect();
    s.merge_subscribers("a", false, inputs.clone(), t(1))
        .await
        .unwrap();
    s.merge_subscribers("b", false, inputs[..5].to_vec(), t(1))
        .await
        .unwrap();
    for i in [3, 7, 11] {
        s.set_member_status(
            &addr(&format!("p{i:02}@x.test")),
            "a",
            MemberStatus::Unsubscribed,
            t(2),
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut q = SubscriberQuery {
        list: Some("A".into()),
        status: Some(MemberStatus::Confirmed),
        limit: 4,
        ..Default::default()
    };
    loop {
        let page = s.list_subscribers(&q).await.unwrap();
        assert!(page.items.len() <= 4);
        seen.extend(page.items.iter().map(|s| s.email.to_string()));
        match page.next {
            Some(n) => q.after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 22);
    assert!(!seen.contains(&"p07@x.test".to_string()));
    let all = s
        .list_subscribers(&SubscriberQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 25);
    assert_eq!(all.next, None);
    let on_b = s
        .list_subscribers(&SubscriberQuery {
            list: Some("b".into()),
            search: Some("P0".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(on_b.items.len(), 5);
    let unsubscribed = s
        .list_subscribers(&SubscriberQuery {
            status: Some(MemberStatus::Unsubscribed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(unsubscribed.items.len(), 3);
    s.close().await.unwrap();
}

/// The blocklist: addresses and whole domains, replaced on a second add, removed, and
/// consulted for an address through its own entry first, then its domain's.
pub async fn campaign_blocklist(open: Opener) {
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let entry = |a: &str, r: BlockReason| BlockEntry {
        address: Blocked::parse(a).unwrap(),
        reason: r,
        created_at: t(0),
    };
    s.block(entry("@Bad.test", BlockReason::Manual))
        .await
        .unwrap();
    s.block(entry("ann@x.test", BlockReason::Manual))
        .await
        .unwrap();
    s.block(entry("Ann@X.test", BlockReason::HardBounce))
        .await
        .unwrap();
    let all = s.blocklist().await.unwrap();
    let keys: Vec<_> = all.iter().map(|e| e.address.key()).collect();
    assert_eq!(keys, ["@bad.test", "ann@x.test"]);
    assert_eq!(all[1].reason, BlockReason::HardBounce);
    let hit = s.blocked(&addr("anyone@bad.test")).await.unwrap().unwrap();
    assert_eq!(hit.address.key(), "@bad.test");
    assert!(s.blocked(&addr("bob@x.test")).await.unwrap().is_none());
    assert!(
        s.unblock(&Blocked::parse("@bad.test").unwrap())
            .await
            .unwrap()
    );
    assert!(
        !s.unblock(&Blocked::parse("@bad.test").unwrap())
            .await
            .unwrap()
    );
    assert!(s.blocked(&addr("anyone@bad.test")).await.unwrap().is_none());
    s.close().await.unwrap();
}

/// A draft campaign named `name` to the list `News`.
pub(crate) fn campaign(name: &str) -> etraq_core::campaign::Campaign {
    etraq_core::campaign::Campaign {
        id: 0,
        name: name.to_string(),
        owner: None,
        lists: vec!["News".into()],
        template: "newsletter".into(),
        subject: None,
        from: "news@example.com".into(),
        reply_to: None,
        segment: None,
        rate: None,
        status: etraq_core::campaign::CampaignStatus::Draft,
        created_at: t(0),
        send_at: Some(t(0)),
        started_at: None,
        finished_at: None,
        lease: None,
    }
}

/// Campaigns and their frozen recipients: a name is taken once, recipients are frozen once,
/// `take_queued` hands each recipient out once and marks it `sending`, a crash's `sending`
/// rows become `in_doubt` (or `queued` with resend), and the counts equal the rows, across a
/// reopen.
pub async fn campaign_recipients_are_accounted_exactly(open: Opener) {
    use etraq_core::campaign::{CampaignStatus, Recipient, RecipientState};
    let dir = temp_dir();
    let id;
    {
        let s = open_in(open, dir.path()).await;
        let c = s.create_campaign(campaign("Spring")).await.unwrap();
        assert!(c.id > 0);
        id = c.id;
        let e = s.create_campaign(campaign("SPRING")).await.unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        let other = s.create_campaign(campaign("Other")).await.unwrap();
        assert_ne!(other.id, c.id);
        let rows: Vec<Recipient> = (1..=10)
            .map(|i| Recipient {
                campaign: c.id,
                id: i,
                email: addr(&format!("r{i}@x.test")),
                subscriber: i,
                list: "News".into(),
                state: RecipientState::Queued,
                message_id: None,
                sent_at: None,
                error: None,
                attempts: 0,
            })
            .collect();
        let mut running = c.clone();
        running.status = CampaignStatus::Running;
        running.started_at = Some(t(1));
        // A freeze in batches: until the last one the campaign is not frozen, and a freeze a
        // crash interrupted is discarded and done again.
        s.freeze_recipients(&running, rows[..3].to_vec(), false)
            .await
            .unwrap();
        assert_eq!(
            s.get_campaign("spring").await.unwrap().unwrap().status,
            CampaignStatus::Draft
        );
        let dup = s
            .freeze_recipients(&running, rows[2..4].to_vec(), false)
            .await
            .unwrap_err();
        assert!(matches!(dup, Error::Conflict(_)), "{dup}");
        assert_eq!(
            s.recipient_counts(c.id).await.unwrap().recipients,
            3,
            "all or nothing"
        );
        assert_eq!(s.discard_recipients(c.id).await.unwrap(), 3);
        assert_eq!(s.recipient_counts(c.id).await.unwrap().recipients, 0);
        s.freeze_recipients(&running, rows[..6].to_vec(), false)
            .await
            .unwrap();
        s.freeze_recipients(&running, rows[6..].to_vec(), true)
            .await
            .unwrap();
        let again = s
            .freeze_recipients(&running, rows.clone(), true)
            .await
            .unwrap_err();
        assert!(matches!(again, Error::Conflict(_)), "{again}");
        let discard = s.discard_recipients(c.id).await.unwrap_err();
        assert!(
            matches!(discard, Error::Conflict(_)),
            "a frozen campaign keeps its rows"
        );
        assert_eq!(
            s.get_campaign("spring").await.unwrap().unwrap().status,
            CampaignStatus::Running
        );
        let first = s.take_queued(c.id, 4).await.unwrap();
        let ids: Vec<u64> = first.iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        assert!(first.iter().all(|r| r.state == RecipientState::Sending));
        let second = s.take_queued(c.id, 4).await.unwrap();
        assert_eq!(
            second.iter().map(|r| r.id).collect::<Vec<_>>(),
            [5, 6, 7, 8]
        );
        for mut r in first {
            r.state = RecipientState::Sent;
            r.message_id = Some(format!("m{}@x.test", r.id));
            r.sent_at = Some(t(2));
            r.attempts = 1;
            s.update_recipient(&r).await.unwrap();
        }
        let mut failed = second[0].clone();
        failed.state = RecipientState::Failed;
        failed.error = Some("550 no such user".into());
        s.update_recipient(&failed).await.unwrap();
        assert!(s.take_queued(other.id, 4).await.unwrap().is_empty());
        s.close().await.unwrap();
    }
    // A crash left 6, 7 and 8 `sending`.
    let s = open_in(open, dir.path()).await;
    assert_eq!(s.recover_sending(id, false).await.unwrap(), 3);
    assert_eq!(s.recover_sending(id, false).await.unwrap(), 0);
    let counts = s.recipient_counts(id).await.unwrap();
    assert_eq!(
        (
            counts.recipients,
            counts.sent,
            counts.failed,
            counts.in_doubt,
            counts.queued,
            counts.sending
        ),
        (10, 4, 1, 3, 2, 0)
    );
    let doubt = s
        .list_recipients(id, Some(RecipientState::InDoubt), None, 0)
        .await
        .unwrap();
    let emails: Vec<String> = doubt.items.iter().map(|r| r.email.to_string()).collect();
    assert_eq!(emails, ["r6@x.test", "r7@x.test", "r8@x.test"]);
    let sent = s
        .list_recipients(id, Some(RecipientState::Sent), None, 2)
        .await
        .unwrap();
    assert_eq!(sent.items.len(), 2);
    let rest = s
        .list_recipients(id, Some(RecipientState::Sent), sent.next, 2)
        .await
        .unwrap();
    assert_eq!(rest.items.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(rest.items[0].message_id.as_deref(), Some("m3@x.test"));
    // With resend, the ones still handed out go back to the queue instead.
    let taken = s.take_queued(id, 10).await.unwrap();
    assert_eq!(taken.iter().map(|r| r.id).collect::<Vec<_>>(), [9, 10]);
    assert_eq!(s.recover_sending(id, true).await.unwrap(), 2);
    assert_eq!(s.recipient_counts(id).await.unwrap().queued, 2);
    let names: Vec<String> = s
        .list_campaigns()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Spring", "Other"]);
    // One sender at a time: a claim holds until released, lapsed, or its holder is gone.
    let lease = |pid| etraq_core::campaign::Lease {
        host: "h".into(),
        pid,
        expires_at: t(100),
    };
    assert_eq!(
        s.claim_campaign(id, lease(1), None, t(10)).await.unwrap(),
        None
    );
    assert_eq!(
        s.claim_campaign(id, lease(1), None, t(20)).await.unwrap(),
        None,
        "renewed"
    );
    assert_eq!(
        s.claim_campaign(id, lease(2), None, t(20)).await.unwrap(),
        Some(lease(1))
    );
    assert_eq!(
        s.claim_campaign(id, lease(2), Some(lease(1)), t(20))
            .await
            .unwrap(),
        None,
        "its holder was seen gone"
    );
    s.release_campaign(id, lease(1)).await.unwrap();
    assert_eq!(
        s.get_campaign("spring").await.unwrap().unwrap().lease,
        Some(lease(2)),
        "only the holder releases"
    );
    s.release_campaign(id, lease(2)).await.unwrap();
    assert_eq!(s.get_campaign("spring").await.unwrap().unwrap().lease, None);
    assert_eq!(
        s.claim_campaign(id, lease(3), None, t(200)).await.unwrap(),
        None
    );
    // A sender's step settles one recipient and takes the next in one commit.
    let third = s.create_campaign(campaign("Third")).await.unwrap();
    s.create_list(etraq_core::campaign::MailingList::new("Third list", t(0)).unwrap())
        .await
        .unwrap();
    s.merge_subscribers(
        "Third list",
        true,
        vec![etraq_core::campaign::SubscriberInput {
            email: addr("t1@x.test"),
            name: Some("Tee One".into()),
            attribs: Default::default(),
        }],
        t(0),
    )
    .await
    .unwrap();
    let t1 = s.get_subscriber(&addr("t1@x.test")).await.unwrap().unwrap();
    let rows: Vec<Recipient> = (1..=2)
        .map(|i| Recipient {
            campaign: third.id,
            id: i,
            email: addr(&format!("t{i}@x.test")),
            // Recipient 2's subscriber is gone.
            subscriber: if i == 1 { t1.id } else { 999_999 },
            list: "News".into(),
            state: RecipientState::Queued,
            message_id: None,
            sent_at: None,
            error: None,
            attempts: 0,
        })
        .collect();
    s.freeze_recipients(&third, rows, true).await.unwrap();
    let (mut r1, sub1) = s.settle_and_take(third.id, None).await.unwrap().unwrap();
    assert_eq!((r1.id, r1.state), (1, RecipientState::Sending));
    let sub1 = sub1.expect("the taken recipient comes with its subscriber");
    assert_eq!((sub1.id, sub1.name.as_str()), (t1.id, "Tee One"));
    r1.state = RecipientState::Sent;
    r1.sent_at = Some(t(300));
    // A sent recipient's mail is recorded with it: its Message-ID threads like any mail.
    let record = crate::fixtures::change(
        crate::fixtures::mail(
            "third.1.abc@example.com",
            "t1@x.test",
            "news@example.com",
            None,
        ),
        None,
    );
    let settled = etraq_core::campaign::Settled {
        recipient: r1.clone(),
        mail: Some(record.clone()),
    };
    let (mut r2, sub2) = s
        .settle_and_take(third.id, Some(settled))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r2.id, r2.state), (2, RecipientState::Sending));
    assert!(sub2.is_none(), "a subscriber that is gone comes as None");
    let recorded = s
        .mails_by_message_id(&crate::fixtures::mid("third.1.abc@example.com"))
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    let events = s.subscriber_events(t1.id, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].campaign, events[0].at),
        (etraq_core::campaign::EventKind::Sent, third.id, t(300))
    );
    // A stopping sender settles without taking; a Message-ID recorded already is not an
    // error and is not recorded twice.
    r2.state = RecipientState::Failed;
    s.settle(etraq_core::campaign::Settled {
        recipient: r2.clone(),
        mail: Some(record),
    })
    .await
    .unwrap();
    assert_eq!(
        s.mails_by_message_id(&crate::fixtures::mid("third.1.abc@example.com"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.subscriber_events(2, 10).await.unwrap().is_empty(),
        "no sent event for a failure"
    );
    assert_eq!(s.settle_and_take(third.id, None).await.unwrap(), None);
    s.add_events(vec![
        etraq_core::campaign::SubscriberEvent {
            subscriber: 999_999,
            campaign: third.id,
            kind: etraq_core::campaign::EventKind::Bounce,
            at: t(301),
            detail: Some("550 5.1.1 unknown".into()),
        },
        etraq_core::campaign::SubscriberEvent {
            subscriber: t1.id,
            campaign: third.id,
            kind: etraq_core::campaign::EventKind::Open,
            at: t(302),
            detail: None,
        },
    ])
    .await
    .unwrap();
    let counts = s.recipient_counts(third.id).await.unwrap();
    assert_eq!((counts.sent, counts.failed, counts.sending), (1, 1, 0));
    s.close().await.unwrap();
    let s = open_in(open, dir.path()).await;
    let kinds: Vec<_> = s
        .subscriber_events(t1.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            etraq_core::campaign::EventKind::Open,
            etraq_core::campaign::EventKind::Sent
        ],
        "newest first, across a reopen"
    );
    assert_eq!(
        s.subscriber_events(t1.id, 1).await.unwrap().len(),
        1,
        "limit"
    );
    let bounce = &s.subscriber_events(999_999, 10).await.unwrap()[0];
    assert_eq!(bounce.detail.as_deref(), Some("550 5.1.1 unknown"));
    s.close().await.unwrap();
}

fn hit(c: u64, recipient: u64, kind: etraq_core::campaign::HitKind) -> etraq_core::campaign::Hit {
    etraq_core::campaign::Hit {
        campaign: c,
        recipient,
        subscriber: recipient,
        kind,
        link: None,
        at: t(500 + recipient as i64),
        user_agent: Some("Mozilla/5.0".into()),
        ip: Some("192.0.2.7".into()),
        bot: None,
        value: None,
        currency: None,
        order_id: None,
        detail: None,
    }
}

/// Tracking: a campaign's link book numbers each URL once; hits are kept with their
/// subscriber events; an order counts once even when reported twice at the same moment; unique
/// counts hold under concurrent duplicate hits; everything survives a reopen.
pub async fn campaign_tracking_is_recorded_and_counted(open: Opener) {
    use etraq_core::campaign::{BotFlag, BotRule, EventKind, HitKind, HitOutcome, count_hits};
    let dir = temp_dir();
    let s = open_in(open, dir.path()).await;
    let c = s.create_campaign(campaign("Tracked")).await.unwrap();
    let (a, b, z) = (
        "https://a.example/".to_string(),
        "https://b.example/x?y=1".to_string(),
        "https://z.example/".to_string(),
    );
    assert_eq!(
        s.add_campaign_links(c.id, vec![a.clone(), b.clone(), a.clone()])
            .await
            .unwrap(),
        vec![Some(0), Some(1), Some(0)]
    );
    assert_eq!(
        s.add_campaign_links(c.id, vec![b.clone(), z.clone()])
            .await
            .unwrap(),
        vec![Some(1), Some(2)]
    );
    let other = s.create_campaign(campaign("Other tracked")).await.unwrap();
    assert_eq!(
        s.add_campaign_links(other.id, vec![z.clone()])
            .await
            .unwrap(),
        vec![Some(0)],
        "each campaign has a book of its own"
    );
    assert_eq!(
        s.campaign_links(c.id).await.unwrap(),
        vec![a.clone(), b.clone(), z.clone()]
    );

    // 40 opens of one recipient at once, and the same order reported 10 times at once.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = s.clone();
        let h = hit(c.id, 1, HitKind::Open);
        tasks.push(tokio::spawn(async move { s.record_hit(h).await.unwrap() }));
    }
    let mut orders = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        let mut h = hit(c.id, 1, HitKind::Conversion);
        h.order_id = Some("ORD-1".into());
        h.value = Some(49.9);
        h.currency = Some("EUR".into());
        orders.push(tokio::spawn(async move { s.record_hit(h).await.unwrap() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), HitOutcome::Recorded);
    }
    let mut recorded = 0;
    for o in orders {
        if o.await.unwrap() == HitOutcome::Recorded {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1, "one order counts once");
    let mut click = hit(c.id, 2, HitKind::Click);
    click.link = Some(1);
    click.detail = Some(b.clone());
    s.record_hit(click).await.unwrap();
    let mut bot = hit(c.id, 3, HitKind::Click);
    bot.link = Some(0);
    bot.bot = Some(BotFlag {
        rule: BotRule::Agent,
        reason: "curl".into(),
    });
    s.record_hit(bot).await.unwrap();
    let mut same_order_elsewhere = hit(other.id, 1, HitKind::Conversion);
    same_order_elsewhere.order_id = Some("ORD-1".into());
    assert_eq!(
        s.record_hit(same_order_elsewhere).await.unwrap(),
        HitOutcome::Recorded,
        "orders are per campaign"
    );

    s.close().await.unwrap();
    let s = open_in(open, dir.path()).await;
    let all = s.campaign_hits(c.id).await.unwrap();
    assert_eq!(all.len(), 43);
    let counts = count_hits(&all, &s.campaign_links(c.id).await.unwrap());
    assert_eq!(
        (counts.opens, counts.unique_opens, counts.human_opens),
        (40, 1, 1)
    );
    assert_eq!(
        (counts.clicks, counts.unique_clicks, counts.human_clicks),
        (2, 2, 1)
    );
    assert_eq!((counts.conversions, counts.revenue), (1, 49.9));
    assert_eq!(counts.links[1].url, b);
    let two = s.recipient_hits(c.id, 2).await.unwrap();
    assert_eq!(two.len(), 1);
    assert_eq!((two[0].kind, two[0].link), (HitKind::Click, Some(1)));
    assert_eq!(two[0].ip.as_deref(), Some("192.0.2.7"));
    assert!(s.recipient_hits(c.id, 9).await.unwrap().is_empty());
    let events = s.subscriber_events(2, 10).await.unwrap();
    assert_eq!(
        (events[0].kind, events[0].detail.as_deref()),
        (EventKind::Click, Some(b.as_str()))
    );
    assert_eq!(
        s.subscriber_events(1, 100).await.unwrap().len(),
        42,
        "40 opens and a conversion, and the other campaign's conversion"
    );
    // Engagement, added up in each hit's transaction: 40 human opens and two conversions
    // (60 points), one human click (3), a bot's click (nothing).
    let e1 = s.subscriber_engagement(1).await.unwrap().unwrap();
    assert_eq!((e1.millis, e1.at), (60_000, t(501)));
    assert_eq!(
        s.subscriber_engagement(2).await.unwrap().unwrap().millis,
        3_000
    );
    assert_eq!(s.subscriber_engagement(3).await.unwrap(), None);
    s.close().await.unwrap();
}
