//! Generators for the etraq benchmarks: realistic, deterministic mail traffic.
//!
//! [`Traffic`] produces a stream of conversations between customers and a support team: new
//! customer mails, employee replies that thread by In-Reply-To and by subject tag, customer
//! follow-ups that only carry References, internal forwards, auto-replies and internal chatter,
//! each 2–4 KB like real mail. The same seed always produces the same bytes.

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

const WORDS: &[&str] = &[
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
