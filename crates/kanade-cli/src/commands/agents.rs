//! `kanade agents [filters]` (the fleet table), `kanade agent show <pc>` (facts, groups and the
//! effective config with the source of each value) and `kanade agent versions`. The release
//! subcommands of `kanade agent` live in `releases`.

use chrono::{DateTime, Utc};
use kanade_protocol::api::{AgentRow, EffectiveConfigView};
use serde::Serialize;

use crate::cli::{AgentCommand, AgentsArgs, Global};
use crate::client::AgentQuery;
use crate::commands::{Io, api_client, check_pc, config, install, releases};
use crate::{EXIT_OK, render};

pub async fn list(args: AgentsArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let query = AgentQuery {
        online: args.online_filter(),
        q: args.q,
        group: args.group,
        os: args.os,
        version: args.version,
        sort: args.sort,
        descending: args.desc,
        limit: args.limit,
        offset: args.offset,
    };
    let page = api_client(global)?.list_agents(&query).await?;
    if global.json {
        io.json(&page)?;
        return Ok(EXIT_OK);
    }
    if page.items.is_empty() {
        io.print("no machines match\n")?;
        return Ok(EXIT_OK);
    }
    io.print(&agents_table(&page.items, Utc::now()))?;
    let shown = page.offset + page.items.len() as u64;
    if shown < page.total {
        io.note(&format!(
            "showing {} of {} machines; see more with --offset {shown} or --limit",
            page.items.len(),
            page.total
        ));
    }
    Ok(EXIT_OK)
}

/// pc, host, os, version, online, last heartbeat (relative to `now`), agent cpu%, agent rss.
pub fn agents_table(agents: &[AgentRow], now: DateTime<Utc>) -> String {
    let rows: Vec<Vec<String>> = agents
        .iter()
        .map(|a| {
            vec![
                render::cell(&a.pc_id),
                render::cell(&a.hostname),
                render::cell(&os(a)),
                render::cell(&a.agent_version),
                yes_no(a.online),
                render::ago(a.last_heartbeat, now),
                a.agent_cpu_pct
                    .map(|p| render::percent(f64::from(p)))
                    .unwrap_or_else(|| "-".to_owned()),
                a.agent_rss_bytes
                    .map(render::bytes)
                    .unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    render::table(
        &[
            "pc",
            "host",
            "os",
            "version",
            "online",
            "last heartbeat",
            "cpu",
            "rss",
        ],
        &rows,
    )
}

fn os(agent: &AgentRow) -> String {
    format!("{} {}", agent.os_family, agent.os_version)
        .trim()
        .to_owned()
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

pub async fn run(command: AgentCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    match command {
        AgentCommand::Show { pc } => show(&pc, global, io).await,
        AgentCommand::Versions => versions(global, io).await,
        AgentCommand::Publish {
            binary,
            version,
            platform,
        } => releases::publish(&binary, &version, platform.as_deref(), global, io).await,
        AgentCommand::Releases => releases::list(global, io).await,
        AgentCommand::Rollout(args) => releases::rollout(args, global, io).await,
        AgentCommand::InstallCommand(args) => install::run(args, global, io).await,
    }
}

/// `agent show --json`: the machine and its effective config.
#[derive(Serialize)]
struct Shown<'a> {
    agent: &'a AgentRow,
    config: &'a EffectiveConfigView,
}

async fn show(pc: &str, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    check_pc(pc)?;
    let client = api_client(global)?;
    let agent = client.get_agent(pc).await?;
    let effective = client.effective_config(pc).await?;
    if global.json {
        io.json(&Shown {
            agent: &agent,
            config: &effective,
        })?;
        return Ok(EXIT_OK);
    }
    io.print(&agent_view(&agent, &effective, Utc::now()))?;
    Ok(EXIT_OK)
}

/// The machine field by field, then its effective config as a field / value / source table.
pub fn agent_view(agent: &AgentRow, effective: &EffectiveConfigView, now: DateTime<Utc>) -> String {
    let or_dash = |text: String| {
        if text.is_empty() {
            "-".to_owned()
        } else {
            text
        }
    };
    let mut pairs = vec![
        ("machine", agent.pc_id.clone()),
        ("host", or_dash(render::cell(&agent.hostname))),
        ("os", or_dash(render::cell(&os(agent)))),
        ("agent version", render::cell(&agent.agent_version)),
        ("online", yes_no(agent.online)),
        (
            "last heartbeat",
            format!(
                "{} ({})",
                render::time(agent.last_heartbeat),
                render::ago(agent.last_heartbeat, now)
            ),
        ),
        ("first seen", render::time(agent.first_seen)),
        (
            "agent cpu",
            agent
                .agent_cpu_pct
                .map(|p| render::percent(f64::from(p)))
                .unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "agent rss",
            agent
                .agent_rss_bytes
                .map(render::bytes)
                .unwrap_or_else(|| "-".to_owned()),
        ),
        ("groups", or_dash(render::cell(&agent.groups.join(", ")))),
        (
            "signatures",
            match agent.enforcing {
                Some(true) => "enforced".to_owned(),
                Some(false) => "reported only".to_owned(),
                None => "-".to_owned(),
            },
        ),
        (
            "command keys",
            or_dash(render::cell(
                &agent.command_keys.clone().unwrap_or_default().join(", "),
            )),
        ),
    ];
    if !agent.quarantined_versions.is_empty() {
        pairs.push((
            "quarantined",
            render::cell(&agent.quarantined_versions.join(", ")),
        ));
    }
    let mut out = render::pairs(&pairs);
    out.push_str("\neffective config:\n");
    out.push_str(&config::effective_table(effective));
    out
}

async fn versions(global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let counts = api_client(global)?.agent_versions().await?;
    if global.json {
        io.json(&counts)?;
        return Ok(EXIT_OK);
    }
    if counts.is_empty() {
        io.print("no machine has reported yet\n")?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = counts
        .iter()
        .map(|c| {
            vec![
                render::cell(&c.agent_version),
                c.machines.to_string(),
                c.online.to_string(),
            ]
        })
        .collect();
    io.print(&render::table(&["version", "machines", "online"], &rows))?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pc: &str, cpu: Option<f32>, rss: Option<u64>) -> AgentRow {
        AgentRow {
            pc_id: pc.to_owned(),
            hostname: format!("{pc}.lan"),
            os_family: "linux".to_owned(),
            os_version: "24.04".to_owned(),
            agent_version: "0.1.0".to_owned(),
            online: cpu.is_some(),
            first_seen: "2026-01-01T00:00:00Z".parse().unwrap(),
            last_heartbeat: "2026-01-31T17:59:48Z".parse().unwrap(),
            agent_cpu_pct: cpu,
            agent_rss_bytes: rss,
            quarantined_versions: Vec::new(),
            command_keys: None,
            enforcing: None,
            groups: Vec::new(),
            ..Default::default()
        }
    }

    #[test]
    fn the_fleet_table_shows_liveness_and_load() {
        let now = "2026-01-31T18:00:00Z".parse().unwrap();
        let got = agents_table(
            &[
                row("pc1", Some(0.25), Some(12 * 1024 * 1024)),
                row("pc2", None, None),
            ],
            now,
        );
        let want = "\
PC   HOST     OS           VERSION  ONLINE  LAST HEARTBEAT  CPU   RSS
pc1  pc1.lan  linux 24.04  0.1.0    yes     12s ago         0.2%  12.0 MiB
pc2  pc2.lan  linux 24.04  0.1.0    no      12s ago         -     -
";
        assert_eq!(got, want);
    }
}
