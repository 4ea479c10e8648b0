//! The service layer's rules, each tested once here, where every frontend (pages, API, CLI)
//! meets them: who may do what, what each actor sees, the owner check on assign, the user
//! record rules, the thread cap. Runs on the real SQLite store.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use etraq_core::access::{Actor, Viewer};
use etraq_core::config::LiveConfig;
use etraq_core::model::Role;
use etraq_core::service::{App, DrFilter, MAX_THREAD, PageRequest, user_problems};
use etraq_core::tracking::{Incoming, ReceivedAt};
use etraq_core::{Config, DrId, EmailAddress, Envelope, Error, Store, Tracker, User};
use etraq_store_sqlite::SqliteStore;
use jiff::Timestamp;

fn addr(s: &str) -> EmailAddress {
    s.parse().unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

struct World {
    app: App,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn user(email: &str, role: Role, supervisor: Option<&str>) -> User {
    let mut u = User::new(addr(email), email.split('@').next().unwrap());
    u.role = role;
    u.supervisor = supervisor.map(addr);
    u
}

/// ann and bob are agents; lead supervises ann only. A customer wrote to each agent.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config::from_toml("local_domains = [\"example.com\"]\n", "etraq.toml".as_ref()).unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("etraq.db"))
            .await
            .unwrap(),
    );
    for u in [
        user("ann@example.com", Role::Agent, Some("lead@example.com")),
        user("bob@example.com", Role::Agent, None),
        user("lead@example.com", Role::Supervisor, None),
    ] {
        store.put_user(&u).await.unwrap();
    }
    let tracker = Arc::new(Tracker::new(
        store.clone(),
        config.tracking_rules().unwrap(),
    ));
    for (n, (from, to)) in [
        ("carl@customer.test", "ann@example.com"),
        ("dora@client.test", "bob@example.com"),
    ]
    .into_iter()
    .enumerate()
    {
        let mail = format!(
            "From: {from}\r\nTo: {to}\r\nSubject: help {n}\r\nMessage-ID: <m{n}@x.test>\r\n\r\nhi\r\n"
        );
        let t = tracker
            .track(
                mail.as_bytes(),
                &Envelope::default(),
                at("2026-11-27T09:00:00Z"),
            )
            .await
            .unwrap();
        assert!(t.decision.is_tracked());
    }
    let app = App::new(
        store.clone(),
        tracker,
        LiveConfig::new(config),
        dir.path().join("logs"),
    );
    World {
        app,
        store,
        _dir: dir,
    }
}

impl World {
    async fn actor(&self, email: &str) -> Actor {
        let users = self.store.list_users().await.unwrap();
        let u = users.iter().find(|u| u.email.as_str() == email).unwrap();
        Actor::new(Viewer::user(u.clone()), &users)
    }

    async fn dr_of(&self, owner: &str) -> DrId {
        let page = self
            .app
            .list_drs(
                &Actor::admin(),
                &DrFilter::default(),
                &PageRequest::default(),
            )
            .await
            .unwrap();
        page.page
            .items
            .into_iter()
            .find(|d| d.owner.as_str() == owner)
            .unwrap()
            .id
    }

    async fn owners_seen_by(&self, who: &Actor) -> Vec<String> {
        let page = self
            .app
            .list_drs(who, &DrFilter::default(), &PageRequest::default())
            .await
            .unwrap();
        let mut v: Vec<String> = page
            .page
            .items
            .iter()
            .map(|d| d.owner.to_string())
            .collect();
        v.sort();
        v
    }
}

fn is_forbidden<T: std::fmt::Debug>(r: etraq_core::Result<T>) -> bool {
    matches!(r, Err(Error::Forbidden(_)))
}

#[tokio::test]
async fn agents_and_supervisors_may_not_administer() {
    let w = world().await;
    for who in [
        w.actor("ann@example.com").await,
        w.actor("lead@example.com").await,
    ] {
        let login = who.viewer.login.clone();
        assert!(is_forbidden(w.app.users(&who).await), "{login}: users");
        assert!(
            is_forbidden(w.app.user(&who, &addr("bob@example.com")).await),
            "{login}: user"
        );
        let new = user("eve@example.com", Role::Admin, None);
        assert!(
            is_forbidden(w.app.add_user(&who, new.clone()).await),
            "{login}: add"
        );
        let mut promoted = user(&login, Role::Admin, None);
        promoted.name = "me".into();
        assert!(
            is_forbidden(w.app.update_user(&who, promoted).await),
            "{login}: promote themself"
        );
        assert!(is_forbidden(w.app.log_files(&who)), "{login}: logs");
        assert!(is_forbidden(w.app.log_file(&who, "x.log")), "{login}: log");
        assert!(
            is_forbidden(w.app.set_paused(&who, "smtp", true)),
            "{login}: pause"
        );
        let cfg =
            Config::from_toml("local_domains = [\"evil.test\"]\n", "x.toml".as_ref()).unwrap();
        assert!(
            is_forbidden(w.app.apply_config(&who, cfg)),
            "{login}: config"
        );
    }
    // Nothing changed behind the refusals.
    assert!(
        w.store
            .get_user(&addr("eve@example.com"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        w.app.services().states().smtp,
        "the SMTP listener still runs"
    );
    assert_eq!(
        w.app.config().tracking_rules().unwrap().local_domains,
        ["example.com"]
    );
    // Escalation cycles: supervisors yes, agents no.
    let ann = w.actor("ann@example.com").await;
    let lead = w.actor("lead@example.com").await;
    assert!(is_forbidden(
        w.app.cycles(&ann, &PageRequest::default()).await
    ));
    assert!(w.app.cycles(&lead, &PageRequest::default()).await.is_ok());
    // The administrator may do all of it.
    let admin = Actor::admin();
    assert_eq!(w.app.users(&admin).await.unwrap().len(), 3);
    assert!(!w.app.set_paused(&admin, "smtp", true).unwrap().smtp);
}

#[tokio::test]
async fn a_dr_outside_the_view_is_not_found_like_a_missing_one() {
    let w = world().await;
    let now = at("2026-11-28T09:00:00Z");
    let bobs = w.dr_of("bob@example.com").await;
    let ann = w.actor("ann@example.com").await;
    let lead = w.actor("lead@example.com").await;
    for who in [&ann, &lead] {
        assert!(matches!(
            w.app.visible_dr(who, &bobs).await,
            Err(Error::NotFound { what: "DR", .. })
        ));
        assert!(matches!(
            w.app.dr_detail(who, &bobs).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            w.app.close_dr(who, &bobs, now).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            w.app
                .assign_dr(who, &bobs, &addr("ann@example.com"), now)
                .await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            w.app.remind_dr(who, &bobs, now).await,
            Err(Error::NotFound { .. })
        ));
    }
    // Untouched.
    let dr = w.store.get_dr(&bobs).await.unwrap().unwrap();
    assert_eq!(dr.owner.as_str(), "bob@example.com");
    assert_eq!(dr.version, 1);
    // ann's own DR is hers to act on, and lead's through ann.
    let anns = w.dr_of("ann@example.com").await;
    assert!(w.app.close_dr(&ann, &anns, now).await.is_ok());
    assert!(w.app.reopen_dr(&lead, &anns, now).await.is_ok());
}

#[tokio::test]
async fn assign_needs_a_registered_owner_and_keeps_the_old_one_as_cc() {
    let w = world().await;
    let now = at("2026-11-28T09:00:00Z");
    let anns = w.dr_of("ann@example.com").await;
    let admin = Actor::admin();
    for stranger in ["nobody@example.com", "carl@customer.test"] {
        match w.app.assign_dr(&admin, &anns, &addr(stranger), now).await {
            Err(Error::InvalidField {
                field: "owner",
                reason,
            }) => {
                assert!(reason.contains(stranger), "{reason}")
            }
            other => panic!("{stranger}: {other:?}"),
        }
    }
    assert_eq!(
        w.store.get_dr(&anns).await.unwrap().unwrap().owner.as_str(),
        "ann@example.com"
    );
    let dr = w
        .app
        .assign_dr(&admin, &anns, &addr("bob@example.com"), now)
        .await
        .unwrap();
    assert_eq!(dr.owner.as_str(), "bob@example.com");
    assert!(dr.cc_users.contains(&addr("ann@example.com")));
    assert_eq!(dr.version, 2);
}

#[tokio::test]
async fn every_listing_and_count_respects_the_viewer() {
    let w = world().await;
    let ann = w.actor("ann@example.com").await;
    let bob = w.actor("bob@example.com").await;
    let lead = w.actor("lead@example.com").await;
    let admin = Actor::admin();
    assert_eq!(w.owners_seen_by(&ann).await, ["ann@example.com"]);
    assert_eq!(w.owners_seen_by(&bob).await, ["bob@example.com"]);
    assert_eq!(w.owners_seen_by(&lead).await, ["ann@example.com"]);
    assert_eq!(
        w.owners_seen_by(&admin).await,
        ["ann@example.com", "bob@example.com"]
    );

    let open = |who: &Actor| {
        let app = w.app.clone();
        let who = who.clone();
        async move { app.dr_counts(&who).await.unwrap().open }
    };
    assert_eq!(open(&ann).await, 1);
    assert_eq!(open(&lead).await, 1);
    assert_eq!(open(&admin).await, 2);

    let since = at("2026-11-27T00:00:00Z");
    let until = at("2026-11-28T00:00:00Z");
    let mails = |who: &Actor| {
        let app = w.app.clone();
        let who = who.clone();
        async move {
            app.volume(&who, since, until)
                .await
                .unwrap()
                .iter()
                .map(|d| d.tracked + d.untracked)
                .sum::<u64>()
        }
    };
    assert_eq!(
        mails(&ann).await,
        1,
        "the volume report counts ann's mail only"
    );
    assert_eq!(mails(&bob).await, 1);
    assert_eq!(mails(&admin).await, 2);
    assert!(matches!(
        w.app.volume(&admin, until, since).await,
        Err(Error::InvalidField { field: "until", .. })
    ));

    let history = w
        .app
        .history(
            &ann,
            etraq_core::Party::parse("@client.test").unwrap(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(history.items.is_empty(), "dora wrote to bob, not to ann");
}

#[tokio::test]
async fn user_records_follow_one_set_of_rules() {
    let w = world().await;
    let admin = Actor::admin();
    let domains = vec!["example.com".to_string()];

    let mut outsider = user("eve@elsewhere.test", Role::Agent, None);
    let problems = user_problems(&outsider, &domains);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, "email");
    outsider.name = "  ".into();
    outsider.supervisor = Some(outsider.email.clone());
    let fields: Vec<&str> = user_problems(&outsider, &domains)
        .iter()
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(
        fields,
        ["email", "name", "supervisor"],
        "every problem at once"
    );
    let mut long = user("eve@example.com", Role::Agent, None);
    long.name = "x".repeat(201);
    assert_eq!(user_problems(&long, &domains)[0].0, "name");

    match w.app.add_user(&admin, outsider).await {
        Err(Error::InvalidField { field: "email", .. }) => {}
        other => panic!("{other:?}"),
    }
    match w
        .app
        .add_user(&admin, user("ann@example.com", Role::Agent, None))
        .await
    {
        Err(Error::InvalidField {
            field: "email",
            reason,
        }) => {
            assert!(reason.contains("already"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    match w
        .app
        .update_user(&admin, user("ghost@example.com", Role::Agent, None))
        .await
    {
        Err(Error::NotFound { what: "user", .. }) => {}
        other => panic!("{other:?}"),
    }
    let mut eve = user("eve@example.com", Role::Agent, Some("lead@example.com"));
    eve.name = "  Eve Example  ".into();
    let saved = w.app.add_user(&admin, eve).await.unwrap();
    assert_eq!(saved.name, "Eve Example", "names are stored trimmed");
    let problems = w
        .app
        .check_new_user(&user("eve@example.com", Role::Agent, None))
        .await
        .unwrap();
    assert_eq!(problems[0].0, "email");
}

#[tokio::test]
async fn the_paused_service_name_is_checked() {
    let w = world().await;
    match w.app.set_paused(&Actor::admin(), "smpt", true) {
        Err(Error::InvalidField {
            field: "service",
            reason,
        }) => {
            assert!(reason.contains("smpt"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let states = w.app.set_paused(&Actor::admin(), "all", true).unwrap();
    assert!(!states.smtp && !states.escalation && !states.notifications);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_is_capped_at_max_thread_mails_on_every_frontend() {
    let w = world().await;
    let anns = w.dr_of("ann@example.com").await;
    // MAX_THREAD follow-ups from the customer, one batch, all in reply to the first mail.
    let base = at("2026-11-27T10:00:00Z");
    let items: Vec<Incoming> = (0..MAX_THREAD)
        .map(|i| Incoming {
            raw: format!(
                "From: carl@customer.test\r\nTo: ann@example.com\r\nSubject: Re: help 0\r\n\
                 Message-ID: <f{i}@customer.test>\r\nIn-Reply-To: <m0@x.test>\r\n\r\nany news?\r\n"
            )
            .into_bytes(),
            envelope: Envelope::default(),
            received: ReceivedAt::At(base),
        })
        .collect();
    for chunk in items.chunks(2_000) {
        w.app.tracker().track_batch(chunk.to_vec()).await.unwrap();
    }
    let (detail, mails) = w.app.dr_detail(&Actor::admin(), &anns).await.unwrap();
    assert_eq!(mails.len(), MAX_THREAD);
    assert_eq!(detail.messages.len(), MAX_THREAD);
    assert!(
        detail.truncated,
        "MAX_THREAD + 1 mails: the thread says it was cut"
    );
    // Oldest first: the customer's first mail leads.
    assert_eq!(mails[0].message_id.as_str(), "m0@x.test");

    // One mail under the cap is not truncated.
    let bobs = w.dr_of("bob@example.com").await;
    let (small, _) = w.app.dr_detail(&Actor::admin(), &bobs).await.unwrap();
    assert!(!small.truncated);
    assert_eq!(small.messages.len(), 1);
}

/// The engagement score: human opens, clicks, replies and conversions add up (bots do not),
/// the subscriber's view shows it, and a segment can select by it.
#[tokio::test]
async fn the_engagement_score_shows_and_selects() {
    use etraq_core::campaign::{BotFlag, BotRule, Hit, HitKind};
    use etraq_core::service::ListSettings;
    let w = world().await;
    let who = Actor::admin();
    let now = Timestamp::now();
    w.app
        .create_list(&who, "News", &ListSettings::default(), now)
        .await
        .unwrap();
    w.app
        .import_csv(
            &who,
            "News",
            b"email\nkeen@customer.test\nquiet@customer.test\nbotted@customer.test\n",
            true,
            now,
        )
        .await
        .unwrap();
    let id = |e: &str| {
        let app = &w.app;
        let e = addr(e);
        async move {
            app.subscriber(&Actor::admin(), &e)
                .await
                .unwrap()
                .subscriber
                .id
        }
    };
    let hit = |subscriber, kind, bot: bool| Hit {
        campaign: 1,
        recipient: subscriber,
        subscriber,
        kind,
        link: Some(0),
        at: now,
        user_agent: Some("Mozilla/5.0".into()),
        ip: None,
        bot: bot.then(|| BotFlag {
            rule: BotRule::Agent,
            reason: "a scanner".into(),
        }),
        value: None,
        currency: None,
        order_id: None,
        detail: None,
    };
    let (keen, botted) = (
        id("keen@customer.test").await,
        id("botted@customer.test").await,
    );
    for h in [
        hit(keen, HitKind::Open, false),
        hit(keen, HitKind::Click, false),
        hit(keen, HitKind::Reply, false),
        hit(botted, HitKind::Open, true),
        hit(botted, HitKind::Click, true),
    ] {
        w.store.record_hit(h).await.unwrap();
    }
    let score = |e: &str| {
        let app = &w.app;
        let e = addr(e);
        async move { app.subscriber(&Actor::admin(), &e).await.unwrap().score }
    };
    assert_eq!(score("keen@customer.test").await, 9.0);
    assert_eq!(score("botted@customer.test").await, 0.0);
    assert_eq!(score("quiet@customer.test").await, 0.0);
    let row = serde_json::to_value(
        w.app
            .subscriber(&who, &addr("keen@customer.test"))
            .await
            .unwrap()
            .row(),
    )
    .unwrap();
    assert_eq!(row["score"], 9.0);
    let audience = w
        .app
        .audience(
            &who,
            &["News".into()],
            Some("subscriber.score >= 5"),
            "Keen",
        )
        .await
        .unwrap();
    let picked: Vec<String> = audience
        .recipients
        .iter()
        .map(|(s, _)| s.email.to_string())
        .collect();
    assert_eq!(picked, ["keen@customer.test"]);
}
