//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the tests that replay their
//! corpora, so both exercise exactly the same code. Each must never panic, whatever the input.

use crate::address::{EmailAddress, Party};
use crate::config::Config;
use crate::mail as subject;
use crate::mail::Envelope;
use crate::mail::ParsedMail;
use crate::model::DrId;
use crate::tracking::{self as classify, ThreadFacts};

/// Raw bytes → parse → classify, against facts that make every rule reachable: the mail's own
/// thread candidates are "recorded", half of them in a DR, and its subject tags exist.
pub fn parse_and_classify(data: &[u8]) {
    let config = Config {
        local_domains: vec!["example.com".into(), "xn--bcher-kva.example".into()],
        timezone: "UTC".into(),
        ..Config::default()
    };
    let Ok(rules) = config.tracking_rules() else {
        return;
    };
    let mail = ParsedMail::parse(data);
    let env = Envelope::default().resolve(&mail);
    let parties = classify::parties(&rules, &env, &mail);
    let q = classify::facts_query(&mail, &parties, &rules);
    for facts in [ThreadFacts::default(), synthetic_facts(&mail, &q)] {
        let c = classify::classify(&rules, &env, &mail, &parties, &facts);
        // Every decision is either tracked with a type or untracked with a reason.
        assert_eq!(c.decision.is_tracked(), c.decision.mail_type().is_some());
    }
}

fn synthetic_facts(mail: &ParsedMail, q: &crate::store::FactsQuery) -> ThreadFacts {
    use crate::model::{Direction, Dr, DrStatus, MailType};
    let date = jiff::civil::date(2026, 1, 1);
    let t = jiff::Timestamp::UNIX_EPOCH;
    let owner = EmailAddress::parse("owner@example.com").ok();
    let customer = mail
        .from
        .clone()
        .or_else(|| EmailAddress::parse("c@customer.example").ok());
    let (Some(owner), Some(customer)) = (owner, customer) else {
        return ThreadFacts::default();
    };
    let mk = |id: DrId| Dr {
        id,
        owner: owner.clone(),
        cc_users: vec![],
        customer: customer.clone(),
        participants: vec![],
        subject: String::new(),
        status: DrStatus::Open,
        assigned_on: t,
        first_response_at: None,
        awaiting_since: Some(t),
        last_activity: t,
        escalation_level: 0,
        last_sender: customer.clone(),
        last_recipient: None,
        last_mail_type: MailType::Normal,
        last_customer_at: None,
        warned_at: None,
        remind_at: None,
        due_at: None,
        version: 1,
    };
    let mut facts = ThreadFacts::default();
    for (i, id) in q.candidates.iter().enumerate() {
        let dr = DrId::new("SUPP", date, i as u64 + 1)
            .ok()
            .filter(|_| i % 2 == 0);
        if let Some(d) = &dr {
            facts.drs.push(mk(d.clone()));
        }
        // Every third is a campaign mail, so the reply rule is reachable too.
        let campaign_mail = i % 3 == 1;
        if campaign_mail {
            facts.campaigns.push(classify::CampaignRef {
                message_id: id.clone(),
                campaign: 1,
                recipient: i as u64 + 1,
                subscriber: 1,
                owner: Some(owner.clone()),
            });
        }
        facts.referenced.push(classify::MailRef {
            message_id: id.clone(),
            direction: Direction::Outbound,
            dr,
            sender: Some(owner.clone()),
            campaign_mail,
        });
    }
    for tag in &q.tags {
        facts.drs.push(mk(tag.clone()));
    }
    facts
}

/// The subject-tag scanner, tag insertion and forward detection on arbitrary text.
pub fn subject_tag(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let tags = subject::find_tags(&s);
    let _ = subject::is_forward_subject(&s);
    let _ = subject::base_subject(&s);
    let id = tags
        .first()
        .cloned()
        .or_else(|| DrId::new("SUPP", jiff::civil::date(2003, 11, 10), 7).ok());
    if let Some(id) = id {
        let tagged = subject::add_tag(&s, &id);
        assert!(
            subject::has_tag(&tagged, &id),
            "add_tag lost the tag: {tagged:?}"
        );
        assert_eq!(
            subject::add_tag(&tagged, &id),
            tagged,
            "add_tag tagged twice"
        );
    }
    for t in tags {
        assert_eq!(DrId::parse(&t.to_string()).ok(), Some(t));
    }
}

/// The address and party parsers on arbitrary text: normalisation is idempotent.
pub fn address(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok(a) = EmailAddress::parse(&s) {
        let again = EmailAddress::parse(a.as_str());
        assert_eq!(
            again.as_ref().ok(),
            Some(&a),
            "normalisation is not idempotent for {s:?}"
        );
    }
    let _ = Party::parse(&s);
}

/// Arbitrary bytes as an HTML page, a text page and a robots.txt: the address finder, the
/// false-positive filter and the crawl policy must stay total, and what they report must hold
/// up (every address re-validates to itself, every link is absolute http(s), robots rules are
/// obeyed).
pub fn extract(data: &[u8]) {
    use crate::extract::{
        CrawlPolicy, FetchKind, Frontier, Next, Outcome, Response, find_in_html, find_in_text,
        plausible_address,
    };
    let text = String::from_utf8_lossy(data);
    let base = match url::Url::parse("http://site.test/dir/page.html") {
        Ok(u) => u,
        Err(_) => return,
    };
    let page = find_in_html(&text, &base);
    let plain = find_in_text(&text);
    for a in page.addresses.iter().chain(&plain) {
        let again = plausible_address(a).map(|p| p.as_str().to_string());
        assert_eq!(
            again.as_deref(),
            Some(a.as_str()),
            "not a fixed point: {a:?}"
        );
    }
    for l in &page.links {
        assert!(
            matches!(l.scheme(), "http" | "https") && l.fragment().is_none(),
            "{l}"
        );
    }
    let _ = crate::extract::decode_cloudflare(&text);

    // The same bytes as the site's robots.txt, then the page's links through the frontier.
    let policy = CrawlPolicy::from_config(&crate::config::ExtractorConfig::default());
    let mut f = Frontier::new(policy, &["http://site.test/dir/page.html".to_string()]);
    let now = std::time::Duration::ZERO;
    // A 200 for `job` with `body`, and the page's findings when it is a page.
    let answer = |job: &crate::extract::Job, body: Vec<u8>, findings| Outcome::Answer {
        response: Response {
            status: 200,
            final_url: job.url.clone(),
            content_type: Some("text/html".into()),
            body,
            retry_after: None,
        },
        findings,
    };
    let Next::Fetch(robots) = f.next(now) else {
        return;
    };
    assert_eq!(robots.kind, FetchKind::Robots);
    f.complete(robots.clone(), answer(&robots, data.to_vec(), None), now);
    let mut steps = 0;
    let mut findings = Some(page);
    let mut t = now;
    while steps < 50 {
        steps += 1;
        match f.next(t) {
            Next::Fetch(job) => {
                let outcome = answer(&job, Vec::new(), Some(findings.take().unwrap_or_default()));
                f.complete(job, outcome, t);
            }
            Next::Wait(at) => t = at,
            Next::Idle | Next::Done => break,
        }
    }
    let report = f.report(false);
    assert!(report.pages_fetched <= 50);
}

/// Arbitrary bytes as a message back at a campaign's return path: the DSN and feedback report
/// reader stays total, reads at most [`crate::campaign::MAX_DSN_RECIPIENTS`] blocks, and every
/// block it reads classifies.
pub fn report(data: &[u8]) {
    use crate::campaign::{MAX_DSN_RECIPIENTS, Report, classify_bounce, read_report};
    match read_report(data) {
        Report::Dsn(blocks) => {
            assert!(!blocks.is_empty() && blocks.len() <= MAX_DSN_RECIPIENTS);
            for b in &blocks {
                let _ = classify_bounce(b);
                if let Some(s) = &b.status {
                    assert_eq!(s.split('.').count(), 3, "a status kept: {s:?}");
                }
            }
        }
        Report::Feedback(f) => assert!(!f.feedback_type.is_empty()),
        Report::Other(why) => assert!(!why.is_empty()),
    }
}

/// Arbitrary bytes as a token, and as the fields of one: verifying never panics; whatever
/// is signed verifies to itself in both forms (and in upper case, as a mail system may write
/// an address), and a token signed under another secret does not.
pub fn token(data: &[u8]) {
    use crate::campaign::{Signer, Token, TokenKind};
    let signer = Signer::new(b"fuzzing secret, thirty-two bytes!");
    let _ = signer.verify(&String::from_utf8_lossy(data));
    if data.len() < 19 {
        return;
    }
    let kinds = [
        TokenKind::Unsubscribe,
        TokenKind::Bounce,
        TokenKind::Open,
        TokenKind::Click,
        TokenKind::View,
        TokenKind::Confirm,
        TokenKind::Convert,
    ];
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[i..i + 8]);
        u64::from_be_bytes(b)
    };
    let t = Token {
        kind: kinds[data[0] as usize % kinds.len()],
        campaign: u64_at(1),
        recipient: u64_at(9),
        link: u16::from_be_bytes([data[17], data[18]]),
    };
    let text = signer.sign(&t);
    assert_eq!(signer.verify(&text), Some(t));
    let address = signer.address_token(&t);
    assert!(address.len() <= 64 - "unsubscribe+".len());
    assert_eq!(signer.verify(&address), Some(t));
    assert_eq!(signer.verify(&address.to_ascii_uppercase()), Some(t));
    assert_eq!(Signer::new(b"another secret").verify(&text), None);
}

/// The search query parser and everything it gives a store: never panics; an accepted query
/// has at most [`crate::archive::MAX_TERMS`] terms, each at most
/// [`crate::archive::MAX_TERM_CHARS`] characters, and its FTS5 expression has every user term
/// inside a quoted string (an even number of `"` per term, none left open).
pub fn search_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(q) = crate::archive::parse_query(&text, &jiff::tz::TimeZone::UTC) else {
        return;
    };
    assert!(q.terms.len() <= crate::archive::MAX_TERMS);
    for t in &q.terms {
        assert!(t.text.chars().count() <= crate::archive::MAX_TERM_CHARS);
        assert!(!t.text.trim().is_empty());
    }
    if let Some(e) = q.fts5() {
        assert_eq!(e.matches('"').count() % 2, 0, "{e}");
    }
    let _ = crate::archive::snippet(&text, &q.words(), 40);
}

/// Reading a message for display (bodies, attachments, safe names, quoted blocks) and for the
/// acknowledgement loop guard (`AckHeaders::read`): never panics, and every attachment name is
/// safe to offer for download.
pub fn read_message(data: &[u8]) {
    let _ = crate::support::AckHeaders::read(data);
    let b = crate::archive::read_message(data);
    for a in &b.attachments {
        assert!(
            !a.name.is_empty() && !a.name.contains(['/', '\\', '"']) && !a.name.starts_with('.')
        );
        assert!(a.name.chars().count() <= crate::archive::MAX_NAME_CHARS);
        let _ = crate::archive::attachment_bytes(data, a.index);
    }
    if let Some(t) = &b.text {
        let _ = crate::archive::quoted_blocks(t);
    }
}

/// Customer service's text handling: what a message asks the knowledge base
/// (`kb::terms`, `kb::query` with the thesaurus), an acknowledgement template compiled and
/// rendered from the input (the first line the subject, the rest the HTML; fuel bounds any
/// loop), and a reply and a transcript entry quoting the input. Never panics; a query's words
/// are bounded and carry no quote character (the stores quote them).
pub fn support_text(data: &[u8]) {
    use crate::support::{autoreply, kb, reply, transcript};
    let text = String::from_utf8_lossy(data);
    let terms = kb::terms(&text);
    assert!(terms.len() <= kb::MAX_TERMS);
    let q = kb::query(&text, &[(vec!["money back".into()], vec!["refund".into()])]);
    assert!(q.len() <= kb::MAX_TERMS + 16);
    for t in terms.iter().chain(&q) {
        assert!(!t.is_empty() && !t.contains('"'), "{t:?}");
    }
    let (subject, html) = text.split_once('\n').unwrap_or((&text, ""));
    let t = crate::campaign::Template {
        name: "fuzz".into(),
        kind: crate::campaign::TemplateKind::Acknowledgement,
        subject: subject.to_string(),
        html: html.to_string(),
        text: None,
        builtin: false,
        created_at: jiff::Timestamp::UNIX_EPOCH,
    };
    if let Ok(r) = autoreply::AckRenderer::new(&t) {
        let data = autoreply::AckData {
            dr: autoreply::DrFields {
                id: "SUPP-12052026.1".into(),
                subject: text.to_string(),
            },
            customer: "carla@customer.example".into(),
            suggestions: vec![autoreply::SuggestionField {
                id: 1,
                title: text.to_string(),
                summary: autoreply::summary(&text),
            }],
            ..autoreply::AckData::default()
        };
        let _ = r.render(&data);
    }
    let now = jiff::Timestamp::UNIX_EPOCH;
    let Ok(id) = crate::model::DrId::parse("SUPP-12052026.1") else {
        return;
    };
    let Ok(customer) = crate::EmailAddress::parse("carla@customer.example") else {
        return;
    };
    let dr = crate::model::Dr {
        subject: text.chars().take(200).collect(),
        ..sample_dr(id, customer.clone(), now)
    };
    let mail = crate::model::MailRecord {
        sender_name: Some(text.chars().take(50).collect()),
        ..sample_mail(customer.clone(), now)
    };
    let msg = reply::reply_message(
        &dr,
        Some(reply::Answered {
            mail: &mail,
            text: &text,
        }),
        &customer,
        None,
        &text,
        &[],
        "fuzz@example.com".into(),
        &jiff::tz::TimeZone::UTC,
    );
    assert!(msg.subject.contains("[SUPP-12052026.1]"));
    let e = transcript::Entry::of(&mail, &text, &jiff::tz::TimeZone::UTC);
    let _ = transcript::transcript(&dr, &[e]);
}

/// An open DR of `customer`, owned by `ann@example.com`, as of `t`.
fn sample_dr(
    id: crate::model::DrId,
    customer: crate::EmailAddress,
    t: jiff::Timestamp,
) -> crate::model::Dr {
    let owner = crate::EmailAddress::parse("ann@example.com").unwrap_or_else(|_| customer.clone());
    crate::model::Dr {
        id,
        owner,
        cc_users: vec![],
        customer: customer.clone(),
        participants: vec![],
        subject: String::new(),
        status: crate::model::DrStatus::Open,
        assigned_on: t,
        first_response_at: None,
        awaiting_since: Some(t),
        last_activity: t,
        escalation_level: 0,
        last_sender: customer,
        last_recipient: None,
        last_mail_type: crate::model::MailType::Normal,
        last_customer_at: None,
        warned_at: None,
        remind_at: None,
        due_at: None,
        version: 1,
    }
}

/// A customer's inbound mail record, as of `t`.
fn sample_mail(customer: crate::EmailAddress, t: jiff::Timestamp) -> crate::model::MailRecord {
    crate::model::MailRecord {
        seq: 1,
        message_id: crate::mail::MessageId::from_trusted("q@customer.example".into()),
        derived_message_id: false,
        direction: crate::model::Direction::Inbound,
        mail_from: Some(customer.clone()),
        rcpt_to: vec![],
        sender: Some(customer.clone()),
        sender_name: None,
        to: vec![],
        cc: vec![],
        subject: String::new(),
        received_at: t,
        sent_at: None,
        decision: crate::model::Decision::Tracked {
            mail_type: crate::model::MailType::Normal,
        },
        dr: None,
        parties: vec![customer],
        size: 0,
    }
}
