//! The crawl policy as a sans-IO state machine: which URL to fetch next, when, and what each
//! answer means.
//!
//! [`Frontier`] owns everything a polite, bounded crawl decides: the seen set, link depth, the
//! per-site page budget, the number of sites, following external sites or not, excluded path
//! suffixes, robots.txt (with its `Crawl-delay`, parsed by `robotxt`), the per-site delay, retries with backoff on
//! 429/5xx/timeouts, and per-site counts of what went wrong. It never sleeps or does I/O; the
//! driver asks [`Frontier::next`] with the current time (a [`Duration`] since the crawl began)
//! and reports each result to [`Frontier::complete`]. That keeps every rule testable without a
//! network or a clock.
//!
//! A *site* is a host and port (`shop.example:443`): the unit of politeness, of the link budget
//! and of `max_sites`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use robotxt::Robots;
use serde::Serialize;
use url::Url;

use super::fetch::{FailureKind, FetchFailure, FetchKind, Response};
use super::find::PageFindings;
use crate::config::ExtractorConfig;

/// The longest `Crawl-delay` honoured; a site asking for more is crawled at this pace.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(60);
/// The longest `Retry-After` waited for; beyond it the page is given up as rate-limited.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// robots.txt bodies beyond this are cut (Google reads 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;

/// The rules of one crawl, from `[extractor]` and the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct CrawlPolicy {
    /// Link depth from the seeds (a seed is depth 0).
    pub depth: u32,
    /// Pages fetched per site at most (0: unlimited).
    pub links_per_site: usize,
    /// Sites visited at most, seeds included (0: unlimited).
    pub max_sites: usize,
    /// Follow links to sites other than the seeds'.
    pub follow_external: bool,
    /// Lower-case path suffixes never fetched (`.pdf`, `.jpg`).
    pub exclude_ext: Vec<String>,
    /// Obey robots.txt.
    pub robots: bool,
    /// The product token matched against robots.txt `User-agent` lines.
    pub robots_agent: String,
    /// Pause between two requests to one site.
    pub delay: Duration,
    /// Retries of one URL after a 429, a 5xx, a timeout or a connection failure.
    pub retries: u32,
    /// First backoff when no `Retry-After` says otherwise; doubles each retry.
    pub retry_base: Duration,
    /// Requests in flight to one site when `delay` is zero and robots.txt sets no Crawl-delay.
    /// With a delay, one request at a time.
    pub parallel_per_site: usize,
}

impl CrawlPolicy {
    /// The policy `[extractor]` describes.
    pub fn from_config(config: &ExtractorConfig) -> Self {
        CrawlPolicy {
            depth: config.depth,
            links_per_site: config.links_per_domain,
            max_sites: config.max_sites,
            follow_external: config.follow_external,
            exclude_ext: normalize_extensions(&config.exclude_ext),
            robots: !config.no_robots,
            robots_agent: "etraq".to_string(),
            delay: Duration::from_millis(config.delay),
            retries: config.retries,
            retry_base: Duration::from_secs(1),
            parallel_per_site: config.threads.max(1),
        }
    }

    /// Whether `url`'s path ends with an excluded extension.
    pub fn is_excluded(&self, url: &Url) -> bool {
        let path = url.path().to_ascii_lowercase();
        self.exclude_ext
            .iter()
            .any(|ext| path.ends_with(ext.as_str()))
    }
}

/// `pdf`, `.PDF`, ` .pdf ` → `.pdf`; empty entries dropped.
pub fn normalize_extensions(exts: &[String]) -> Vec<String> {
    exts.iter()
        .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .map(|e| format!(".{e}"))
        .collect()
}

/// The site key of a URL: `host:port`.
pub fn site_of(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(format!("{}:{port}", host.to_ascii_lowercase()))
}

/// One fetch the driver should make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// What to fetch.
    pub url: Url,
    /// robots.txt or a page.
    pub kind: FetchKind,
    /// Link depth (0 for a seed).
    pub depth: u32,
    /// Retries already made.
    pub attempt: u32,
    site: usize,
}

/// What the driver should do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Fetch this.
    Fetch(Job),
    /// Nothing is ready before this time; ask again then (or when a fetch completes).
    Wait(Duration),
    /// Nothing is ready until a fetch in flight completes.
    Idle,
    /// The crawl is over.
    Done,
}

/// What the driver learnt from one fetch: an answer with the page's findings (found by the
/// driver with [`find_in_html`](super::find_in_html) off the policy's thread), or a failure.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// An HTTP answer. `findings` is `Some` for a 2xx page of a readable content type.
    Answer {
        /// Status, final URL, headers and (for robots.txt) the body.
        response: Response,
        /// Addresses and links of a readable 2xx page.
        findings: Option<PageFindings>,
    },
    /// No answer.
    Failed(FetchFailure),
}

/// An address and where it was found, as the CLI reports it (`--json` field names are the
/// contract).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FoundAddress {
    /// The normalised address.
    pub address: String,
    /// The page it was first seen on.
    pub source_url: String,
    /// On how many pages it was seen.
    pub count: u64,
}

/// How a site's crawl went, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteVerdict {
    /// At least one address found.
    Found,
    /// Pages were read and held no address.
    NothingFound,
    /// robots.txt or the server (401/403) refused every page tried.
    Blocked,
    /// The server kept answering 429 (or 503 with Retry-After) and pages were given up.
    RateLimited,
    /// No page could be fetched at all: DNS, connection, TLS, timeouts.
    Unreachable,
}

impl SiteVerdict {
    /// The words the summary prints.
    pub fn label(self) -> &'static str {
        match self {
            SiteVerdict::Found => "found",
            SiteVerdict::NothingFound => "nothing found",
            SiteVerdict::Blocked => "blocked",
            SiteVerdict::RateLimited => "rate-limited",
            SiteVerdict::Unreachable => "unreachable",
        }
    }
}

/// Per-site counts: the honest answer to "why did it find nothing?".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SiteReport {
    /// `host:port`.
    pub site: String,
    /// Pages read (2xx, readable content type).
    pub pages_fetched: u64,
    /// Addresses first found on this site.
    pub addresses: u64,
    /// Pages robots.txt forbade.
    pub robots_disallowed: u64,
    /// Whether robots.txt could not be read (5xx or 429 to the end): every page is then
    /// refused, as RFC 9309 asks.
    pub robots_unreachable: bool,
    /// 401 and 403 answers.
    pub forbidden: u64,
    /// 429 answers (each retry counts).
    pub rate_limited: u64,
    /// Pages given up after 429s.
    pub gave_up_rate_limited: u64,
    /// 5xx answers (each retry counts).
    pub server_errors: u64,
    /// 404 and 410 answers.
    pub not_found: u64,
    /// Other non-2xx answers.
    pub other_status: u64,
    /// 2xx answers of a content type that is not HTML or text.
    pub not_html: u64,
    /// Links skipped for an excluded extension.
    pub excluded: u64,
    /// Links skipped because the site's page budget was spent.
    pub over_budget: u64,
    /// Failures without an answer, by kind (each retry counts).
    pub failures: Vec<(FailureKind, u64)>,
}

impl SiteReport {
    /// Total failures without an answer.
    pub fn failure_count(&self) -> u64 {
        self.failures.iter().map(|(_, n)| n).sum()
    }

    /// The one-word verdict.
    pub fn verdict(&self) -> SiteVerdict {
        if self.addresses > 0 {
            SiteVerdict::Found
        } else if self.pages_fetched > 0 {
            if self.gave_up_rate_limited > 0 {
                SiteVerdict::RateLimited
            } else {
                SiteVerdict::NothingFound
            }
        } else if self.robots_disallowed > 0 || self.robots_unreachable || self.forbidden > 0 {
            SiteVerdict::Blocked
        } else if self.gave_up_rate_limited > 0 || self.rate_limited > 0 {
            SiteVerdict::RateLimited
        } else if self.failure_count() > 0 {
            SiteVerdict::Unreachable
        } else {
            SiteVerdict::NothingFound
        }
    }

    fn count_failure(&mut self, kind: FailureKind) {
        match self.failures.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => {
                self.failures.push((kind, 1));
                self.failures.sort();
            }
        }
    }
}

/// The result of a crawl.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CrawlReport {
    /// Every address found, in the order found.
    pub addresses: Vec<FoundAddress>,
    /// Every site touched, in the order first met.
    pub sites: Vec<SiteReport>,
    /// Seeds that are not usable URLs, with the reason.
    pub invalid_seeds: Vec<(String, String)>,
    /// Pages read across all sites.
    pub pages_fetched: u64,
    /// Whether the crawl was stopped before it ran out of work.
    pub interrupted: bool,
}

/// Counters for a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Pages read.
    pub fetched: u64,
    /// Pages waiting in queues.
    pub queued: u64,
    /// Distinct addresses found.
    pub addresses: u64,
}

enum RobotsState {
    /// Not asked yet.
    Unknown,
    /// The robots.txt fetch is in flight (or waiting to be retried).
    Fetching,
    /// Known: `None` allows everything.
    Ready(Option<Robots>),
    /// robots.txt could not be read: nothing may be fetched.
    Unreachable,
}

struct Site {
    report: SiteReport,
    robots: RobotsState,
    queue: VecDeque<Job>,
    in_flight: usize,
    next_at: Duration,
    delay: Duration,
    admitted: usize,
    /// Retries of robots.txt made so far.
    robots_attempts: u32,
    /// The site answered nothing (DNS/TLS): drop its queue.
    dead: bool,
}

/// The sans-IO crawl state. See the module documentation.
pub struct Frontier {
    policy: CrawlPolicy,
    sites: Vec<Site>,
    by_key: HashMap<String, usize>,
    seed_sites: HashSet<usize>,
    seen: HashSet<String>,
    addresses: Vec<FoundAddress>,
    by_address: HashMap<String, usize>,
    invalid_seeds: Vec<(String, String)>,
    in_flight: usize,
    cursor: usize,
    pages_fetched: u64,
    queued: u64,
}

impl Frontier {
    /// A crawl of `seeds` (as typed: a bare `host/path` gets `http://`). Unusable seeds are
    /// recorded in the report, never fatal.
    pub fn new(policy: CrawlPolicy, seeds: &[String]) -> Self {
        let mut f = Frontier {
            policy,
            sites: Vec::new(),
            by_key: HashMap::new(),
            seed_sites: HashSet::new(),
            seen: HashSet::new(),
            addresses: Vec::new(),
            by_address: HashMap::new(),
            invalid_seeds: Vec::new(),
            in_flight: 0,
            cursor: 0,
            pages_fetched: 0,
            queued: 0,
        };
        for seed in seeds {
            match parse_seed(seed) {
                Ok(url) => {
                    let Some(key) = site_of(&url) else {
                        f.invalid_seeds.push((seed.clone(), "no host".into()));
                        continue;
                    };
                    let site = f.site_index(key);
                    f.seed_sites.insert(site);
                    f.admit(site, url, 0);
                }
                Err(why) => f.invalid_seeds.push((seed.clone(), why)),
            }
        }
        f
    }

    /// Every address found so far, in the order found.
    pub fn found(&self) -> &[FoundAddress] {
        &self.addresses
    }

    /// Counters for a progress bar.
    pub fn progress(&self) -> Progress {
        Progress {
            fetched: self.pages_fetched,
            queued: self.queued,
            addresses: self.addresses.len() as u64,
        }
    }

    /// Whether any usable seed was given.
    pub fn has_work(&self) -> bool {
        !self.sites.is_empty()
    }

    fn site_index(&mut self, key: String) -> usize {
        if let Some(&i) = self.by_key.get(&key) {
            return i;
        }
        let i = self.sites.len();
        self.sites.push(Site {
            report: SiteReport {
                site: key.clone(),
                ..SiteReport::default()
            },
            robots: if self.policy.robots {
                RobotsState::Unknown
            } else {
                RobotsState::Ready(None)
            },
            queue: VecDeque::new(),
            in_flight: 0,
            next_at: Duration::ZERO,
            delay: self.policy.delay,
            admitted: 0,
            robots_attempts: 0,
            dead: false,
        });
        self.by_key.insert(key, i);
        i
    }

    /// Queues a page if it is new and within the site's budget.
    fn admit(&mut self, site: usize, url: Url, depth: u32) {
        if !self.seen.insert(url.as_str().to_string()) {
            return;
        }
        let s = &mut self.sites[site];
        if self.policy.links_per_site > 0 && s.admitted >= self.policy.links_per_site {
            s.report.over_budget += 1;
            return;
        }
        s.admitted += 1;
        s.queue.push_back(Job {
            url,
            kind: FetchKind::Page,
            depth,
            attempt: 0,
            site,
        });
        self.queued += 1;
    }

    /// The next thing to do at time `now`.
    pub fn next(&mut self, now: Duration) -> Next {
        let n = self.sites.len();
        let mut earliest: Option<Duration> = None;
        for step in 0..n {
            let i = (self.cursor + step) % n;
            if let Some(job) = self.ready_job(i, now, &mut earliest) {
                self.cursor = (i + 1) % n.max(1);
                self.in_flight += 1;
                self.sites[i].in_flight += 1;
                return Next::Fetch(job);
            }
        }
        match earliest {
            Some(t) => Next::Wait(t),
            None if self.in_flight > 0 => Next::Idle,
            None => Next::Done,
        }
    }

    /// A job of site `i` that may start now; otherwise notes when one may.
    fn ready_job(
        &mut self,
        i: usize,
        now: Duration,
        earliest: &mut Option<Duration>,
    ) -> Option<Job> {
        let policy_parallel = self.policy.parallel_per_site.max(1);
        let s = &mut self.sites[i];
        if s.queue.is_empty() || s.dead {
            return None;
        }
        let parallel = if s.delay.is_zero() {
            policy_parallel
        } else {
            1
        };
        let ready_at = s.next_at;
        let wait = |earliest: &mut Option<Duration>| {
            *earliest = Some(earliest.map_or(ready_at, |e: Duration| e.min(ready_at)));
        };
        match &s.robots {
            RobotsState::Unknown => {
                if now < s.next_at {
                    wait(earliest);
                    return None;
                }
                let front = s.queue.front()?;
                let mut robots_url = front.url.clone();
                robots_url.set_path("/robots.txt");
                robots_url.set_query(None);
                s.robots = RobotsState::Fetching;
                return Some(Job {
                    url: robots_url,
                    kind: FetchKind::Robots,
                    depth: 0,
                    attempt: s.robots_attempts,
                    site: i,
                });
            }
            RobotsState::Fetching => return None,
            RobotsState::Unreachable => {
                let dropped = s.queue.len() as u64;
                s.report.robots_disallowed += dropped;
                s.queue.clear();
                self.queued -= dropped;
                return None;
            }
            RobotsState::Ready(_) => {}
        }
        if s.in_flight >= parallel {
            return None;
        }
        if now < s.next_at {
            wait(earliest);
            return None;
        }
        while let Some(job) = s.queue.pop_front() {
            self.queued -= 1;
            let allowed = match &s.robots {
                RobotsState::Ready(Some(robots)) => robots.is_url_allowed(&job.url),
                _ => true,
            };
            if allowed {
                if !s.delay.is_zero() {
                    s.next_at = now + s.delay;
                }
                return Some(job);
            }
            s.report.robots_disallowed += 1;
        }
        None
    }

    /// Records what a fetch of `job` gave, at time `now`: retries, robots rules, addresses,
    /// new links.
    pub fn complete(&mut self, job: Job, outcome: Outcome, now: Duration) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let site = job.site;
        self.sites[site].in_flight = self.sites[site].in_flight.saturating_sub(1);
        match job.kind {
            FetchKind::Robots => self.complete_robots(job, outcome, now),
            FetchKind::Page => self.complete_page(job, outcome, now),
        }
    }

    /// The delay before retry number `attempt + 1`, or `None` when retries are spent or the
    /// server asks for too long.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.policy.retries {
            return None;
        }
        match retry_after {
            Some(d) if d > MAX_RETRY_AFTER => None,
            Some(d) => Some(d),
            None => Some(
                self.policy
                    .retry_base
                    .saturating_mul(1u32 << attempt.min(16))
                    .min(MAX_RETRY_AFTER),
            ),
        }
    }

    /// Puts `job` back at the front of its site's queue after `wait`, slowing the whole site.
    fn retry(&mut self, mut job: Job, wait: Duration, now: Duration) {
        job.attempt += 1;
        let s = &mut self.sites[job.site];
        s.next_at = s.next_at.max(now + wait);
        if job.kind == FetchKind::Robots {
            s.robots = RobotsState::Unknown;
            s.robots_attempts = job.attempt;
        } else {
            s.queue.push_front(job);
            self.queued += 1;
        }
    }

    fn complete_robots(&mut self, job: Job, outcome: Outcome, now: Duration) {
        let site = job.site;
        match outcome {
            Outcome::Answer { response, .. } => {
                let status = response.status;
                if (200..300).contains(&status) {
                    let body = &response.body[..response.body.len().min(MAX_ROBOTS_BYTES)];
                    let robots = Robots::parse(body, self.policy.robots_agent.as_str());
                    let s = &mut self.sites[site];
                    if let Some(delay) = robots.crawl_delay() {
                        s.delay = s.delay.max(delay.min(MAX_CRAWL_DELAY));
                    }
                    s.robots = RobotsState::Ready(Some(robots));
                } else if status == 429 || status >= 500 {
                    if status == 429 {
                        self.sites[site].report.rate_limited += 1;
                    } else {
                        self.sites[site].report.server_errors += 1;
                    }
                    match self.backoff(job.attempt, response.retry_after) {
                        Some(wait) => self.retry(job, wait, now),
                        None => {
                            let s = &mut self.sites[site];
                            s.report.robots_unreachable = true;
                            s.robots = RobotsState::Unreachable;
                        }
                    }
                } else {
                    // 4xx (and odd statuses): no robots.txt, everything is allowed.
                    self.sites[site].robots = RobotsState::Ready(None);
                }
            }
            Outcome::Failed(failure) => {
                self.sites[site].report.count_failure(failure.kind);
                if failure.kind.is_transient()
                    && let Some(wait) = self.backoff(job.attempt, None)
                {
                    self.retry(job, wait, now);
                    return;
                }
                if failure.kind == FailureKind::TooLarge {
                    // An oversized robots.txt is read as far as the cap; a failure here means
                    // the adapter refused it outright: treat as no robots.txt.
                    self.sites[site].robots = RobotsState::Ready(None);
                    return;
                }
                // The site cannot be reached: its pages would fail the same way.
                self.kill_site(site);
            }
        }
    }

    fn kill_site(&mut self, site: usize) {
        let s = &mut self.sites[site];
        s.dead = true;
        self.queued -= s.queue.len() as u64;
        s.queue.clear();
    }

    fn complete_page(&mut self, job: Job, outcome: Outcome, now: Duration) {
        let site = job.site;
        let response = match outcome {
            Outcome::Failed(failure) => {
                self.sites[site].report.count_failure(failure.kind);
                if failure.kind.is_transient()
                    && let Some(wait) = self.backoff(job.attempt, None)
                {
                    self.retry(job, wait, now);
                } else if matches!(failure.kind, FailureKind::Dns | FailureKind::Tls) {
                    self.kill_site(site);
                }
                return;
            }
            Outcome::Answer { response, findings } => match findings {
                Some(findings) => {
                    self.page_read(&job, &response.final_url, findings);
                    return;
                }
                None => response,
            },
        };
        let status = response.status;
        let report = &mut self.sites[site].report;
        match status {
            200..=299 => report.not_html += 1,
            401 | 403 => report.forbidden += 1,
            404 | 410 => report.not_found += 1,
            429 | 500..=599 => {
                if status == 429 {
                    report.rate_limited += 1;
                } else {
                    report.server_errors += 1;
                }
                match self.backoff(job.attempt, response.retry_after) {
                    Some(wait) => self.retry(job, wait, now),
                    None if status == 429 || response.retry_after.is_some() => {
                        self.sites[site].report.gave_up_rate_limited += 1;
                    }
                    None => {}
                }
            }
            _ => report.other_status += 1,
        }
    }

    /// A readable page: record its addresses and queue its links.
    fn page_read(&mut self, job: &Job, final_url: &Url, findings: PageFindings) {
        self.pages_fetched += 1;
        let site = job.site;
        self.sites[site].report.pages_fetched += 1;
        // A redirect's target counts as seen, so it is not fetched again by its own URL.
        self.seen.insert(final_url.as_str().to_string());
        for address in findings.addresses {
            match self.by_address.get(&address) {
                Some(&i) => self.addresses[i].count += 1,
                None => {
                    self.by_address
                        .insert(address.clone(), self.addresses.len());
                    self.addresses.push(FoundAddress {
                        address,
                        source_url: final_url.to_string(),
                        count: 1,
                    });
                    self.sites[site].report.addresses += 1;
                }
            }
        }
        if job.depth >= self.policy.depth {
            return;
        }
        for link in findings.links {
            if self.policy.is_excluded(&link) {
                if self.seen.insert(link.as_str().to_string()) {
                    self.sites[site].report.excluded += 1;
                }
                continue;
            }
            let Some(key) = site_of(&link) else { continue };
            let target = match self.by_key.get(&key) {
                Some(&t) => {
                    if !self.policy.follow_external && !self.seed_sites.contains(&t) {
                        continue;
                    }
                    t
                }
                None => {
                    if !self.policy.follow_external {
                        continue;
                    }
                    if self.policy.max_sites > 0 && self.sites.len() >= self.policy.max_sites {
                        continue;
                    }
                    self.site_index(key)
                }
            };
            self.admit(target, link, job.depth + 1);
        }
    }

    /// The report so far; `interrupted` marks a crawl stopped early.
    pub fn report(&self, interrupted: bool) -> CrawlReport {
        CrawlReport {
            addresses: self.addresses.clone(),
            sites: self.sites.iter().map(|s| s.report.clone()).collect(),
            invalid_seeds: self.invalid_seeds.clone(),
            pages_fetched: self.pages_fetched,
            interrupted,
        }
    }
}

/// A seed as typed → an http(s) URL. `acme.com/contact` becomes `http://acme.com/contact`.
pub fn parse_seed(seed: &str) -> Result<Url, String> {
    let seed = seed.trim();
    if seed.is_empty() {
        return Err("empty".into());
    }
    let with_scheme = if seed.contains("://") {
        seed.to_string()
    } else {
        format!("http://{seed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {} is not http or https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CrawlPolicy {
        CrawlPolicy {
            depth: 3,
            links_per_site: 0,
            max_sites: 0,
            follow_external: false,
            exclude_ext: normalize_extensions(&["PDF".into(), ".jpg".into()]),
            robots: true,
            robots_agent: "etraq".into(),
            delay: Duration::ZERO,
            retries: 2,
            retry_base: Duration::from_secs(1),
            parallel_per_site: 4,
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn answer(job: &Job, status: u16, body: &str) -> Outcome {
        Outcome::Answer {
            response: Response {
                status,
                final_url: job.url.clone(),
                content_type: Some("text/plain".into()),
                body: body.as_bytes().to_vec(),
                retry_after: None,
            },
            findings: None,
        }
    }

    fn page(job: &Job, addresses: &[&str], links: &[&str]) -> Outcome {
        Outcome::Answer {
            response: Response {
                status: 200,
                final_url: job.url.clone(),
                content_type: Some("text/html".into()),
                body: Vec::new(),
                retry_after: None,
            },
            findings: Some(PageFindings {
                addresses: addresses.iter().map(|s| s.to_string()).collect(),
                links: links.iter().map(|s| url(s)).collect(),
            }),
        }
    }

    fn fetch(f: &mut Frontier, now: Duration) -> Job {
        match f.next(now) {
            Next::Fetch(job) => job,
            other => panic!("expected a fetch, got {other:?}"),
        }
    }

    const T0: Duration = Duration::ZERO;

    #[test]
    fn robots_comes_first_and_its_disallow_holds() {
        let mut f = Frontier::new(policy(), &["http://a.test/".into()]);
        let robots = fetch(&mut f, T0);
        assert_eq!(robots.url.as_str(), "http://a.test/robots.txt");
        assert_eq!(f.next(T0), Next::Idle, "pages wait for robots.txt");
        f.complete(
            robots.clone(),
            answer(&robots, 200, "User-agent: *\nDisallow: /private/\n"),
            T0,
        );
        let home = fetch(&mut f, T0);
        assert_eq!(home.url.as_str(), "http://a.test/");
        f.complete(
            home.clone(),
            page(
                &home,
                &["x@acme-tools.com"],
                &["http://a.test/private/p", "http://a.test/ok"],
            ),
            T0,
        );
        let ok = fetch(&mut f, T0);
        assert_eq!(ok.url.as_str(), "http://a.test/ok");
        f.complete(ok.clone(), page(&ok, &["x@acme-tools.com"], &[]), T0);
        assert_eq!(f.next(T0), Next::Done);
        let report = f.report(false);
        assert_eq!(report.sites[0].robots_disallowed, 1);
        assert_eq!(report.addresses.len(), 1);
        assert_eq!(report.addresses[0].count, 2);
        assert_eq!(report.addresses[0].source_url, "http://a.test/");
    }

    #[test]
    fn crawl_delay_and_policy_delay_space_requests() {
        let mut p = policy();
        p.delay = Duration::from_millis(500);
        let mut f = Frontier::new(p, &["http://a.test/".into()]);
        let robots = fetch(&mut f, T0);
        f.complete(
            robots.clone(),
            answer(&robots, 200, "User-agent: *\nCrawl-delay: 2\n"),
            T0,
        );
        let home = fetch(&mut f, T0);
        f.complete(
            home.clone(),
            page(&home, &[], &["http://a.test/1", "http://a.test/2"]),
            T0,
        );
        assert_eq!(
            f.next(Duration::from_secs(1)),
            Next::Wait(Duration::from_secs(2))
        );
        let one = fetch(&mut f, Duration::from_secs(2));
        assert_eq!(one.url.as_str(), "http://a.test/1");
        assert_eq!(
            f.next(Duration::from_secs(2)),
            Next::Idle,
            "one at a time with a delay"
        );
    }

    #[test]
    fn too_many_requests_waits_for_retry_after_then_gives_up() {
        let mut p = policy();
        p.robots = false;
        p.retries = 1;
        let mut f = Frontier::new(p, &["http://a.test/".into()]);
        let job = fetch(&mut f, T0);
        let mut limited = answer(&job, 429, "");
        if let Outcome::Answer { response, .. } = &mut limited {
            response.retry_after = Some(Duration::from_secs(7));
        }
        f.complete(job, limited.clone(), T0);
        assert_eq!(f.next(T0), Next::Wait(Duration::from_secs(7)));
        let again = fetch(&mut f, Duration::from_secs(7));
        assert_eq!(again.attempt, 1);
        f.complete(again, limited, Duration::from_secs(7));
        assert_eq!(f.next(Duration::from_secs(8)), Next::Done);
        let site = &f.report(false).sites[0];
        assert_eq!((site.rate_limited, site.gave_up_rate_limited), (2, 1));
        assert_eq!(site.verdict(), SiteVerdict::RateLimited);
    }

    #[test]
    fn server_errors_back_off_exponentially() {
        let mut p = policy();
        p.robots = false;
        let mut f = Frontier::new(p, &["http://a.test/".into()]);
        let job = fetch(&mut f, T0);
        f.complete(job.clone(), answer(&job, 503, ""), T0);
        assert_eq!(f.next(T0), Next::Wait(Duration::from_secs(1)));
        let job = fetch(&mut f, Duration::from_secs(1));
        f.complete(job.clone(), answer(&job, 500, ""), Duration::from_secs(1));
        assert_eq!(
            f.next(Duration::from_secs(1)),
            Next::Wait(Duration::from_secs(3))
        );
    }

    #[test]
    fn budget_depth_exclusions_and_external_sites() {
        let mut p = policy();
        p.robots = false;
        p.links_per_site = 3;
        p.depth = 1;
        let mut f = Frontier::new(p, &["http://a.test/".into()]);
        let home = fetch(&mut f, T0);
        f.complete(
            home.clone(),
            page(
                &home,
                &[],
                &[
                    "http://a.test/1",
                    "http://a.test/doc.PDF",
                    "http://b.test/",
                    "http://a.test/2",
                    "http://a.test/3",
                ],
            ),
            T0,
        );
        let one = fetch(&mut f, T0);
        let two = fetch(&mut f, T0);
        assert_eq!((one.url.path(), two.url.path()), ("/1", "/2"));
        f.complete(one.clone(), page(&one, &[], &["http://a.test/deeper"]), T0);
        f.complete(
            two,
            Outcome::Failed(FetchFailure {
                kind: FailureKind::Dns,
                detail: String::new(),
            }),
            T0,
        );
        assert_eq!(f.next(T0), Next::Done);
        let site = &f.report(false).sites;
        assert_eq!(site.len(), 1, "b.test is external and not followed");
        assert_eq!(site[0].excluded, 1);
        assert_eq!(site[0].over_budget, 1, "/3 is the fourth page");
    }

    #[test]
    fn external_sites_up_to_max_sites() {
        let mut p = policy();
        p.robots = false;
        p.follow_external = true;
        p.max_sites = 2;
        let mut f = Frontier::new(p, &["http://a.test/".into()]);
        let home = fetch(&mut f, T0);
        f.complete(
            home.clone(),
            page(&home, &[], &["http://b.test/", "http://c.test/"]),
            T0,
        );
        let b = fetch(&mut f, T0);
        assert_eq!(b.url.as_str(), "http://b.test/");
        f.complete(b.clone(), page(&b, &[], &[]), T0);
        assert_eq!(f.next(T0), Next::Done);
        let sites: Vec<_> = f.report(false).sites.into_iter().map(|s| s.site).collect();
        assert_eq!(sites, ["a.test:80", "b.test:80"]);
    }

    #[test]
    fn bad_seeds_are_reported_not_fatal() {
        let f = Frontier::new(
            policy(),
            &[
                "ftp://x.test/".into(),
                "http://".into(),
                "acme-tools.com/contact".into(),
            ],
        );
        let report = f.report(false);
        assert_eq!(report.invalid_seeds.len(), 2);
        assert_eq!(report.sites[0].site, "acme-tools.com:80");
    }

    #[test]
    fn unreadable_robots_blocks_the_site() {
        let mut p = policy();
        p.retries = 0;
        let mut f = Frontier::new(p, &["http://a.test/".into()]);
        let robots = fetch(&mut f, T0);
        f.complete(robots.clone(), answer(&robots, 503, ""), T0);
        assert_eq!(f.next(T0), Next::Done);
        let site = &f.report(false).sites[0];
        assert!(site.robots_unreachable);
        assert_eq!(site.verdict(), SiteVerdict::Blocked);
    }

    #[test]
    fn robots_retries_are_bounded() {
        let mut f = Frontier::new(policy(), &["http://a.test/".into()]);
        let fail = || {
            Outcome::Failed(FetchFailure {
                kind: FailureKind::Connect,
                detail: String::new(),
            })
        };
        let mut now = T0;
        for _ in 0..3 {
            let robots = loop {
                match f.next(now) {
                    Next::Fetch(job) => break job,
                    Next::Wait(t) => now = t,
                    other => panic!("unexpected {other:?}"),
                }
            };
            assert_eq!(robots.kind, FetchKind::Robots);
            f.complete(robots, fail(), now);
        }
        assert_eq!(
            f.next(now),
            Next::Done,
            "two retries, then the site is given up"
        );
        assert_eq!(f.report(false).sites[0].verdict(), SiteVerdict::Unreachable);
    }
}
