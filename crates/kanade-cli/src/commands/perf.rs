//! `kanade perf <pc> [--since 1h] [--step 5m]` (a machine's host performance, one averaged row
//! per step), `kanade perf fleet` (percentiles now, the fleet's average and maximum over time)
//! and `kanade perf top [--metric cpu|mem|disk|net]` (machines ranked by their latest sample).

use chrono::Utc;
use kanade_protocol::api::{FleetPerf, PerfPoint, TopEntry};

use crate::cli::{Global, MetricArg, PerfArgs, PerfCommand, PerfRangeArgs};
use crate::client::PerfRange;
use crate::commands::audit::parse_time_ago;
use crate::commands::{Io, api_client, check_pc};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(args: PerfArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    match args.command {
        Some(PerfCommand::Fleet { range }) => {
            let fleet = client.fleet_perf(&perf_range(&range)?).await?;
            match global.json {
                true => io.json(&fleet)?,
                false => io.print(&fleet_view(&fleet))?,
            }
        }
        Some(PerfCommand::Top { metric, limit }) => {
            let top = client.perf_top(metric.as_str(), limit).await?;
            match global.json {
                true => io.json(&top)?,
                false if top.is_empty() => {
                    io.print("no machine sent performance samples recently\n")?
                }
                false => io.print(&top_table(&top, metric))?,
            }
        }
        None => {
            let Some(pc) = args.pc else {
                return Err(BadInput::err("name a machine, or `fleet` or `top`"));
            };
            check_pc(&pc)?;
            let series = client.agent_perf(&pc, &perf_range(&args.range)?).await?;
            if global.json {
                io.json(&series)?;
                return Ok(EXIT_OK);
            }
            if series.points.is_empty() {
                io.print(&format!(
                    "no performance samples from {pc} between {} and {}\n",
                    render::time(series.from),
                    render::time(series.to)
                ))?;
                return Ok(EXIT_OK);
            }
            io.print(&points_table(&series.points))?;
            io.note(&format!(
                "{pc}: {} point(s), one per {}s",
                series.points.len(),
                series.step_secs
            ));
        }
    }
    Ok(EXIT_OK)
}

/// `--since` / `--until` / `--step` as the API range.
pub fn perf_range(args: &PerfRangeArgs) -> anyhow::Result<PerfRange> {
    let now = Utc::now();
    let from = parse_time_ago("--since", &args.since, now).map_err(BadInput::err)?;
    let to = args
        .until
        .as_deref()
        .map(|t| parse_time_ago("--until", t, now).map_err(BadInput::err))
        .transpose()?;
    if from >= to.unwrap_or(now) {
        return Err(BadInput::err("--since must be before --until (or now)"));
    }
    if args.step.as_secs() == 0 {
        return Err(BadInput::err("--step: must be 1s or more"));
    }
    Ok(PerfRange {
        from: Some(from),
        to,
        step_secs: Some(args.step.as_secs()),
    })
}

/// One row per averaged point: time, cpu, memory used (and its share), disk and network rates.
pub fn points_table(points: &[PerfPoint]) -> String {
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            let mem_pct = match p.mem_total_bytes > 0.0 {
                true => 100.0 * p.mem_used_bytes / p.mem_total_bytes,
                false => 0.0,
            };
            vec![
                render::time(p.at),
                render::percent(p.cpu_pct),
                format!(
                    "{} ({})",
                    render::bytes(p.mem_used_bytes.max(0.0).round() as u64),
                    render::percent(mem_pct)
                ),
                render::rate(p.disk_read_bytes_per_sec),
                render::rate(p.disk_written_bytes_per_sec),
                render::rate(p.net_rx_bytes_per_sec),
                render::rate(p.net_tx_bytes_per_sec),
            ]
        })
        .collect();
    render::table(
        &[
            "at",
            "cpu",
            "memory",
            "disk read",
            "disk write",
            "net in",
            "net out",
        ],
        &rows,
    )
}

/// The percentiles over the machines' latest samples, then the fleet's series.
pub fn fleet_view(fleet: &FleetPerf) -> String {
    let trio = |a, b, c| {
        format!(
            "{} / {} / {}",
            render::percent(a),
            render::percent(b),
            render::percent(c)
        )
    };
    let mut out = render::pairs(&[
        ("machines", fleet.machines.to_string()),
        (
            "cpu p50/p90/p99",
            trio(fleet.cpu_p50, fleet.cpu_p90, fleet.cpu_p99),
        ),
        (
            "memory p50/p90/p99",
            trio(fleet.mem_pct_p50, fleet.mem_pct_p90, fleet.mem_pct_p99),
        ),
    ]);
    if !fleet.series.is_empty() {
        let rows: Vec<Vec<String>> = fleet
            .series
            .iter()
            .map(|p| {
                vec![
                    render::time(p.at),
                    p.machines.to_string(),
                    render::percent(p.cpu_avg),
                    render::percent(p.cpu_max),
                    render::percent(p.mem_pct_avg),
                    render::percent(p.mem_pct_max),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&render::table(
            &["at", "machines", "cpu avg", "cpu max", "mem avg", "mem max"],
            &rows,
        ));
    }
    out
}

/// pc, the metric's value (percent for cpu and mem, a rate for disk and net), sampled at.
pub fn top_table(top: &[TopEntry], metric: MetricArg) -> String {
    let rows: Vec<Vec<String>> = top
        .iter()
        .map(|t| {
            let value = match metric {
                MetricArg::Cpu | MetricArg::Mem => render::percent(t.value),
                MetricArg::Disk | MetricArg::Net => render::rate(t.value),
            };
            vec![render::cell(&t.pc_id), value, render::time(t.at)]
        })
        .collect();
    render::table(&["pc", metric.as_str(), "sampled"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(line: &str) -> Result<PerfArgs, String> {
        let args = ["kanade", "perf"]
            .into_iter()
            .chain(line.split_whitespace());
        match Cli::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Perf(args) => Ok(args),
            other => panic!("not perf: {other:?}"),
        }
    }

    #[test]
    fn perf_takes_a_machine_or_a_subcommand() {
        let args = parse("pc1 --since 2h --step 10m").unwrap();
        assert_eq!(args.pc.as_deref(), Some("pc1"));
        assert!(args.command.is_none());
        assert_eq!(args.range.since, "2h");
        assert_eq!(args.range.step.as_secs(), 600);
        let args = parse("pc1").unwrap();
        assert_eq!(
            (args.range.since.as_str(), args.range.step.as_secs()),
            ("1h", 300)
        );
        let args = parse("fleet --since 6h").unwrap();
        let Some(PerfCommand::Fleet { range }) = args.command else {
            panic!("not fleet")
        };
        assert_eq!(range.since, "6h");
        let args = parse("top --metric mem --limit 3").unwrap();
        assert!(matches!(
            args.command,
            Some(PerfCommand::Top {
                metric: MetricArg::Mem,
                limit: 3
            })
        ));
        let args = parse("-- fleet").unwrap();
        assert_eq!(args.pc.as_deref(), Some("fleet"));
        assert!(parse("").unwrap_err().contains("required"));
        assert!(
            parse("top --metric gpu")
                .unwrap_err()
                .contains("invalid value 'gpu'")
        );
    }

    #[test]
    fn ranges_are_checked_before_sending() {
        let range = |since: &str, until: Option<&str>, step: &str| PerfRangeArgs {
            since: since.to_owned(),
            until: until.map(str::to_owned),
            step: step.parse().unwrap(),
        };
        let ok = perf_range(&range("1h", None, "5m")).unwrap();
        assert_eq!(ok.step_secs, Some(300));
        assert!(ok.to.is_none());
        for (args, want) in [
            (range("1h", Some("2h"), "5m"), "--since must be before"),
            (range("soon", None, "5m"), "--since: `soon` is neither"),
            (range("1h", None, "0"), "--step: must be 1s or more"),
        ] {
            let err = perf_range(&args).unwrap_err();
            assert!(err.is::<BadInput>());
            assert!(err.to_string().starts_with(want), "{err}");
        }
    }
}
