//! `ApiClient` methods that reach into one machine: the live output of an execution
//! (`GET /api/executions/{id}/tail`, Server-Sent Events read incrementally), a run's whole
//! output (`GET /api/results/{id}/output`, streamed) and the agent's log lines
//! (`GET /api/agents/{pc}/logs`).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use kanade_protocol::api::ErrorBody;
use kanade_protocol::reach::{LogsReply, OutputStream, TailChunk};
use reqwest::{Method, RequestBuilder};

use crate::client::{ApiClient, ClientError};

/// Streams stay open this long at most (the client's usual 60 s would cut them).
const STREAM_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// One message of the live output stream.
#[derive(Debug, Clone, PartialEq)]
pub enum TailEvent {
    Chunk(TailChunk),
    /// The execution (or the machine's run) is finished: `completed`, `expired`, `finished`.
    End(String),
}

/// An open live output stream; `next` yields events as they arrive.
pub struct TailStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    event: String,
    data: String,
    url: String,
}

impl TailStream {
    /// The next event; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Option<Result<TailEvent, ClientError>> {
        loop {
            while let Some(nl) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    let (event, data) = (
                        std::mem::take(&mut self.event),
                        std::mem::take(&mut self.data),
                    );
                    if let Some(parsed) = self.parse(&event, &data) {
                        return Some(parsed);
                    }
                    continue;
                }
                if let Some(value) = line.strip_prefix("event:") {
                    self.event = value.trim_start().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) => return None,
                Err(source) => {
                    return Some(Err(ClientError::Transport {
                        method: Method::GET,
                        url: self.url.clone(),
                        source,
                    }));
                }
            }
        }
    }

    fn parse(&self, event: &str, data: &str) -> Option<Result<TailEvent, ClientError>> {
        let decode = |message: String| ClientError::Decode {
            method: Method::GET,
            url: self.url.clone(),
            message,
        };
        match event {
            "chunk" => Some(
                serde_json::from_str::<TailChunk>(data)
                    .map(TailEvent::Chunk)
                    .map_err(|e| decode(format!("a chunk that does not decode: {e}"))),
            ),
            "end" => {
                let status = serde_json::from_str::<serde_json::Value>(data)
                    .ok()
                    .and_then(|v| v.get("status")?.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Some(Ok(TailEvent::End(status)))
            }
            _ => None,
        }
    }
}

impl ApiClient {
    /// Sends and returns the response while its body is still unread; a non-2xx answer
    /// becomes `ClientError::Api`.
    async fn open(&self, request: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let (client, request) = request.timeout(STREAM_TIMEOUT).build_split();
        let request = request.map_err(|err| ClientError::BaseUrl {
            url: self.base_url.to_string(),
            message: err.to_string(),
        })?;
        let (method, url) = (request.method().clone(), request.url().to_string());
        let response = client
            .execute(request)
            .await
            .map_err(|source| ClientError::Transport {
                method: method.clone(),
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(ClientError::Api {
            status,
            detail: serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .map(|b| b.error),
            body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
        })
    }

    /// `GET /api/executions/{exec_id}/tail?pc=`: live output until the run is finished.
    pub async fn tail(&self, exec_id: &str, pc: Option<&str>) -> Result<TailStream, ClientError> {
        let query = [("pc", pc.map(str::to_owned))];
        let request = self
            .request_with_query(Method::GET, &["api", "executions", exec_id, "tail"], &query)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let response = self.open(request).await?;
        let url = response.url().to_string();
        Ok(TailStream {
            response,
            buffer: Vec::new(),
            event: String::new(),
            data: String::new(),
            url,
        })
    }

    /// `GET /api/results/{result_id}/output?stream=`: the whole output, read piece by piece
    /// with `reqwest::Response::chunk`.
    pub async fn result_output(
        &self,
        result_id: &str,
        stream: OutputStream,
    ) -> Result<reqwest::Response, ClientError> {
        let query = [("stream", Some(stream.as_str().to_owned()))];
        let request = self.request_with_query(
            Method::GET,
            &["api", "results", result_id, "output"],
            &query,
        );
        self.open(request).await
    }

    /// `GET /api/agents/{pc_id}/logs?since=&grep=&lines=`.
    pub async fn agent_logs(
        &self,
        pc_id: &str,
        since: Option<DateTime<Utc>>,
        grep: Option<&str>,
        lines: Option<u32>,
    ) -> Result<LogsReply, ClientError> {
        let query = [
            (
                "since",
                since.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ),
            ("grep", grep.map(str::to_owned)),
            ("lines", lines.map(|n| n.to_string())),
        ];
        let request =
            self.request_with_query(Method::GET, &["api", "agents", pc_id, "logs"], &query);
        self.send(request).await
    }
}
