//! Answers `logs.fetch.<pc>` (request/reply) with the agent's own log lines: the daily files
//! `kanade-agent.<date>.log` in the `[log] path` folder (see `logging`), the newest lines
//! kept, filtered by age and plain text, capped in size so the reply fits one broker message.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use async_nats::Client;
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use kanade_protocol::reach::{
    LOGS_DEFAULT_LINES, LOGS_MAX_BYTES, LOGS_MAX_LINES, LogsReply, LogsRequest,
};
use kanade_protocol::subject;

/// Answers log requests until the connection ends. `folder` is where the log files are, or
/// `None` when this agent writes none.
pub async fn serve(client: Client, pc_id: String, folder: Option<PathBuf>) {
    let mut requests = loop {
        match client.subscribe(subject::logs_fetch(&pc_id)).await {
            Ok(sub) => break sub,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for log requests; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    };
    while let Some(msg) = requests.next().await {
        let Some(reply_to) = msg.reply else {
            continue;
        };
        // Room for the JSON around the text (escapes included) in one broker message.
        let max_payload = client.server_info().max_payload;
        let cap = match max_payload {
            0 => LOGS_MAX_BYTES,
            max => LOGS_MAX_BYTES.min(max / 4 * 3),
        };
        let reply = match serde_json::from_slice::<LogsRequest>(&msg.payload) {
            Ok(request) => {
                let (pc_id, folder) = (pc_id.clone(), folder.clone());
                tokio::task::spawn_blocking(move || {
                    answer(&pc_id, folder.as_deref(), &request, cap)
                })
                .await
                .unwrap_or_default()
            }
            Err(err) => LogsReply {
                pc_id: pc_id.clone(),
                error: Some(format!("the log request could not be read: {err}")),
                ..LogsReply::default()
            },
        };
        let mut payload = serde_json::to_vec(&reply).unwrap_or_default();
        if max_payload > 0 && payload.len() > max_payload {
            let short = LogsReply {
                pc_id: pc_id.clone(),
                truncated: true,
                error: Some(
                    "the log lines did not fit in one broker message; ask for fewer".into(),
                ),
                ..LogsReply::default()
            };
            payload = serde_json::to_vec(&short).unwrap_or_default();
        }
        if let Err(err) = client.publish(reply_to, payload.into()).await {
            tracing::debug!(error = %err, "a log reply was not sent");
        }
    }
}

/// The reply to `request` from the files in `folder`, at most `cap` bytes of text.
pub fn answer(pc_id: &str, folder: Option<&Path>, request: &LogsRequest, cap: usize) -> LogsReply {
    let mut reply = LogsReply {
        pc_id: pc_id.to_owned(),
        ..LogsReply::default()
    };
    let Some(folder) = folder else {
        reply.error = Some(
            "this agent writes no log file: set [log] path (and keep_days > 0) in agent.toml"
                .into(),
        );
        return reply;
    };
    let files = match day_files(folder) {
        Ok(files) => files,
        Err(err) => {
            reply.error = Some(format!("cannot list {}: {err}", folder.display()));
            return reply;
        }
    };
    let since_day = request.since.map(|t| t.date_naive());
    let wanted = request
        .lines
        .unwrap_or(LOGS_DEFAULT_LINES)
        .clamp(1, LOGS_MAX_LINES) as usize;
    let grep = request.grep.as_deref().filter(|g| !g.is_empty());
    let mut kept: VecDeque<String> = VecDeque::new();
    let mut bytes = 0usize;
    for (day, path) in files {
        if since_day.is_some_and(|since| day < since) {
            continue;
        }
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) => {
                reply.error = Some(format!("cannot read {}: {err}", path.display()));
                continue;
            }
        };
        reply.files.push(path.display().to_string());
        for line in std::io::BufReader::new(file).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            if grep.is_some_and(|g| !line.contains(g)) {
                continue;
            }
            if let (Some(since), Some(at)) = (request.since, leading_time(&line))
                && at < since
            {
                continue;
            }
            bytes += line.len() + 1;
            kept.push_back(line);
            while kept.len() > wanted || bytes > cap {
                let Some(old) = kept.pop_front() else { break };
                bytes -= old.len() + 1;
                reply.truncated = true;
            }
        }
    }
    for line in kept {
        reply.text.push_str(&line);
        reply.text.push('\n');
    }
    reply
}

/// `kanade-agent.<YYYY-MM-DD>.log` files in `folder`, oldest first.
fn day_files(folder: &Path) -> std::io::Result<Vec<(NaiveDate, PathBuf)>> {
    let prefix = format!("{}.", kanade_protocol::logs::file_prefix("agent"));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(date) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".log"))
        else {
            continue;
        };
        let Ok(day) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
            continue;
        };
        files.push((day, entry.path()));
    }
    files.sort();
    Ok(files)
}

/// The RFC 3339 time a `tracing` line starts with, if any.
fn leading_time(line: &str) -> Option<DateTime<Utc>> {
    let first = line.split_whitespace().next()?;
    DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, day: &str, lines: &[&str]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.join(format!("kanade-agent.{day}.log")), text).unwrap();
    }

    #[test]
    fn newest_lines_of_the_day_files_filtered_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "2026-01-01",
            &[
                "2026-01-01T10:00:00Z  INFO old start",
                "2026-01-01T11:00:00Z  WARN old trouble",
            ],
        );
        write(
            dir.path(),
            "2026-01-02",
            &[
                "2026-01-02T09:00:00Z  INFO new start",
                "2026-01-02T09:30:00Z  WARN new trouble",
            ],
        );
        std::fs::write(dir.path().join("unrelated.txt"), "x").unwrap();
        let all = answer("pc1", Some(dir.path()), &LogsRequest::default(), 1 << 20);
        assert_eq!(all.text.lines().count(), 4);
        assert!(all.text.starts_with("2026-01-01T10"), "{}", all.text);
        assert_eq!(all.files.len(), 2);
        assert!(!all.truncated);

        let grep = LogsRequest {
            grep: Some("trouble".into()),
            lines: Some(1),
            ..LogsRequest::default()
        };
        let one = answer("pc1", Some(dir.path()), &grep, 1 << 20);
        assert_eq!(one.text, "2026-01-02T09:30:00Z  WARN new trouble\n");
        assert!(one.truncated);

        let since = LogsRequest {
            since: Some("2026-01-02T09:15:00Z".parse().unwrap()),
            ..LogsRequest::default()
        };
        let recent = answer("pc1", Some(dir.path()), &since, 1 << 20);
        assert_eq!(recent.text, "2026-01-02T09:30:00Z  WARN new trouble\n");
        assert_eq!(recent.files.len(), 1);

        let capped = answer("pc1", Some(dir.path()), &LogsRequest::default(), 60);
        assert_eq!(capped.text.lines().count(), 1);
        assert!(capped.truncated);
    }

    #[test]
    fn an_agent_without_a_log_folder_says_how_to_get_one() {
        let reply = answer("pc1", None, &LogsRequest::default(), 1 << 20);
        assert!(reply.error.unwrap().contains("[log] path"));
    }
}
