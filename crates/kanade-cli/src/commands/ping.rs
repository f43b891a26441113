//! `kanade ping <pc>`: the backend asks the machine over NATS and waits up to 5 s. Exits 1 when
//! it did not answer.

use kanade_protocol::api::PingResult;

use crate::cli::{Global, PingArgs};
use crate::commands::{Io, api_client, check_pc};
use crate::{EXIT_FAILED, EXIT_OK};

/// How long the backend waits for the answer (`api/agents.rs`).
pub const PING_WAIT_SECS: u64 = 5;

pub async fn run(args: PingArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    check_pc(&args.pc)?;
    let result = api_client(global)?.ping(&args.pc).await?;
    match global.json {
        true => io.json(&result)?,
        false => io.print(&format!("{}\n", describe(&result)))?,
    }
    Ok(if result.answered {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// `pc answered in 3.2 ms (agent 0.1.0, host web-01)` or `pc: no answer in 5 s`.
pub fn describe(result: &PingResult) -> String {
    if !result.answered {
        return format!("{}: no answer in {PING_WAIT_SECS} s", result.pc_id);
    }
    let mut line = format!("{} answered", result.pc_id);
    if let Some(ms) = result.rtt_ms {
        line.push_str(&format!(" in {ms:.1} ms"));
    }
    if let Some(beat) = &result.heartbeat {
        let mut facts = vec![format!("agent {}", beat.agent_version)];
        if !beat.hostname.is_empty() {
            facts.push(format!("host {}", crate::render::cell(&beat.hostname)));
        }
        line.push_str(&format!(" ({})", facts.join(", ")));
    }
    line
}
