//! `etraq job`: the background jobs `serve` runs (validations and extractions started from
//! the console or the API), listed, shown with their results, or asked to stop.

use anyhow::Result;
use etraq_core::access::Actor;
use etraq_core::jobs::Job;

use crate::cli::JobCommand;
use crate::context::Context;
use crate::out::Out;

/// Runs `etraq job …`.
pub async fn run(ctx: &Context, cmd: JobCommand) -> Result<()> {
    let app = ctx.app().await?;
    let who = Actor::admin();
    let tz = ctx.time_zone()?;
    let result = async {
        let mut out = Out::new();
        match cmd {
            JobCommand::List(f) => {
                let jobs = app.jobs(&who).await?;
                if f.json {
                    out.line(serde_json::to_string_pretty(&jobs)?)?;
                } else if jobs.is_empty() {
                    out.line("No jobs yet: start one from the console's Utilities pages.")?;
                } else {
                    let mut t = crate::render::table(&[
                        "Job", "Kind", "State", "Progress", "Results", "Owner", "Created",
                    ]);
                    for j in &jobs {
                        t.add_row(vec![
                            j.id.to_string(),
                            j.spec.kind().label().to_string(),
                            j.state.label().to_string(),
                            j.progress_text(),
                            j.results.to_string(),
                            j.owner.clone(),
                            j.created_at
                                .to_zoned_datetime(tz.clone())
                                .strftime("%Y-%m-%d %H:%M")
                                .to_string(),
                        ]);
                    }
                    out.line(t.to_string())?;
                }
            }
            JobCommand::Show(a) => {
                let (job, rows) = app.job_results(&who, a.id).await?;
                if a.json {
                    out.line(serde_json::to_string_pretty(&serde_json::json!({
                        "job": job,
                        "results": rows,
                    }))?)?;
                } else {
                    out.line(format!(
                        "Job {} ({}) by {}: {}, {}{}",
                        job.id,
                        job.spec.kind().label(),
                        job.owner,
                        job.state.label(),
                        job.progress_text(),
                        job.error
                            .as_deref()
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    ))?;
                    let mut t = crate::render::table(&["Address", "Verdict", "Reason / source"]);
                    for r in &rows {
                        t.add_row(vec![
                            r.address.clone(),
                            r.verdict.clone().unwrap_or_default(),
                            r.source_url.clone().unwrap_or_else(|| r.reason.clone()),
                        ]);
                    }
                    out.line(t.to_string())?;
                }
            }
            JobCommand::Cancel(a) => {
                let job = app.cancel_job(&who, a.id, jiff::Timestamp::now()).await?;
                if a.json {
                    out.line(serde_json::to_string_pretty(&job)?)?;
                } else {
                    out.line(format!("Job {}: {}", job.id, cancel_text(&job)))?;
                }
            }
        }
        out.flush()?;
        anyhow::Ok(())
    }
    .await;
    app.store().close().await?;
    result
}

fn cancel_text(j: &Job) -> String {
    if j.state.is_final() {
        format!("{} (nothing to stop)", j.state.label())
    } else {
        "asked to stop; a running etraq serve stops it within seconds".into()
    }
}
