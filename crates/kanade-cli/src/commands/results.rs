//! `kanade results <exec_id> [--pc <pc>]` and `kanade result <result_id>`: the per-machine
//! table of an execution, or the output of one machine's run.

use anyhow::Context;
use futures::StreamExt;
use kanade_protocol::api::{ResultDetail, ResultSummary};

use crate::cli::{Global, ResultArgs, ResultsArgs};
use crate::client::{ApiClient, ResultQuery};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK, render};

/// Rows fetched per request when listing an execution's results.
const PAGE: u32 = 500;
/// The table shows the first output line of at most this many machines (one request each).
const PREVIEW_LIMIT: usize = 100;

pub async fn list(args: ResultsArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let exec_id = args
        .exec_id
        .clone()
        .ok_or_else(|| BadInput::err("name the execution: `kanade results <exec_id>`"))?;
    let client = api_client(global)?;
    if let Some(pc) = &args.pc {
        let query = ResultQuery {
            exec_id: Some(exec_id.clone()),
            pc_id: Some(pc.clone()),
            limit: Some(1),
            offset: None,
        };
        let page = client.list_results(&query).await?;
        if page.items.is_empty() {
            exists(&client, &exec_id).await?;
        }
        let summary = page
            .items
            .first()
            .with_context(|| format!("no result from {pc} in execution {}", exec_id))?;
        let detail = client.get_result(&summary.result_id).await?;
        return print_result(&detail, global, io);
    }
    let mut items = all_results(&client, &exec_id).await?;
    if items.is_empty() {
        exists(&client, &exec_id).await?;
    }
    if global.json {
        io.json(&items)?;
        return Ok(EXIT_OK);
    }
    if items.is_empty() {
        io.print(&format!("no results yet for execution {}\n", exec_id))?;
        return Ok(EXIT_OK);
    }
    items.sort_by(|a, b| a.pc_id.cmp(&b.pc_id));
    io.print(&summary_table(&client, &items, &[]).await)?;
    Ok(EXIT_OK)
}

/// No results can mean none yet, or no such execution: a 404 says the latter (exit 1).
async fn exists(client: &ApiClient, exec_id: &str) -> anyhow::Result<()> {
    client
        .get_execution(exec_id)
        .await
        .map(|_| ())
        .with_context(|| format!("no execution {exec_id}"))
}

pub async fn show(args: ResultArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let detail = api_client(global)?.get_result(&args.result_id).await?;
    print_result(&detail, global, io)
}

/// One row per machine: pc, exit code, duration, skipped, first line of output, result id.
/// Machines in `expected_pcs` without a result get a `no result` row. Output previews are
/// best effort: a preview that cannot be fetched shows `?`.
pub async fn summary_table(
    client: &ApiClient,
    results: &[ResultSummary],
    expected_pcs: &[String],
) -> String {
    let previews: Vec<String> = futures::stream::iter(results.iter().enumerate())
        .map(|(i, result)| async move {
            if i >= PREVIEW_LIMIT || result.exit_code.is_none() {
                return String::new();
            }
            match client.get_result(&result.result_id).await {
                Ok(detail) => preview(&detail),
                Err(_) => "?".to_owned(),
            }
        })
        .buffered(8)
        .collect()
        .await;
    let mut rows: Vec<Vec<String>> = results
        .iter()
        .zip(previews)
        .map(|(result, preview)| {
            vec![
                render::cell(&result.pc_id),
                render::exit_cell(result),
                render::run_time(result.started_at, result.finished_at),
                render::outcome_cell(result),
                preview,
                result.result_id.clone(),
            ]
        })
        .collect();
    for pc in expected_pcs {
        if !results.iter().any(|r| &r.pc_id == pc) {
            rows.push(vec![
                render::cell(pc),
                "-".to_owned(),
                "-".to_owned(),
                "not reported".to_owned(),
                "(no result)".to_owned(),
                String::new(),
            ]);
        }
    }
    render::table(
        &["pc", "exit", "duration", "outcome", "output", "result"],
        &rows,
    )
}

/// The first line of stdout, else of stderr (marked), else what the exit code means.
pub fn preview(detail: &ResultDetail) -> String {
    let stdout = render::first_line(&detail.stdout);
    if !stdout.is_empty() {
        return render::cell(stdout);
    }
    let stderr = render::first_line(&detail.stderr);
    if !stderr.is_empty() {
        return render::cell(&format!("stderr: {stderr}"));
    }
    let summary = &detail.summary;
    match summary.exit_code {
        Some(code) => render::exit_meaning(code, summary.skipped)
            .unwrap_or("")
            .to_owned(),
        None => String::new(),
    }
}

async fn all_results(client: &ApiClient, exec_id: &str) -> anyhow::Result<Vec<ResultSummary>> {
    let mut items = Vec::new();
    loop {
        let query = ResultQuery {
            exec_id: Some(exec_id.to_owned()),
            pc_id: None,
            limit: Some(PAGE),
            offset: Some(items.len() as u64),
        };
        let page = client.list_results(&query).await?;
        let fetched = page.items.len();
        items.extend(page.items);
        if fetched == 0 || items.len() as u64 >= page.total {
            return Ok(items);
        }
    }
}

/// stdout to stdout and stderr to stderr, byte for byte; in human mode a closing line on
/// stderr says whose run it was and how it ended.
fn print_result(detail: &ResultDetail, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    if global.json {
        io.json(detail)?;
        return Ok(EXIT_OK);
    }
    io.print(&detail.stdout)?;
    let _ = io.err.write_all(detail.stderr.as_bytes());
    for (stream, key) in [
        ("stdout", &detail.stdout_object),
        ("stderr", &detail.stderr_object),
    ] {
        if key.is_some() {
            let flag = if stream == "stderr" { " --stderr" } else { "" };
            io.note(&format!(
                "({stream} was cut at the inline cap; all of it: `kanade results output {}{flag}`)",
                detail.summary.result_id
            ));
        }
    }
    let summary = &detail.summary;
    let ending = match summary.exit_code {
        // The backend's words for how it ended ("timed out after 2s") when they say more.
        Some(code)
            if !matches!(summary.outcome_note.as_str(), "" | "ok")
                && !summary.outcome_note.starts_with("exit") =>
        {
            format!("exit {code}, {}", summary.outcome_note)
        }
        Some(code) => match render::exit_meaning(code, summary.skipped) {
            Some(meaning) => format!("exit {code}, {meaning}"),
            None => format!("exit {code}"),
        },
        None => "still running".to_owned(),
    };
    io.note(&format!(
        "-- {} {} v{}: {ending}, {}",
        summary.pc_id,
        summary.job_id,
        summary.version,
        render::run_time(summary.started_at, summary.finished_at)
    ));
    Ok(EXIT_OK)
}
