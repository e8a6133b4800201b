//! `hatter jobs ...`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use shared::cron::Schedule;
use shared::jobs::{HistoryEntry, Job, JobOp, NewJob, Outcome};
use shared::model::{validate_name, Status};
use shared::store::{AdminOutcome, Registered};

use crate::cli::JobCommand;
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::logs::{self, LogSource};
use crate::output::{self, Format};

/// How many upcoming fire times `show` prints.
const UPCOMING: usize = 5;

/// How long `run` waits for a worker to take the request.
const PICKUP_WAIT: Duration = Duration::from_secs(10);

/// How long `run` waits for the run to end once taken.
const RUN_WAIT: Duration = Duration::from_secs(120);

/// The hint for a spec that cannot be read.
const SPEC_HINT: &str = "write six fields with seconds first ('*/10 * * * * *'), five crontab \
    fields ('30 9 * * 1-5'), a name (@hourly, @daily, ...) or '@every 30s'; days of the week \
    are 0-7 (0 and 7 are Sunday) or SUN..SAT";

/// Runs one `jobs` command.
pub async fn run(ctx: &Context, cmd: JobCommand) -> CliResult<()> {
    match cmd {
        JobCommand::Add {
            file,
            cron,
            name,
            tz,
            disabled,
        } => add(ctx, &file, &cron, name, tz, disabled).await,
        JobCommand::List => list(ctx).await,
        JobCommand::Show {
            name,
            history,
            source,
        } => show(ctx, &name, history, source).await,
        JobCommand::Run { name, no_wait } => run_now(ctx, &name, no_wait).await,
        JobCommand::Disable { name } => admin(ctx, &name, JobOp::Disable).await,
        JobCommand::Enable { name } => admin(ctx, &name, JobOp::Enable).await,
        JobCommand::Rm { name } => admin(ctx, &name, JobOp::Remove).await,
        JobCommand::Logs { name, lines } => {
            logs::print_source(ctx, &LogSource::job(ctx, &name), lines).await
        }
        JobCommand::Tail { name, lines } => {
            logs::follow_source(ctx, &LogSource::job(ctx, &name), lines).await
        }
    }
}

/// The job's name from the file name, as for threads.
fn name_from_file(file: &Path) -> CliResult<String> {
    let stem = file.file_stem().and_then(|s| s.to_str()).ok_or_else(|| {
        CliError::usage(format!(
            "cannot take a job name from `{}`; pass --name",
            file.display()
        ))
    })?;
    validate_name("job", stem).map_err(|e| {
        CliError::usage(format!(
            "{} (taken from the file name; pass --name)",
            e.message
        ))
    })?;
    Ok(stem.to_string())
}

/// The job's schedule, read from its stored spec; `None` if it cannot be.
fn schedule_of(job: &Job) -> Option<Schedule> {
    let tz = (!job.tz.is_empty()).then_some(job.tz.as_str());
    Schedule::parse(&job.cron, tz).ok()
}

/// The next fire time after `now_ms`, when the job fires at all.
fn next_run(job: &Job, now_ms: u64) -> Option<i64> {
    if job.status != Status::Enabled {
        return None;
    }
    schedule_of(job)?.next_after(now_ms as i64)
}

async fn add(
    ctx: &Context,
    file: &Path,
    cron: &str,
    name: Option<String>,
    tz: Option<String>,
    disabled: bool,
) -> CliResult<()> {
    let name = match name {
        Some(n) => {
            validate_name("job", &n)?;
            n
        }
        None => name_from_file(file)?,
    };
    // Checked before the file is read, so a bad spec is reported first.
    let schedule = Schedule::parse(cron, tz.as_deref()).map_err(|e| {
        let hint = if e.message.contains("time zone") {
            "list the zones with: timedatectl list-timezones (or see the IANA tz database)"
        } else {
            SPEC_HINT
        };
        CliError::from(e).with_hint(hint)
    })?;
    let source = crate::threads::read_source(file)?;
    let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let status = if disabled {
        Status::Disabled
    } else {
        Status::Enabled
    };
    let (outcome, version) = ctx
        .store
        .add_job(&NewJob {
            name: name.clone(),
            source,
            cron: cron.to_string(),
            tz: tz.clone(),
            status,
            path: path.display().to_string(),
        })
        .await?;
    let now_ms = ctx.store.now_ms().await?;
    let next = (!disabled)
        .then(|| schedule.next_after(now_ms as i64))
        .flatten();
    match ctx.format {
        Format::Json => output::json(&json!({
            "name": name,
            "outcome": outcome,
            "version": version,
            "cron": schedule.spec(),
            "tz": schedule.zone_name(),
            "status": status,
            "next_run_ms": next,
        })),
        Format::Table => {
            let what = match outcome {
                Registered::Created => "added",
                Registered::Updated => "updated",
                Registered::Unchanged => "unchanged",
            };
            let when = match next {
                Some(n) => format!("next run {}", schedule.local_time(n)),
                None if disabled => "disabled: it does not fire until enabled".into(),
                None => "it does not fire again".into(),
            };
            println!(
                "job `{name}` {what}, version {version}, in cluster `{}`: `{}` ({}); {when}",
                ctx.cluster(),
                schedule.spec(),
                schedule.zone_name()
            );
            Ok(())
        }
    }
}

/// A short description of a job's last run.
fn last_run(job: &Job, now_ms: u64) -> String {
    if job.last_run_ms == 0 {
        return "never".into();
    }
    format!(
        "{} ago, {}",
        output::age(now_ms.saturating_sub(job.last_run_ms)),
        if job.last_outcome.is_empty() {
            "-"
        } else {
            &job.last_outcome
        }
    )
}

fn when(next: Option<i64>, now_ms: u64) -> String {
    match next {
        Some(n) => format!(
            "in {}",
            output::age((n as u64).saturating_sub(now_ms).max(1))
        ),
        None => "-".into(),
    }
}

async fn list(ctx: &Context) -> CliResult<()> {
    let (jobs, now_ms) = ctx.store.jobs().await?;
    if ctx.format == Format::Json {
        let rows: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| {
                let mut v = serde_json::to_value(j).unwrap_or_default();
                v["next_run_ms"] = json!(next_run(j, now_ms));
                v
            })
            .collect();
        return output::json(&rows);
    }
    if jobs.is_empty() {
        println!(
            "No jobs in cluster `{}`. Add one with: hatter jobs add FILE --cron SPEC",
            ctx.cluster()
        );
        return Ok(());
    }
    let mut table = output::table(&[
        "NAME", "STATUS", "STATE", "SCHEDULE", "TZ", "LAST RUN", "NEXT RUN", "ERROR",
    ]);
    for j in &jobs {
        table.add_row(vec![
            j.name.clone(),
            j.status.to_string(),
            if j.owner.is_empty() {
                j.state.to_string()
            } else {
                format!("{} on {}", j.state, j.owner)
            },
            j.cron.clone(),
            j.zone().to_string(),
            last_run(j, now_ms),
            when(next_run(j, now_ms), now_ms),
            if j.last_outcome == "error" {
                output::short(&j.error, 50)
            } else {
                String::new()
            },
        ]);
    }
    println!("{table}");
    Ok(())
}

fn not_found_hint(e: CliError) -> CliError {
    match e {
        CliError::NotFound { .. } => e.with_hint("list the jobs with: hatter jobs list"),
        other => other,
    }
}

async fn show(ctx: &Context, name: &str, history: usize, with_source: bool) -> CliResult<()> {
    let view = ctx
        .store
        .job(name, history)
        .await
        .map_err(|e| not_found_hint(e.into()))?;
    let job = &view.job;
    let schedule = schedule_of(job);
    let upcoming = match (&schedule, job.status) {
        (Some(s), Status::Enabled) => s.upcoming(view.now_ms as i64, UPCOMING),
        _ => Vec::new(),
    };
    if ctx.format == Format::Json {
        let mut value = serde_json::to_value(&view).map_err(|e| CliError::Failed {
            message: e.to_string(),
            hint: None,
        })?;
        value["source"] = json!(job.source);
        value["next_runs_ms"] = json!(upcoming);
        return output::json(&value);
    }

    let mut table = output::table(&["FIELD", "VALUE"]);
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let rows: Vec<(&str, String)> = vec![
        ("name", job.name.clone()),
        ("status", job.status.to_string()),
        ("state", job.state.to_string()),
        ("running on", dash(&job.owner)),
        ("schedule", job.cron.clone()),
        ("time zone", job.zone().to_string()),
        ("version", job.version.to_string()),
        ("last run", output::time(job.last_run_ms)),
        ("last outcome", dash(&job.last_outcome)),
        ("last duration", format!("{}ms", job.last_duration_ms)),
        ("error", dash(&job.error)),
        ("error at", output::time(job.error_at_ms)),
        ("file", dash(&job.path)),
        (
            "source",
            format!("{} lines (--source prints it)", job.source.lines().count()),
        ),
        ("added", output::time(job.created_at_ms)),
        ("updated", output::time(job.updated_at_ms)),
    ];
    for (k, v) in rows {
        table.add_row(vec![k.to_string(), v]);
    }
    println!("{table}");

    match (&schedule, job.status) {
        (None, _) => println!("\nThe stored schedule `{}` cannot be read.", job.cron),
        (Some(_), Status::Disabled) => {
            println!("\nDisabled: no upcoming runs until `hatter jobs enable {name}`.")
        }
        (Some(s), Status::Enabled) => {
            println!("\nNext {} runs:", upcoming.len());
            for at in &upcoming {
                if s.zone_name() == "UTC" {
                    println!("  {}", s.local_time(*at));
                } else {
                    println!("  {}  ({})", s.local_time(*at), output::time(*at as u64));
                }
            }
        }
    }

    if history > 0 {
        print_history(&view.history);
    }
    if with_source {
        println!("\n{}", job.source);
    }
    Ok(())
}

fn print_history(history: &[HistoryEntry]) {
    if history.is_empty() {
        println!("\nNo runs yet.");
        return;
    }
    println!("\nHistory, newest first:");
    let mut table = output::table(&["TICK", "STARTED", "TOOK", "WORKER", "OUTCOME"]);
    for e in history {
        let outcome = match e.outcome {
            Outcome::Ok => "ok".to_string(),
            Outcome::Error => format!("error: {}", output::short(&e.error, 60)),
            Outcome::Skipped if e.running.is_empty() => {
                "skipped: the previous run still ran".to_string()
            }
            Outcome::Skipped => format!("skipped: the previous run still ran on {}", e.running),
            Outcome::Missed => format!(
                "missed {} tick{}{} (no worker took {})",
                e.count,
                if e.count == 1 { "" } else { "s" },
                match e.last {
                    Some(last) if last as i64 != e.tick as i64 && e.count > 1 =>
                        format!(" up to {}", output::time(last)),
                    _ => String::new(),
                },
                if e.count == 1 { "it" } else { "them" }
            ),
        };
        let tick = if e.manual {
            "manual".to_string()
        } else {
            output::time(e.tick)
        };
        let took = match e.outcome {
            Outcome::Ok | Outcome::Error => format!("{}ms", e.duration_ms),
            _ => "-".into(),
        };
        table.add_row(vec![
            tick,
            output::time_ms(e.start),
            took,
            if e.worker.is_empty() {
                "-".into()
            } else {
                e.worker.clone()
            },
            outcome,
        ]);
    }
    println!("{table}");
}

async fn admin(ctx: &Context, name: &str, op: JobOp) -> CliResult<()> {
    let outcome = ctx
        .store
        .job_admin(name, op)
        .await
        .map_err(|e| not_found_hint(e.into()))?;
    let done = outcome == AdminOutcome::Done;
    if ctx.format == Format::Json {
        let word = match op {
            JobOp::Disable => "disable",
            JobOp::Enable => "enable",
            JobOp::Remove => "rm",
        };
        return output::json(&json!({"name": name, "action": word, "changed": done}));
    }
    let text = match (op, done) {
        (JobOp::Disable, true) => {
            format!("job `{name}` disabled; it takes no more ticks (a run in progress finishes)")
        }
        (JobOp::Disable, false) => format!("job `{name}` was already disabled"),
        (JobOp::Enable, true) => format!("job `{name}` enabled; it fires from its next tick"),
        (JobOp::Enable, false) => format!("job `{name}` was already enabled"),
        (JobOp::Remove, _) => format!("job `{name}` removed, with its history and log"),
    };
    println!("{text}");
    Ok(())
}

/// `jobs run`: leaves a request that one worker's scheduler takes, then
/// waits for the run's entry in the history.
async fn run_now(ctx: &Context, name: &str, no_wait: bool) -> CliResult<()> {
    // Fails with not-found before anything is written.
    let before = ctx
        .store
        .job(name, 0)
        .await
        .map_err(|e| not_found_hint(e.into()))?;
    let token = format!(
        "run-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    ctx.store
        .request_job_run(name, &token)
        .await
        .map_err(|e| not_found_hint(e.into()))?;

    // Wait for a worker to take the request.
    let started = Instant::now();
    loop {
        let view = ctx
            .store
            .job(name, 0)
            .await
            .map_err(|e| not_found_hint(e.into()))?;
        if !view.job.run_requested {
            break;
        }
        if started.elapsed() > PICKUP_WAIT {
            if ctx.store.withdraw_job_run(name, &token).await? == AdminOutcome::Done {
                return Err(CliError::Failed {
                    message: format!(
                        "no worker took the run of job `{name}` within {}s; nothing was run",
                        PICKUP_WAIT.as_secs()
                    ),
                    hint: Some(
                        "check that a worker runs in this cluster and is healthy: hatter workers list"
                            .into(),
                    ),
                });
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Find the run's entry: the first manual entry since the request.
    let entry = loop {
        let view = ctx
            .store
            .job(name, 20)
            .await
            .map_err(|e| not_found_hint(e.into()))?;
        let found = view
            .history
            .iter()
            .find(|e| e.manual && e.tick >= before.now_ms)
            .cloned();
        let running = view.job.state == shared::model::State::Running;
        match found {
            Some(e) => break Some(e),
            None if no_wait && running => break None,
            None if started.elapsed() > RUN_WAIT => {
                return Err(CliError::Failed {
                    message: format!(
                        "job `{name}` was taken by a worker but has not ended within {}s",
                        RUN_WAIT.as_secs()
                    ),
                    hint: Some(format!("follow it with: hatter jobs show {name}")),
                })
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };

    let Some(entry) = entry else {
        if ctx.format == Format::Json {
            return output::json(&json!({"name": name, "outcome": "running"}));
        }
        println!("job `{name}` is running; see its outcome with: hatter jobs show {name}");
        return Ok(());
    };
    if ctx.format == Format::Json {
        output::json(&json!({"name": name, "run": entry}))?;
    }
    match entry.outcome {
        Outcome::Ok => {
            if ctx.format == Format::Table {
                println!(
                    "job `{name}` ran on worker `{}` in {}ms: ok",
                    entry.worker, entry.duration_ms
                );
            }
            Ok(())
        }
        Outcome::Error => Err(CliError::Failed {
            message: format!(
                "job `{name}` ran on worker `{}` and failed: {}",
                entry.worker, entry.error
            ),
            hint: Some(format!("see its log with: hatter jobs logs {name}")),
        }),
        Outcome::Skipped | Outcome::Missed => Err(CliError::Failed {
            message: format!(
                "job `{name}` was not run: its previous run was still going{}",
                if entry.running.is_empty() {
                    String::new()
                } else {
                    format!(" on worker `{}`", entry.running)
                }
            ),
            hint: Some("try again when it has finished".into()),
        }),
    }
}
