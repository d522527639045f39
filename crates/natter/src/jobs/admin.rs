//! `natter jobs`: what an operator sees and does with the queue. Each command
//! returns the lines to print, so tests check the same text a person reads.

use anyhow::{Context, bail};

use super::store::{self, DEAD, QUEUED, RUNNING};
use crate::clock::now_ms;
use crate::config::JobsAction;
use crate::db::Db;

/// Runs `natter jobs [action]` on `db`.
pub async fn run(db: &Db, action: Option<&JobsAction>) -> anyhow::Result<Vec<String>> {
    match action {
        None => counts(db).await,
        Some(JobsAction::Dead { limit }) => dead(db, *limit).await,
        Some(JobsAction::Retry { id }) => retry(db, *id).await,
        Some(JobsAction::Drop { id }) => drop_job(db, *id).await,
    }
}

/// One line per kind: queued, running and dead counts, and how long the
/// earliest due queued job has waited.
pub async fn counts(db: &Db) -> anyhow::Result<Vec<String>> {
    let rows = store::depth(&db.read).await.context(NO_TABLE_HINT)?;
    if rows.is_empty() {
        return Ok(vec!["no jobs".to_string()]);
    }
    let now = now_ms();
    let mut kinds: Vec<String> = rows.iter().map(|r| r.kind.clone()).collect();
    kinds.dedup();
    let mut lines = vec![format!(
        "{:<32} {:>8} {:>8} {:>8}  {}",
        "KIND", "QUEUED", "RUNNING", "DEAD", "OLDEST DUE"
    )];
    for kind in kinds {
        let of = |state: &str| rows.iter().find(|r| r.kind == kind && r.state == state);
        let count = |state: &str| of(state).map(|r| r.count).unwrap_or(0);
        let oldest = match of(QUEUED) {
            Some(r) if r.earliest_run_at <= now => age(now - r.earliest_run_at),
            _ => "-".to_string(),
        };
        lines.push(format!(
            "{:<32} {:>8} {:>8} {:>8}  {}",
            kind,
            count(QUEUED),
            count(RUNNING),
            count(DEAD),
            oldest
        ));
    }
    Ok(lines)
}

/// Dead jobs, most recently failed first.
pub async fn dead(db: &Db, limit: u64) -> anyhow::Result<Vec<String>> {
    let rows = store::dead(&db.read, limit).await.context(NO_TABLE_HINT)?;
    if rows.is_empty() {
        return Ok(vec!["no dead jobs".to_string()]);
    }
    let now = now_ms();
    let mut lines = vec![format!(
        "{:>10} {:<32} {:>8} {:>8} {:>8}  {}",
        "ID", "KIND", "ATTEMPTS", "AGE", "DIED", "LAST ERROR"
    )];
    for row in rows {
        lines.push(format!(
            "{:>10} {:<32} {:>8} {:>8} {:>8}  {}",
            row.id,
            row.kind,
            row.attempts,
            age(now - row.created_at),
            age(now - row.updated_at),
            one_line(row.last_error.as_deref().unwrap_or(""), 160)
        ));
    }
    Ok(lines)
}

pub async fn retry(db: &Db, id: i64) -> anyhow::Result<Vec<String>> {
    if store::retry(&db.write, id).await? {
        return Ok(vec![format!("job {id} queued again")]);
    }
    match store::find(&db.read, id).await? {
        None => bail!("no job {id}"),
        Some(job) => bail!(
            "job {id} is {}, not dead; only dead jobs are retried",
            job.state
        ),
    }
}

pub async fn drop_job(db: &Db, id: i64) -> anyhow::Result<Vec<String>> {
    if store::delete_idle(&db.write, id).await? {
        return Ok(vec![format!("job {id} dropped")]);
    }
    match store::find(&db.read, id).await? {
        None => bail!("no job {id}"),
        Some(job) => bail!(
            "job {id} is running on {}; drop it once it stops running",
            job.locked_by.unwrap_or_default()
        ),
    }
}

const NO_TABLE_HINT: &str = "cannot read the jobs table (has `natter migrate` run?)";

/// `ms` as a short age: `42s`, `7m`, `3h`, `2d`.
fn age(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `text` on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &flat[..end]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(42_000), "42s");
        assert_eq!(age(7 * 60_000), "7m");
        assert_eq!(age(3 * 3_600_000), "3h");
        assert_eq!(age(50 * 3_600_000), "2d");
    }

    #[test]
    fn errors_fit_one_line() {
        assert_eq!(one_line("a\nb\tc", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc...");
    }
}
