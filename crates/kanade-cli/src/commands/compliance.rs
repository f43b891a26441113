//! `kanade compliance [check] [--status S]`: every check's counts across the fleet, or one
//! check's status on every machine.

use crate::cli::{ComplianceArgs, Global};
use crate::commands::{Io, api_client};
use crate::{EXIT_OK, render};

pub async fn run(args: ComplianceArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let Some(check) = args.check else {
        let checks = client.compliance().await?;
        if global.json {
            io.json(&checks)?;
            return Ok(EXIT_OK);
        }
        if checks.is_empty() {
            io.print("no check has reported yet\n")?;
            return Ok(EXIT_OK);
        }
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                vec![
                    c.check_name.clone(),
                    render::cell(c.label.as_deref().unwrap_or("")),
                    c.ok.to_string(),
                    c.warn.to_string(),
                    c.fail.to_string(),
                    c.unknown.to_string(),
                    render::cell(&c.failing.join(",")),
                ]
            })
            .collect();
        io.print(&render::table(
            &["check", "label", "ok", "warn", "fail", "unknown", "failing"],
            &rows,
        ))?;
        return Ok(EXIT_OK);
    };
    let page = client
        .compliance_check(&check, args.status.as_deref(), Some(1000), None)
        .await?;
    if global.json {
        io.json(&page)?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|r| {
            vec![
                render::cell(&r.pc_id),
                r.status.as_str().to_owned(),
                render::cell(r.detail.as_deref().unwrap_or("")),
                render::time(r.finished_at),
            ]
        })
        .collect();
    io.print(&render::table(
        &["pc", "status", "detail", "checked"],
        &rows,
    ))?;
    if page.total > page.items.len() as u64 {
        io.note(&format!(
            "({} of {} machines)",
            page.items.len(),
            page.total
        ));
    }
    Ok(EXIT_OK)
}
