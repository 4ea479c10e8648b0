//! Where jobs live: the store's key-value space, so every backend keeps them.
//!
//! - `job:ID` (ID zero-padded, so a scan lists them in order): the [`Job`], without its input
//!   list;
//! - `jobin:ID`: the input list (addresses or seed URLs), written once;
//! - `jobres:ID:CHUNK`: the results, a chunk of rows per progress write, so a write costs the
//!   new rows only;
//! - `jobcancel:ID`: someone asked the job to stop. A key of its own, so the runner's progress
//!   writes never overwrite the request.

use jiff::Timestamp;

use super::model::{Job, JobSpec, ResultRow};
use crate::error::{Error, Result};
use crate::kv::KeyValueStore;

/// The key of the next job number.
const NEXT: &str = "jobs:next";

fn job_key(id: u64) -> String {
    format!("job:{id:010}")
}

fn input_key(id: u64) -> String {
    format!("jobin:{id:010}")
}

fn cancel_key(id: u64) -> String {
    format!("jobcancel:{id:010}")
}

fn chunk_key(id: u64, chunk: u64) -> String {
    format!("jobres:{id:010}:{chunk:06}")
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("stored {key} is unreadable: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding a job: {e}")))
}

/// Jobs over a key-value store.
pub struct JobBook<'a> {
    kv: &'a dyn KeyValueStore,
}

/// New job numbers are handed out one at a time within the process (only `serve` creates
/// jobs, through the console and the API).
static NUMBERING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl<'a> JobBook<'a> {
    /// The jobs of `kv`.
    pub fn new(kv: &'a dyn KeyValueStore) -> Self {
        JobBook { kv }
    }

    /// Records a new queued job for `spec` (checked by the caller) and returns it.
    pub async fn create(&self, owner: &str, mut spec: JobSpec, now: Timestamp) -> Result<Job> {
        let _turn = NUMBERING.lock().await;
        let id = match self.kv.kv_get(NEXT).await? {
            Some(n) => n.trim().parse::<u64>().unwrap_or(1).max(1),
            None => 1,
        };
        self.kv.kv_put(NEXT, Some(&(id + 1).to_string())).await?;
        let inputs = spec.take_inputs();
        let mut job = Job::new(id, owner, spec, now);
        job.total = inputs.len() as u64;
        self.kv
            .kv_put(&input_key(id), Some(&encode(&inputs)?))
            .await?;
        self.save(&job).await?;
        Ok(job)
    }

    /// A job by number (with `cancel_requested` set when a stop was asked).
    pub async fn get(&self, id: u64) -> Result<Option<Job>> {
        let key = job_key(id);
        match self.kv.kv_get(&key).await? {
            Some(t) => {
                let mut job: Job = decode(&key, &t)?;
                job.cancel_requested |= self.cancel_requested(id).await?;
                Ok(Some(job))
            }
            None => Ok(None),
        }
    }

    /// Asks job `id` to stop.
    pub async fn request_cancel(&self, id: u64) -> Result<()> {
        self.kv.kv_put(&cancel_key(id), Some("1")).await
    }

    /// Whether job `id` was asked to stop.
    pub async fn cancel_requested(&self, id: u64) -> Result<bool> {
        Ok(self.kv.kv_get(&cancel_key(id)).await?.is_some())
    }

    /// Every job, newest first.
    pub async fn list(&self) -> Result<Vec<Job>> {
        let cancelled: std::collections::HashSet<String> = self
            .kv
            .kv_scan("jobcancel:")
            .await?
            .into_iter()
            .map(|(k, _)| k.trim_start_matches("jobcancel:").to_string())
            .collect();
        let mut out = Vec::new();
        for (k, v) in self.kv.kv_scan("job:").await? {
            let mut job: Job = decode(&k, &v)?;
            job.cancel_requested |= cancelled.contains(k.trim_start_matches("job:"));
            out.push(job);
        }
        out.reverse();
        Ok(out)
    }

    /// Writes a job's record.
    pub async fn save(&self, job: &Job) -> Result<()> {
        self.kv.kv_put(&job_key(job.id), Some(&encode(job)?)).await
    }

    /// The job's input list.
    pub async fn inputs(&self, job: &Job) -> Result<Vec<String>> {
        let key = input_key(job.id);
        match self.kv.kv_get(&key).await? {
            Some(t) => decode(&key, &t),
            None => Ok(Vec::new()),
        }
    }

    /// Stores `rows` as the job's next result chunk, then the job record counting them (a
    /// chunk written without its record is overwritten by the next one, never read twice).
    pub async fn append(&self, job: &mut Job, rows: &[ResultRow]) -> Result<()> {
        if !rows.is_empty() {
            self.kv
                .kv_put(&chunk_key(job.id, job.chunks), Some(&encode(&rows)?))
                .await?;
            job.chunks += 1;
            job.results += rows.len() as u64;
        }
        self.save(job).await
    }

    /// Every result row of the job, in the order found.
    pub async fn results(&self, job: &Job) -> Result<Vec<ResultRow>> {
        let mut out = Vec::new();
        for chunk in 0..job.chunks {
            let key = chunk_key(job.id, chunk);
            if let Some(t) = self.kv.kv_get(&key).await? {
                out.extend(decode::<Vec<ResultRow>>(&key, &t)?);
            }
        }
        Ok(out)
    }
}
