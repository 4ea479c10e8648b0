//! A validation run: group addresses by domain, ask DNS once per domain, probe each domain in
//! sessions of up to `per_domain` addresses with a cap per mail exchanger, fall back to the next
//! MX only when one cannot be reached, and check greylisted addresses again later.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etraq_core::validate::{
    CheckResult, Dns, DnsFailure, Exclusions, MiscResult, MxFacts, ProbeSession, Reachable, Reply,
    SmtpFacts, SmtpProbe, Syntax, check_syntax, is_disposable, is_role_account, mx_facts, verdict,
};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

/// How a run behaves (`[validator]` and the flags).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// SMTP sessions in flight at once across all domains.
    pub threads: usize,
    /// Addresses asked in one session.
    pub per_domain: usize,
    /// Sessions in flight to one mail exchanger address at once.
    pub per_mx: usize,
    /// Ask only the most preferred MX.
    pub top_mx_only: bool,
    /// The SMTP port of the mail exchangers (25; tests use another).
    pub smtp_port: u16,
    /// Probe over SMTP at all (off: syntax and DNS only).
    pub smtp: bool,
    /// Accept quoted local parts.
    pub allow_quoted: bool,
    /// Check deferred (4xx) addresses again after this long, once.
    pub recheck_after: Option<Duration>,
    /// Addresses never probed.
    pub exclusions: Exclusions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: 8,
            per_domain: 20,
            per_mx: 2,
            top_mx_only: false,
            smtp_port: 25,
            smtp: true,
            allow_quoted: false,
            recheck_after: None,
            exclusions: Exclusions::default(),
        }
    }
}

/// Counts per verdict, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Addresses per verdict.
    pub by_verdict: BTreeMap<Reachable, u64>,
    /// Of the unknown, how many stayed deferred.
    pub deferred: u64,
    /// Addresses skipped by the exclusions.
    pub excluded: u64,
    /// SMTP sessions opened (connections that got a greeting or not).
    pub sessions: u64,
}

/// Host → its addresses (or why DNS gave none), shared by all domains of a run.
type IpCache = Arc<Mutex<HashMap<String, Result<Vec<IpAddr>, DnsFailure>>>>;

/// One address on its way through the run.
#[derive(Clone)]
struct Item {
    input: String,
    syntax: Syntax,
    misc: MiscResult,
}

/// The validator: DNS and SMTP behind traits so tests and benchmarks can use local servers.
pub struct Validator<D, P> {
    /// DNS, probe, options and the DNS caches; each run gets fresh semaphores and counters.
    base: Shared<D, P>,
}

impl<D: Dns + 'static, P: SmtpProbe + 'static> Validator<D, P> {
    /// A validator over `dns` and `probe`.
    pub fn new(dns: Arc<D>, probe: Arc<P>, opts: RunOptions) -> Self {
        let sessions = Arc::new(Semaphore::new(opts.threads.max(1)));
        Validator {
            base: Shared {
                dns,
                probe,
                opts,
                mx_cache: Arc::default(),
                ip_cache: Arc::default(),
                sessions,
                per_mx: Arc::default(),
                session_count: Arc::default(),
            },
        }
    }

    /// The state of one run: the shared caches, fresh limits and counters.
    fn shared(&self) -> Shared<D, P> {
        Shared {
            sessions: Arc::new(Semaphore::new(self.base.opts.threads.max(1))),
            per_mx: Arc::default(),
            session_count: Arc::default(),
            ..self.base.clone()
        }
    }

    /// Before a run: can we reach port `smtp_port` of any mail exchanger at all? Tries the MX
    /// hosts of the first domains (up to three addresses). `Err` says, once and clearly, that
    /// outbound SMTP looks blocked; `Ok` when a connection succeeded or there was nothing to
    /// try.
    pub async fn preflight(
        &self,
        inputs: &[String],
        connect_timeout: Duration,
    ) -> Result<(), String> {
        if !self.base.opts.smtp {
            return Ok(());
        }
        let shared = self.shared();
        let mut domains: Vec<String> = Vec::new();
        for input in inputs {
            let s = check_syntax(input, self.base.opts.allow_quoted);
            if s.is_valid_syntax && !domains.contains(&s.domain) {
                domains.push(s.domain);
            }
            if domains.len() >= 10 {
                break;
            }
        }
        let mut tried: Vec<(SocketAddr, String)> = Vec::new();
        for domain in &domains {
            let MxFacts::Hosts(hosts) = shared.mx(domain).await else {
                continue;
            };
            for host in hosts.iter().take(1) {
                if let Ok(ips) = shared.ips(host).await
                    && let Some(ip) = ips.first()
                {
                    let target = SocketAddr::new(*ip, self.base.opts.smtp_port);
                    if tried.iter().any(|(t, _)| *t == target) {
                        continue;
                    }
                    match tokio::time::timeout(
                        connect_timeout,
                        tokio::net::TcpStream::connect(target),
                    )
                    .await
                    {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(e)) => tried.push((target, e.to_string())),
                        Err(_) => tried.push((target, "timeout".into())),
                    }
                }
            }
            if tried.len() >= 3 {
                break;
            }
        }
        if tried.is_empty() {
            return Ok(());
        }
        let detail: Vec<String> = tried.iter().map(|(t, e)| format!("{t} ({e})")).collect();
        Err(format!(
            "outbound SMTP to port {} looks blocked: no mail exchanger could be reached ({}). \
             Every address would come out \"unknown\". Run from a host that may connect to port {}, \
             or use --no-smtp to check syntax and DNS only.",
            self.base.opts.smtp_port,
            detail.join(", "),
            self.base.opts.smtp_port
        ))
    }

    /// Validates `inputs`. Results come to `on_result` as they are final (in no particular
    /// order; `CheckResult::input` says which). Deferred addresses are held back and asked again
    /// after `recheck_after`, if set.
    pub async fn run(
        &self,
        inputs: Vec<String>,
        mut on_result: impl FnMut(CheckResult),
    ) -> Summary {
        let shared = self.shared();
        let mut summary = Summary::default();
        let mut by_domain: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        let mut emit = |r: CheckResult, summary: &mut Summary| {
            *summary.by_verdict.entry(r.is_reachable).or_default() += 1;
            if r.deferred {
                summary.deferred += 1;
            }
            on_result(r);
        };
        for input in inputs {
            let syntax = check_syntax(&input, self.base.opts.allow_quoted);
            let misc = MiscResult {
                is_disposable: syntax.is_valid_syntax && is_disposable(&syntax.domain),
                is_role_account: syntax.is_valid_syntax && is_role_account(&syntax.username),
            };
            if !syntax.is_valid_syntax {
                let r = verdict(
                    &input,
                    syntax,
                    misc,
                    &MxFacts::Hosts(vec![]),
                    &not_checked(""),
                );
                emit(r, &mut summary);
                continue;
            }
            if let Some(why) = syntax
                .address
                .as_deref()
                .and_then(|a| self.base.opts.exclusions.why(a))
            {
                summary.excluded += 1;
                let mut r = verdict(
                    &input,
                    syntax,
                    misc,
                    &MxFacts::Hosts(vec![]),
                    &not_checked(""),
                );
                r.is_reachable = Reachable::Invalid;
                r.reason = format!("{why}: not probed, not to be mailed");
                emit(r, &mut summary);
                continue;
            }
            by_domain
                .entry(syntax.domain.clone())
                .or_default()
                .push(Item {
                    input,
                    syntax,
                    misc,
                });
        }

        let mut pending: Vec<(String, Vec<Item>)> = by_domain.into_iter().collect();
        let mut rechecked = false;
        loop {
            let (tx, mut rx) = mpsc::unbounded_channel::<(Item, CheckResult)>();
            let mut tasks = JoinSet::new();
            for (domain, items) in std::mem::take(&mut pending) {
                let (shared, tx) = (shared.clone(), tx.clone());
                tasks.spawn(async move { shared.domain(domain, items, tx).await });
            }
            drop(tx);
            let mut deferred: BTreeMap<String, Vec<Item>> = BTreeMap::new();
            while let Some((item, r)) = rx.recv().await {
                if r.deferred && !rechecked && self.base.opts.recheck_after.is_some() {
                    deferred
                        .entry(item.syntax.domain.clone())
                        .or_default()
                        .push(item);
                } else {
                    emit(r, &mut summary);
                }
            }
            while tasks.join_next().await.is_some() {}
            match self.base.opts.recheck_after {
                Some(wait) if !deferred.is_empty() && !rechecked => {
                    tracing::info!(
                        count = deferred.values().map(Vec::len).sum::<usize>(),
                        ?wait,
                        "rechecking deferred addresses"
                    );
                    tokio::time::sleep(wait).await;
                    pending = deferred.into_iter().collect();
                    rechecked = true;
                }
                _ => break,
            }
        }
        summary.sessions = shared.session_count.lock().map(|n| *n).unwrap_or(0);
        summary
    }
}

fn not_checked(why: &str) -> SmtpFacts {
    SmtpFacts::NotChecked(why.to_string())
}

/// What the domain tasks share.
struct Shared<D, P> {
    dns: Arc<D>,
    probe: Arc<P>,
    opts: RunOptions,
    mx_cache: Arc<Mutex<HashMap<String, MxFacts>>>,
    ip_cache: IpCache,
    sessions: Arc<Semaphore>,
    per_mx: Arc<Mutex<HashMap<SocketAddr, Arc<Semaphore>>>>,
    session_count: Arc<Mutex<u64>>,
}

impl<D, P> Clone for Shared<D, P> {
    fn clone(&self) -> Self {
        Shared {
            dns: self.dns.clone(),
            probe: self.probe.clone(),
            opts: self.opts.clone(),
            mx_cache: self.mx_cache.clone(),
            ip_cache: self.ip_cache.clone(),
            sessions: self.sessions.clone(),
            per_mx: self.per_mx.clone(),
            session_count: self.session_count.clone(),
        }
    }
}

/// A random local part for the catch-all probe, so no real mailbox is hit by accident.
fn random_local() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("etraq-probe-{:016x}", h.finish())
}

impl<D: Dns + 'static, P: SmtpProbe + 'static> Shared<D, P> {
    async fn mx(&self, domain: &str) -> MxFacts {
        if let Some(f) = self
            .mx_cache
            .lock()
            .ok()
            .and_then(|c| c.get(domain).cloned())
        {
            return f;
        }
        let answer = self.dns.mx(domain).await;
        let needs_a = matches!(&answer, Ok(v) if v.is_empty())
            || matches!(answer, Err(DnsFailure::NoRecords));
        let has_address = if needs_a {
            match self.ips(domain).await {
                Ok(ips) => Some(!ips.is_empty()),
                Err(DnsFailure::NoRecords | DnsFailure::NxDomain) => Some(false),
                Err(_) => None,
            }
        } else {
            None
        };
        let facts = mx_facts(domain, answer, has_address);
        if let Ok(mut c) = self.mx_cache.lock() {
            c.insert(domain.to_string(), facts.clone());
        }
        facts
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        if let Some(r) = self.ip_cache.lock().ok().and_then(|c| c.get(host).cloned()) {
            return r;
        }
        let r = self.dns.ips(host).await;
        if let Ok(mut c) = self.ip_cache.lock() {
            c.insert(host.to_string(), r.clone());
        }
        r
    }

    fn mx_gate(&self, target: SocketAddr) -> Arc<Semaphore> {
        match self.per_mx.lock() {
            Ok(mut m) => m
                .entry(target)
                .or_insert_with(|| Arc::new(Semaphore::new(self.opts.per_mx.max(1))))
                .clone(),
            Err(_) => Arc::new(Semaphore::new(1)),
        }
    }

    /// Every address of one domain: DNS once, then sessions of `per_domain` addresses.
    async fn domain(
        &self,
        domain: String,
        items: Vec<Item>,
        tx: mpsc::UnboundedSender<(Item, CheckResult)>,
    ) {
        let facts = self.mx(&domain).await;
        let hosts = match &facts {
            MxFacts::Hosts(h) if self.opts.smtp => h.clone(),
            _ => {
                // Either DNS decided already, or SMTP checks are off: no session.
                let why = if matches!(facts, MxFacts::Hosts(_)) {
                    "SMTP not checked (--no-smtp)"
                } else {
                    ""
                };
                for item in items {
                    let r = verdict(
                        &item.input,
                        item.syntax.clone(),
                        item.misc.clone(),
                        &facts,
                        &not_checked(why),
                    );
                    let _ = tx.send((item, r));
                }
                return;
            }
        };
        let hosts: Vec<String> = if self.opts.top_mx_only {
            hosts.into_iter().take(1).collect()
        } else {
            hosts
        };
        let chunks: Vec<Vec<Item>> = items
            .chunks(self.opts.per_domain.max(1))
            .map(<[Item]>::to_vec)
            .collect();
        // The first session asks the random-address question; the others wait for its answer
        // so the whole domain shares it.
        let mut chunks = chunks.into_iter();
        let Some(first) = chunks.next() else { return };
        let catch_all_local = random_local();
        let (session, catch_all) = self
            .session(&domain, &hosts, Some(&catch_all_local), &first)
            .await;
        self.report(&facts, first, &session, catch_all, &tx);
        let mut rest = JoinSet::new();
        for chunk in chunks {
            let (this, domain, hosts, facts, tx) = (
                self.clone(),
                domain.clone(),
                hosts.clone(),
                facts.clone(),
                tx.clone(),
            );
            rest.spawn(async move {
                let (session, _) = this.session(&domain, &hosts, None, &chunk).await;
                this.report(&facts, chunk, &session, catch_all, &tx);
            });
        }
        while rest.join_next().await.is_some() {}
    }

    fn report(
        &self,
        facts: &MxFacts,
        items: Vec<Item>,
        session: &Result<ProbeSession, String>,
        catch_all: Option<bool>,
        tx: &mpsc::UnboundedSender<(Item, CheckResult)>,
    ) {
        for (i, item) in items.into_iter().enumerate() {
            let smtp = match session {
                Err(why) => SmtpFacts::NoConnection(why.clone()),
                Ok(s) => SmtpFacts::Session {
                    catch_all,
                    rcpt: s.rcpt.get(i).cloned().flatten(),
                    error: s.error.clone(),
                    smtputf8: s.smtputf8,
                },
            };
            let r = verdict(
                &item.input,
                item.syntax.clone(),
                item.misc.clone(),
                facts,
                &smtp,
            );
            let _ = tx.send((item, r));
        }
    }

    /// One session for `items`, trying the MX hosts in order until one answers. Moves on only
    /// when a host cannot be reached or does not greet, never on a 5xx.
    async fn session(
        &self,
        domain: &str,
        hosts: &[String],
        catch_all_local: Option<&str>,
        items: &[Item],
    ) -> (Result<ProbeSession, String>, Option<bool>) {
        let addresses: Vec<String> = items
            .iter()
            .map(|i| i.syntax.address.clone().unwrap_or_else(|| i.input.clone()))
            .collect();
        let mut errors = Vec::new();
        for host in hosts {
            let ips = match self.ips(host).await {
                Ok(ips) if !ips.is_empty() => ips,
                Ok(_) | Err(DnsFailure::NoRecords | DnsFailure::NxDomain) => {
                    errors.push(format!("{host}: no address"));
                    continue;
                }
                Err(e) => {
                    errors.push(format!("{host}: DNS {e:?}"));
                    continue;
                }
            };
            for ip in ips {
                let target = SocketAddr::new(ip, self.opts.smtp_port);
                let gate = self.mx_gate(target);
                let Ok(_mx_permit) = gate.acquire_owned().await else {
                    continue;
                };
                let Ok(_permit) = self.sessions.clone().acquire_owned().await else {
                    continue;
                };
                if let Ok(mut n) = self.session_count.lock() {
                    *n += 1;
                }
                let session = self
                    .probe
                    .session(target, domain, catch_all_local, &addresses)
                    .await;
                if session.connected {
                    let catch_all = session.catch_all.as_ref().and_then(catch_all_answer);
                    let session = self.resume(target, domain, &addresses, session).await;
                    return (Ok(session), catch_all);
                }
                errors.push(format!(
                    "{host}: {}",
                    session.error.unwrap_or_else(|| "no greeting".into())
                ));
            }
        }
        (Err(errors.join("; ")), None)
    }

    /// A server that closes sessions with 421 after some recipients (a per-connection limit)
    /// gets the unanswered addresses in new sessions, as long as each one makes progress.
    async fn resume(
        &self,
        target: SocketAddr,
        domain: &str,
        addresses: &[String],
        mut session: ProbeSession,
    ) -> ProbeSession {
        while session.closed_by_server {
            let missing: Vec<usize> = (0..addresses.len())
                .filter(|&i| session.rcpt.get(i).is_none_or(Option::is_none))
                .collect();
            if missing.is_empty() {
                break;
            }
            let rest: Vec<String> = missing.iter().map(|&i| addresses[i].clone()).collect();
            let gate = self.mx_gate(target);
            let (Ok(_mx), Ok(_permit)) = (
                gate.acquire_owned().await,
                self.sessions.clone().acquire_owned().await,
            ) else {
                break;
            };
            if let Ok(mut n) = self.session_count.lock() {
                *n += 1;
            }
            let more = self.probe.session(target, domain, None, &rest).await;
            let progressed = more.rcpt.iter().any(Option::is_some);
            for (k, &i) in missing.iter().enumerate() {
                if let Some(r) = more.rcpt.get(k).cloned().flatten() {
                    session.rcpt[i] = Some(r);
                }
            }
            session.error = more.error;
            session.closed_by_server = more.closed_by_server && progressed;
        }
        session
    }
}

/// The random address accepted → catch-all; refused as a bad mailbox → not; anything else
/// (policy, deferral) → unknown.
fn catch_all_answer(reply: &Reply) -> Option<bool> {
    use etraq_core::validate::{RcptClass, classify_rcpt};
    match classify_rcpt(reply) {
        RcptClass::Accepted => Some(true),
        RcptClass::NoMailbox | RcptClass::Disabled => Some(false),
        _ => None,
    }
}
