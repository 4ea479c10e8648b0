//! `serve`'s job runner: takes queued jobs (validations, extractions) from the store and runs
//! them, [`MAX_RUNNING`] at a time (at once when the console queues one: it rings
//! `Services::wake_jobs`), with the same validator and crawler as `etraq validate` and
//! `etraq extract`.
//!
//! Progress and new results are written together every [`PROGRESS_EVERY`] (one store write per
//! job per period); a cancel request is seen at the next write. At start, jobs the last
//! `serve` left running are resumed or marked interrupted ([`after_restart`]); at shutdown a
//! validation stops after writing what it has (the next `serve` goes on with the rest) and an
//! extraction is marked interrupted with the addresses found so far.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etraq_core::Store;
use etraq_core::config::LiveConfig;
use etraq_core::extract::FoundAddress;
use etraq_core::jobs::{
    ExtractSpec, Job, JobBook, JobSpec, JobState, PROGRESS_EVERY, ResultRow, ValidateSpec,
    after_restart,
};
use etraq_core::validate::CheckResult;
use jiff::Timestamp;
use tokio::sync::watch;

/// Jobs running at once.
pub const MAX_RUNNING: usize = 2;

/// Runs jobs until `stop`, while this node leads (`leader`, see [`etraq_core::cluster`]): the
/// jobs of the last leader are recovered when this node takes over. Returns once every running
/// job has written its state.
pub async fn job_loop(
    store: Arc<dyn Store>,
    live: LiveConfig,
    services: etraq_core::switches::Services,
    leader: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut recovered = false;
    let mut running: HashMap<u64, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        running.retain(|_, h| !h.is_finished());
        let leads = *leader.borrow();
        if leads && !recovered {
            recover(store.as_ref()).await;
            recovered = true;
        }
        // A follower recovers again when it next takes over (the leader it follows may have
        // left jobs running by then).
        recovered &= leads;
        if leads && running.len() < MAX_RUNNING {
            match JobBook::new(store.as_ref()).list().await {
                Ok(jobs) => {
                    // Oldest first.
                    for job in jobs.into_iter().rev() {
                        if running.len() >= MAX_RUNNING {
                            break;
                        }
                        if job.state != JobState::Queued || running.contains_key(&job.id) {
                            continue;
                        }
                        let (store, live, stop) = (store.clone(), live.clone(), stop.clone());
                        let bell = services.clone();
                        let id = job.id;
                        running.insert(
                            id,
                            tokio::spawn(async move {
                                if let Err(e) = run_job(store.as_ref(), &live, job, stop).await {
                                    tracing::error!(job = id, error = %e, "job failed");
                                }
                                // A slot is free: the next queued job starts now.
                                bell.wake_jobs();
                            }),
                        );
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the jobs"),
            }
        }
        // The console rings when it queues a job; the second is for jobs queued elsewhere.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = services.jobs_woken() => {}
            _ = stop.changed() => break,
        }
    }
    for (_, h) in running {
        if tokio::time::timeout(Duration::from_secs(10), h)
            .await
            .is_err()
        {
            tracing::warn!("a job did not stop in time");
        }
    }
}

/// Applies [`after_restart`] to every job the last `serve` left running.
async fn recover(store: &dyn Store) {
    let book = JobBook::new(store);
    let Ok(jobs) = book.list().await else {
        return;
    };
    let now = Timestamp::now();
    for job in jobs {
        if let Some(next) = after_restart(&job, now) {
            tracing::info!(
                job = job.id,
                state = next.state.label(),
                "job found running at start"
            );
            if let Err(e) = book.save(&next).await {
                tracing::error!(job = job.id, error = %e, "cannot save a job");
            }
        }
    }
}

/// What a running job's work reports between two writes.
#[derive(Default)]
struct Pending {
    rows: Vec<ResultRow>,
    done: u64,
    total: Option<u64>,
}

/// Runs one job to its end (or a stop) and records its final state.
async fn run_job(
    store: &dyn Store,
    live: &LiveConfig,
    mut job: Job,
    stop: watch::Receiver<bool>,
) -> etraq_core::Result<()> {
    let book = JobBook::new(store);
    // Claim it: still queued and not cancelled meanwhile.
    match book.get(job.id).await? {
        Some(j) if j.state == JobState::Queued && !j.cancel_requested => job = j,
        _ => return Ok(()),
    }
    job.state = JobState::Running;
    job.started_at = Some(Timestamp::now());
    job.error = None;
    book.save(&job).await?;
    tracing::info!(job = job.id, kind = job.spec.kind().label(), "job started");
    let inputs = book.inputs(&job).await?;
    let config = live.get();
    let outcome = match job.spec.clone() {
        JobSpec::Validate(spec) => {
            validate(&book, &mut job, &spec, inputs, &config.validator, stop).await
        }
        JobSpec::Extract(spec) => {
            extract(&book, &mut job, &spec, inputs, &config.extractor, stop).await
        }
    };
    if let Err(e) = outcome {
        job.state = JobState::Failed;
        job.error = Some(e.to_string());
        job.finished_at = Some(Timestamp::now());
        book.save(&job).await?;
    }
    tracing::info!(
        job = job.id,
        state = job.state.label(),
        done = job.done,
        results = job.results,
        "job ended"
    );
    Ok(())
}

/// How a stretch of work ended.
enum Tick {
    /// Go on.
    More,
    /// Someone asked the job to stop.
    Cancel,
    /// `serve` is stopping.
    Shutdown,
}

/// Writes what `pending` gathered (one chunk and the record), then says whether to go on.
async fn write_progress(
    book: &JobBook<'_>,
    job: &mut Job,
    pending: &Mutex<Pending>,
    since: &mut Instant,
    stop: &watch::Receiver<bool>,
) -> etraq_core::Result<Tick> {
    let (rows, done, total) = {
        let mut p = pending.lock().map_err(|_| poisoned())?;
        (std::mem::take(&mut p.rows), p.done, p.total)
    };
    let elapsed = since.elapsed().as_secs_f64();
    if elapsed > 0.0 && done >= job.done {
        job.rate = (done - job.done) as f64 / elapsed;
    }
    *since = Instant::now();
    job.done = done;
    if let Some(t) = total {
        job.total = t;
    }
    job.updated_at = Some(Timestamp::now());
    book.append(job, &rows).await?;
    if book.cancel_requested(job.id).await? {
        job.cancel_requested = true;
        return Ok(Tick::Cancel);
    }
    if *stop.borrow() {
        return Ok(Tick::Shutdown);
    }
    Ok(Tick::More)
}

fn poisoned() -> etraq_core::Error {
    etraq_core::Error::Internal("a job's progress lock was poisoned".into())
}

fn finish(job: &mut Job, state: JobState) {
    job.state = state;
    job.finished_at = Some(Timestamp::now());
    job.rate = 0.0;
}

fn check_row(r: &CheckResult) -> ResultRow {
    ResultRow {
        address: r.input.clone(),
        verdict: Some(r.is_reachable.label().to_string()),
        reason: r.reason.clone(),
        source_url: None,
        pages: None,
    }
}

/// A validation: the addresses without a result yet (all of them, unless resumed).
async fn validate(
    book: &JobBook<'_>,
    job: &mut Job,
    spec: &ValidateSpec,
    inputs: Vec<String>,
    config: &etraq_core::config::ValidatorConfig,
    mut stop: watch::Receiver<bool>,
) -> etraq_core::Result<()> {
    let known: HashSet<String> = book
        .results(job)
        .await?
        .into_iter()
        .map(|r| r.address)
        .collect();
    let todo: Vec<String> = inputs
        .iter()
        .filter(|a| !known.contains(*a))
        .cloned()
        .collect();
    let mut cfg = config.clone();
    if let Some(t) = spec.threads {
        cfg.threads = t;
    }
    cfg.top_mx_only |= spec.top_mx_only;
    let validator = crate::commands::validate::build(&cfg, !spec.no_smtp)
        .map_err(|e| etraq_core::Error::Internal(format!("{e:#}")))?;
    if !spec.no_smtp
        && let Err(why) = validator
            .preflight(&todo, Duration::from_secs(cfg.timeout.min(10)))
            .await
    {
        return Err(etraq_core::Error::Unavailable {
            what: "SMTP checks".into(),
            reason: why.to_string(),
        });
    }
    let pending = Arc::new(Mutex::new(Pending {
        done: known.len() as u64,
        total: Some(inputs.len() as u64),
        ..Pending::default()
    }));
    let sink = pending.clone();
    let work = validator.run(todo, move |r| {
        if let Ok(mut p) = sink.lock() {
            p.rows.push(check_row(&r));
            p.done += 1;
        }
    });
    tokio::pin!(work);
    let mut since = Instant::now();
    loop {
        tokio::select! {
            _ = &mut work => {
                write_progress(book, job, &pending, &mut since, &stop).await?;
                finish(job, JobState::Done);
                return book.save(job).await;
            }
            _ = tokio::time::sleep(PROGRESS_EVERY) => {}
            _ = stop.changed() => {}
        }
        match write_progress(book, job, &pending, &mut since, &stop).await? {
            Tick::More => {}
            Tick::Cancel => {
                finish(job, JobState::Cancelled);
                return book.save(job).await;
            }
            // Left running: the next `serve` goes on with the addresses not yet checked.
            Tick::Shutdown => return Ok(()),
        }
    }
}

fn found_row(a: &FoundAddress) -> ResultRow {
    ResultRow {
        address: a.address.clone(),
        verdict: None,
        reason: String::new(),
        source_url: Some(a.source_url.clone()),
        pages: Some(a.count),
    }
}

/// An extraction: a crawl from the seeds, its addresses stored as they are found.
async fn extract(
    book: &JobBook<'_>,
    job: &mut Job,
    spec: &ExtractSpec,
    seeds: Vec<String>,
    config: &etraq_core::config::ExtractorConfig,
    mut stop: watch::Receiver<bool>,
) -> etraq_core::Result<()> {
    let mut cfg = config.clone();
    if let Some(d) = spec.depth {
        cfg.depth = d;
    }
    if let Some(l) = spec.links_per_domain {
        cfg.links_per_domain = l;
    }
    cfg.follow_external |= spec.follow_external;
    let crawl = crate::commands::extract::build(&cfg)
        .map_err(|e| etraq_core::Error::Internal(format!("{e:#}")))?;
    let pending = Arc::new(Mutex::new(Pending::default()));
    let sink = pending.clone();
    // Addresses handed to `pending` so far (the crawl reports all it found each time).
    let mut taken = 0usize;
    let (halt_tx, halt_rx) = tokio::sync::oneshot::channel::<()>();
    let mut halt_tx = Some(halt_tx);
    let work = crawl.run(
        &seeds,
        move |p, found| {
            if let Ok(mut pend) = sink.lock() {
                pend.rows.extend(found.iter().skip(taken).map(found_row));
                taken = found.len();
                pend.done = p.fetched;
                pend.total = Some(p.fetched + p.queued);
            }
        },
        async {
            let _ = halt_rx.await;
        },
    );
    tokio::pin!(work);
    let mut since = Instant::now();
    let mut ending: Option<JobState> = None;
    loop {
        tokio::select! {
            report = &mut work => {
                write_progress(book, job, &pending, &mut since, &stop).await?;
                if report.invalid_seeds.len() == seeds.len() {
                    job.error = Some(report.invalid_seeds.iter().map(|(s, why)| format!("{s}: {why}")).collect::<Vec<_>>().join("; "));
                    finish(job, JobState::Failed);
                } else {
                    finish(job, ending.unwrap_or(JobState::Done));
                }
                return book.save(job).await;
            }
            _ = tokio::time::sleep(PROGRESS_EVERY) => {}
            _ = stop.changed(), if ending.is_none() => {}
        }
        if ending.is_some() {
            continue;
        }
        let tick = write_progress(book, job, &pending, &mut since, &stop).await?;
        let end = match tick {
            Tick::More => None,
            Tick::Cancel => Some(JobState::Cancelled),
            // A crawl cannot be taken up where it stopped: it ends interrupted, keeping what
            // it found.
            Tick::Shutdown => Some(JobState::Interrupted),
        };
        if let Some(state) = end {
            ending = Some(state);
            if let Some(tx) = halt_tx.take() {
                let _ = tx.send(());
            }
        }
    }
}
