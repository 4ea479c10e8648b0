//! The async driver: runs the core's [`Frontier`] over a [`Fetch`] with bounded concurrency,
//! real time, and a stop signal.
//!
//! The frontier decides; this loop only asks it what to do next, starts fetches as tasks (so
//! pages are parsed on every core), sleeps until the next site may be asked again, and hands
//! each result back. A stop (Ctrl-C) aborts the fetches in flight and returns what was found so
//! far, marked interrupted.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use etraq_core::extract::ContentKind;
use etraq_core::extract::{
    CrawlPolicy, CrawlReport, FailureKind, Fetch, FetchFailure, FetchKind, Frontier, Job, Next,
    Outcome, PageFindings, Progress, content_kind, find_in_html, find_in_text,
};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Bodies larger than this are parsed on the blocking pool rather than on a runtime worker.
const BLOCKING_PARSE_BYTES: usize = 256 * 1024;

/// A crawl: the policy, the fetcher and how many fetches may run at once.
pub struct Crawl<F> {
    /// What to fetch and how politely.
    pub policy: CrawlPolicy,
    /// How pages are fetched.
    pub fetch: Arc<F>,
    /// Fetches in flight at most (the original eTraq Server's "threads").
    pub threads: usize,
}

impl<F: Fetch + 'static> Crawl<F> {
    /// Crawls from `seeds` until the frontier is exhausted or `stop` completes. `progress` is
    /// called after every change worth showing, with every address found so far (in the order
    /// found, so a caller keeping partial results takes the ones past its count).
    pub async fn run(
        self,
        seeds: &[String],
        mut progress: impl FnMut(Progress, &[etraq_core::extract::FoundAddress]),
        stop: impl Future<Output = ()>,
    ) -> CrawlReport {
        let start = Instant::now();
        let mut frontier = Frontier::new(self.policy, seeds);
        let threads = self.threads.max(1);
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let mut jobs: HashMap<tokio::task::Id, Job> = HashMap::new();
        tokio::pin!(stop);
        let mut interrupted = false;
        loop {
            let now = start.elapsed();
            let mut wake = None;
            while tasks.len() < threads {
                match frontier.next(now) {
                    Next::Fetch(job) => {
                        let fetch = self.fetch.clone();
                        let (url, kind) = (job.url.clone(), job.kind);
                        let handle = tasks.spawn(async move { run_job(&*fetch, url, kind).await });
                        jobs.insert(handle.id(), job);
                    }
                    Next::Wait(at) => {
                        wake = Some(at);
                        break;
                    }
                    Next::Idle | Next::Done => break,
                }
            }
            progress(frontier.progress(), frontier.found());
            if tasks.is_empty() && wake.is_none() {
                break;
            }
            let sleep_until = start + wake.unwrap_or(now);
            tokio::select! {
                biased;
                () = &mut stop => {
                    interrupted = true;
                    tasks.abort_all();
                    break;
                }
                Some(done) = tasks.join_next_with_id() => {
                    let (id, outcome) = match done {
                        Ok((id, outcome)) => (id, outcome),
                        Err(e) => {
                            // A panic inside a fetch adapter: count it, keep crawling.
                            let outcome = Outcome::Failed(FetchFailure {
                                kind: FailureKind::Other,
                                detail: format!("fetch task failed: {e}"),
                            });
                            (e.id(), outcome)
                        }
                    };
                    if let Some(job) = jobs.remove(&id) {
                        frontier.complete(job, outcome, start.elapsed());
                    }
                }
                () = tokio::time::sleep_until(sleep_until), if wake.is_some() => {}
            }
        }
        let report = frontier.report(interrupted);
        progress(frontier.progress(), frontier.found());
        report
    }
}

/// Fetches one URL and, for a readable 2xx page, finds its addresses and links.
async fn run_job<F: Fetch + ?Sized>(fetch: &F, url: url::Url, kind: FetchKind) -> Outcome {
    let mut response = match fetch.fetch(&url, kind).await {
        Ok(r) => r,
        Err(failure) => return Outcome::Failed(failure),
    };
    if kind == FetchKind::Robots || !(200..300).contains(&response.status) {
        return Outcome::Answer {
            response,
            findings: None,
        };
    }
    let body = std::mem::take(&mut response.body);
    let base = response.final_url.clone();
    let findings = match content_kind(response.content_type.as_deref()) {
        ContentKind::Other => None,
        ContentKind::Text => Some(PageFindings {
            addresses: find_in_text(&String::from_utf8_lossy(&body)),
            links: Vec::new(),
        }),
        ContentKind::Html if body.len() > BLOCKING_PARSE_BYTES => {
            tokio::task::spawn_blocking(move || {
                find_in_html(&String::from_utf8_lossy(&body), &base)
            })
            .await
            .ok()
        }
        ContentKind::Html => Some(find_in_html(&String::from_utf8_lossy(&body), &base)),
    };
    Outcome::Answer { response, findings }
}
