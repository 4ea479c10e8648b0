//! Generators for the etraq benchmarks: realistic, deterministic mail traffic.
//!
//! [`Traffic`] produces a stream of conversations between customers and a support team: new
//! customer mails, employee replies that thread by In-Reply-To and by subject tag, customer
//! follow-ups that only carry References, internal forwards, auto-replies and internal chatter,
//! each 2–4 KB like real mail. The same seed always produces the same bytes.

// A benchmark support: its panics are test failures, not crashes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use etraq_core::{Config, Store, TrackingRules, User};

/// A small, fast, deterministic PRNG (xorshift64*), so benchmarks need no `rand`.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The vocabulary generated subjects and bodies are made of (search benchmarks query it).
pub const WORDS: &[&str] = &[
    "printer",
    "invoice",
    "order",
    "delivery",
    "refund",
    "license",
    "server",
    "update",
    "error",
    "account",
    "password",
    "shipment",
    "quote",
    "contract",
    "renewal",
    "warranty",
    "replacement",
    "installation",
    "network",
    "backup",
    "urgent",
    "question",
    "problem",
    "request",
    "support",
];

/// The employees of the generated company (`example.com`).
pub const EMPLOYEES: usize = 40;

/// Conversation traffic generator.
pub struct Traffic {
    rng: Rng,
    n: u64,
    /// Open threads: (customer, employee, first message id, last message id, subject).
    threads: Vec<(String, String, String, String, String)>,
}

impl Traffic {
    /// A generator; the same seed gives the same traffic.
    pub fn new(seed: u64) -> Self {
        Traffic {
            rng: Rng::new(seed),
            n: 0,
            threads: Vec::new(),
        }
    }

    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| WORDS[self.rng.below(WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn body(&mut self) -> String {
        let mut b = String::with_capacity(3000);
        let paras = 3 + self.rng.below(4);
        for _ in 0..paras {
            let line = self.words(10);
            for _ in 0..5 {
                b.push_str(&line);
                b.push_str(".\r\n");
            }
            b.push_str("\r\n");
        }
        b.push_str("--\r\nKind regards\r\n");
        b
    }

    fn employee(&mut self) -> String {
        format!("agent{}@example.com", self.rng.below(EMPLOYEES as u64))
    }

    fn customer(&mut self) -> String {
        format!(
            "user{}@customer{}.test",
            self.rng.below(20_000),
            self.rng.below(2_000)
        )
    }

    /// The next raw message.
    pub fn next_mail(&mut self) -> Vec<u8> {
        self.n += 1;
        let n = self.n;
        let date = format!(
            "Fri, 27 Nov 2026 {:02}:{:02}:{:02} +0000",
            (n / 3600) % 24,
            (n / 60) % 60,
            n % 60
        );
        let roll = self.rng.below(100);
        let body = self.body();
        let trace = "Received: from mx.customer.test (mx.customer.test [192.0.2.25])\r\n\tby gw.example.com with ESMTPS id 4F2a9\r\n\tfor <support@example.com>; Fri, 27 Nov 2026 09:00:00 +0000\r\nDKIM-Signature: v=1; a=rsa-sha256; d=customer.test; s=s1; h=from:to:subject:date;\r\n\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AbCdEf0123456789\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n";
        let pick = if self.threads.is_empty() {
            0
        } else {
            self.rng.below(self.threads.len() as u64) as usize
        };
        let mail = if roll < 40 || self.threads.is_empty() {
            // A new customer mail.
            let customer = self.customer();
            let employee = self.employee();
            let subject = format!("{} {}", self.words(3), n);
            let id = format!("c{n}@customer.test");
            self.threads.push((
                customer.clone(),
                employee.clone(),
                id.clone(),
                id.clone(),
                subject.clone(),
            ));
            if self.threads.len() > 5_000 {
                let drop = self.rng.below(self.threads.len() as u64) as usize;
                self.threads.swap_remove(drop);
            }
            format!(
                "{trace}From: Customer {n} <{customer}>\r\nTo: {employee}\r\nCc: support@example.com\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n\r\n{body}"
            )
        } else if roll < 70 {
            // An employee's reply, threaded by In-Reply-To.
            let (customer, employee, first, last, subject) = self.threads[pick].clone();
            let id = format!("r{n}@example.com");
            self.threads[pick].3 = id.clone();
            format!(
                "{trace}From: Agent <{employee}>\r\nTo: {customer}\r\nSubject: Re: {subject}\r\nDate: {date}\r\nIn-Reply-To: <{last}>\r\nReferences: <{first}> <{last}>\r\nMessage-ID: <{id}>\r\n\r\n{body}"
            )
        } else if roll < 90 {
            // The customer's follow-up, with only References.
            let (customer, employee, first, last, subject) = self.threads[pick].clone();
            let id = format!("f{n}@customer.test");
            self.threads[pick].3 = id.clone();
            format!(
                "{trace}From: {customer}\r\nTo: {employee}\r\nSubject: Re: {subject}\r\nDate: {date}\r\nReferences: <{first}> <{last}>\r\nMessage-ID: <{id}>\r\n\r\n{body}"
            )
        } else if roll < 94 {
            // An internal forward to a colleague.
            let (_, employee, _, last, subject) = self.threads[pick].clone();
            let colleague = self.employee();
            let id = format!("w{n}@example.com");
            format!(
                "{trace}From: {employee}\r\nTo: {colleague}\r\nSubject: Fwd: {subject}\r\nDate: {date}\r\nReferences: <{last}>\r\nMessage-ID: <{id}>\r\n\r\n{body}"
            )
        } else if roll < 97 {
            // An out-of-office reply.
            let (customer, employee, _, last, subject) = self.threads[pick].clone();
            format!(
                "{trace}From: {customer}\r\nTo: {employee}\r\nSubject: Automatic reply: {subject}\r\nAuto-Submitted: auto-replied\r\nDate: {date}\r\nIn-Reply-To: <{last}>\r\nMessage-ID: <o{n}@customer.test>\r\n\r\nI am away.\r\n"
            )
        } else {
            // Internal chatter.
            let a = self.employee();
            let b = self.employee();
            format!(
                "{trace}From: {a}\r\nTo: {b}\r\nSubject: lunch {n}\r\nDate: {date}\r\nMessage-ID: <l{n}@example.com>\r\n\r\n{body}"
            )
        };
        mail.into_bytes()
    }

    /// `n` messages.
    pub fn take(&mut self, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| self.next_mail()).collect()
    }
}

/// The configuration the benchmarks track with.
pub fn rules() -> TrackingRules {
    let c = Config {
        local_domains: vec!["example.com".into()],
        timezone: "UTC".into(),
        ..Config::default()
    };
    c.tracking_rules()
        .unwrap_or_else(|e| panic!("benchmark rules: {e}"))
}

/// Registers the generated employees in `store`.
pub async fn add_employees(store: &Arc<dyn Store>) {
    for i in 0..EMPLOYEES {
        let email = format!("agent{i}@example.com")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .put_user(&User::new(email, format!("Agent {i}")))
            .await
            .unwrap_or_else(|e| panic!("adding a user: {e}"));
    }
}

/// A store of a million DRs (or `ETRAQ_BENCH_DRS`), built once and reused by the escalation and
/// console benchmarks: DR `i` belongs to `agent{i % 40}@example.com`, its customer is at
/// `customer{i % 1000}.test`, and it is open, waiting since 5 h before its due slice (1 % of the
/// DRs fall due per minute after [`million::t0`]).
pub mod million {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use etraq_core::store::{ChangeSet, DrWrite};
    use etraq_core::{Decision, Direction, Dr, DrId, DrStatus, MailRecord, MailType, Store, User};
    use etraq_store_sqlite::SqliteStore;
    use jiff::{SignedDuration, Timestamp};

    pub const H: i64 = 3600;
    pub const SLICES: u64 = 100;

    pub fn t0() -> Timestamp {
        "2026-11-27T00:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn plus(t: Timestamp, secs: i64) -> Timestamp {
        t.checked_add(SignedDuration::from_secs(secs))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// DR `i`: open, waiting since 5 h before its slice's time, so the cycle of that slice warns.
    pub fn dr(i: u64, n: u64) -> Dr {
        let slice = (i * SLICES / n) as i64;
        let due = plus(t0(), slice * 60);
        let owner: etraq_core::EmailAddress = format!("agent{}@example.com", i % 40)
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let customer: etraq_core::EmailAddress = format!("c{i}@customer{}.test", i % 1000)
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        Dr {
            id: DrId::new("SUPP", jiff::civil::date(2026, 11, 27), i + 1)
                .unwrap_or_else(|e| panic!("{e}")),
            owner,
            cc_users: vec![],
            customer: customer.clone(),
            participants: vec![],
            subject: format!("question {i}"),
            status: DrStatus::Open,
            assigned_on: plus(due, -5 * H),
            first_response_at: None,
            awaiting_since: Some(plus(due, -5 * H)),
            last_activity: plus(due, -5 * H),
            escalation_level: 0,
            last_sender: customer,
            last_recipient: None,
            last_mail_type: MailType::Normal,
            last_customer_at: Some(plus(due, -5 * H)),
            warned_at: None,
            remind_at: None,
            due_at: Some(due),
            version: 1,
        }
    }

    pub async fn populate(store: &Arc<dyn Store>, n: u64) {
        if store
            .get_dr(&dr(n - 1, n).id)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            return;
        }
        for i in 0..40 {
            let u = User::new(
                format!("agent{i}@example.com")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
                "agent",
            );
            store.put_user(&u).await.unwrap_or_else(|e| panic!("{e}"));
        }
        let mut i = 0;
        while i < n {
            let end = (i + 5000).min(n);
            let batch = (i..end)
                .map(|k| {
                    let d = dr(k, n);
                    ChangeSet {
                        mail: MailRecord {
                            seq: 0,
                            message_id: etraq_core::MessageId::parse(&format!(
                                "b{k}@customer.test"
                            ))
                            .unwrap_or_else(|| unreachable!()),
                            derived_message_id: false,
                            direction: Direction::Inbound,
                            mail_from: Some(d.customer.clone()),
                            rcpt_to: vec![d.owner.clone()],
                            sender: Some(d.customer.clone()),
                            sender_name: None,
                            to: vec![d.owner.clone()],
                            cc: vec![],
                            subject: d.subject.clone(),
                            received_at: d.assigned_on,
                            sent_at: None,
                            decision: Decision::Tracked {
                                mail_type: MailType::Normal,
                            },
                            dr: Some(d.id.clone()),
                            parties: vec![d.customer.clone()],
                            size: 100,
                        },
                        raw: Arc::new(b"Subject: x\r\n\r\nx".to_vec()),
                        index_message_id: true,
                        dr: Some(DrWrite {
                            dr: d,
                            expected_version: 0,
                        }),
                        link: vec![],
                        response: None,
                        pending: None,
                        queue: Vec::new(),
                    }
                })
                .collect();
            store
                .apply_batch(batch)
                .await
                .unwrap_or_else(|e| panic!("populate: {e}"));
            i = end;
            if i % 100_000 == 0 {
                eprintln!("  populated {i}/{n} DRs");
            }
        }
    }

    /// The layout version of the cached store: bump it when the schema changes, so an old
    /// cache is rebuilt instead of misread.
    const LAYOUT: u32 = 3;

    /// Builds (once) the pristine store of `n` DRs under `dir` and returns a fresh copy of it
    /// named for `purpose`, so a benchmark that writes never spoils the cache.
    pub fn working_copy(
        rt: &tokio::runtime::Runtime,
        dir: &Path,
        n: u64,
        purpose: &str,
    ) -> PathBuf {
        let dir = dir.join(format!("drs-{n}-v{LAYOUT}"));
        let pristine = dir.join("pristine.db");
        let work = dir.join(format!("{purpose}.db"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let store: Arc<dyn Store> = Arc::new(
                SqliteStore::open(&pristine)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            populate(&store, n).await;
            store.close().await.unwrap_or_else(|e| panic!("{e}"));
        });
        for ext in ["db-wal", "db-shm"] {
            let _ = std::fs::remove_file(work.with_extension(ext));
        }
        std::fs::copy(&pristine, &work).unwrap_or_else(|e| panic!("{e}"));
        work
    }
}
