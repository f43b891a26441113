//! `kanade timeline [--pc P] [--kind K] [--source S] [--since 24h]`: the machines' timeline
//! events, newest first. Times are RFC 3339 or a duration meaning that long ago.

use chrono::{DateTime, Utc};
use kanade_protocol::api::ObsEntry;

use crate::cli::{Global, TimelineArgs};
use crate::client::ObsQuery;
use crate::commands::audit::{parse_time_ago, payload_cell};
use crate::commands::{Io, api_client, check_pc};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(args: TimelineArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let now = Utc::now();
    let time = |flag: &str, text: Option<&str>| -> anyhow::Result<Option<DateTime<Utc>>> {
        text.map(|t| parse_time_ago(flag, t, now).map_err(BadInput::err))
            .transpose()
    };
    if let Some(pc) = &args.pc {
        check_pc(pc)?;
    }
    let query = ObsQuery {
        from: time("--since", args.since.as_deref())?,
        to: time("--until", args.until.as_deref())?,
        pc_id: args.pc,
        kind: args.kind,
        source: args.source,
        limit: args.limit,
        offset: args.offset,
    };
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(BadInput::err("--since is later than --until"));
    }
    let page = api_client(global)?.obs_events(&query).await?;
    if global.json {
        io.json(&page)?;
        return Ok(EXIT_OK);
    }
    if page.items.is_empty() {
        io.print("no timeline events match\n")?;
        return Ok(EXIT_OK);
    }
    io.print(&events_table(&page.items))?;
    let shown = page.offset + page.items.len() as u64;
    if shown < page.total {
        io.note(&format!(
            "showing {} of {} events (newest first); see more with --offset {shown}, or narrow with --since/--pc/--kind",
            page.items.len(),
            page.total
        ));
    }
    Ok(EXIT_OK)
}

/// time, pc, kind, source, and the event's payload on one line.
pub fn events_table(events: &[ObsEntry]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                render::time(e.at),
                render::cell(&e.pc_id),
                render::cell(&e.kind),
                render::cell(&e.source),
                payload_cell(&e.payload),
            ]
        })
        .collect();
    render::table(&["time", "pc", "kind", "source", "detail"], &rows)
}
