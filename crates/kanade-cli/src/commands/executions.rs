//! `kanade executions [--job J] [--status S] [--since 24h]`: executions newest first, and
//! `kanade execution <id>`: one execution's counters with a row per machine.

use chrono::Utc;
use kanade_protocol::api::ExecutionSummary;

use crate::cli::{ExecutionArgs, ExecutionsArgs, Global};
use crate::client::ExecutionQuery;
use crate::commands::audit::parse_time_ago;
use crate::commands::exec::{counts, summary_line};
use crate::commands::{Io, api_client, results};
use crate::{BadInput, EXIT_OK, render};

pub async fn list(args: ExecutionsArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let since = args
        .since
        .as_deref()
        .map(|t| parse_time_ago("--since", t, Utc::now()).map_err(BadInput::err))
        .transpose()?;
    let query = ExecutionQuery {
        job_id: args.job,
        status: args.status,
        since,
        limit: args.limit,
        offset: args.offset,
    };
    let page = api_client(global)?.list_executions(&query).await?;
    if global.json {
        io.json(&page)?;
        return Ok(EXIT_OK);
    }
    if page.items.is_empty() {
        io.print("none\n")?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = page.items.iter().map(row).collect();
    io.print(&render::table(
        &[
            "exec id", "job", "version", "target", "by", "started", "status", "outcome",
        ],
        &rows,
    ))?;
    let shown = page.offset + page.items.len() as u64;
    if shown < page.total {
        io.note(&format!(
            "showing {} of {} executions (newest first); see more with --offset {shown}, or \
             narrow with --job/--status/--since",
            page.items.len(),
            page.total
        ));
    }
    Ok(EXIT_OK)
}

pub async fn show(args: ExecutionArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let mut detail = client.get_execution(&args.exec_id).await?;
    if global.json {
        io.json(&detail)?;
        return Ok(EXIT_OK);
    }
    let e = &detail.execution;
    io.print(&format!(
        "{}\nstarted {} by {}, sent to {}\n{}\n",
        e.exec_id,
        render::time(e.initiated_at),
        e.initiated_by,
        targets(e),
        summary_line(e)
    ))?;
    if !detail.waiting_for.is_empty() {
        io.print(&format!(
            "waiting for {} machine(s): {}\n",
            detail.waiting_for.len(),
            detail.waiting_for.join(", ")
        ))?;
    }
    if detail.results.is_empty() {
        io.print("no results yet\n")?;
    } else {
        detail.results.sort_by(|a, b| a.pc_id.cmp(&b.pc_id));
        io.print(&results::summary_table(&client, &detail.results, &[]).await)?;
    }
    Ok(EXIT_OK)
}

fn row(e: &ExecutionSummary) -> Vec<String> {
    vec![
        render::cell(&e.exec_id),
        render::cell(&render::job_label(e)),
        render::cell(&e.version),
        render::cell(&targets(e)),
        render::cell(&e.initiated_by),
        render::time(e.initiated_at),
        render::cell(&e.status),
        counts(e).describe(),
    ]
}

/// What it was sent to ("web-1, group:canary"), `-` when the backend does not say.
fn targets(e: &ExecutionSummary) -> String {
    match e.targets.len() {
        0 => "-".to_owned(),
        1..=3 => e.targets.join(", "),
        n => format!("{}, … ({n})", e.targets[..2].join(", ")),
    }
}
