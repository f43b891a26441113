//! The remote terminal's WebSocket (`GET /api/agents/{pc_id}/terminal`): connect with the
//! session's bearer token (over TLS with the pinned CA, or the platform's roots), then send
//! keystrokes and resizes and read output until the server's `exit` frame.

use std::sync::Arc;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use kanade_protocol::api::ErrorBody;
use kanade_protocol::terminal::{Control, TerminalSession, TranscriptEntry};
use reqwest::Method;
use reqwest::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{ApiClient, ClientError};

/// Any byte stream the WebSocket can run over (TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = WebSocketStream<Box<dyn Io>>;

/// What arrives from the remote terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// `terminal: consent`: the machine's signed-in user is being asked.
    Waiting {
        message: String,
        timeout_secs: u64,
    },
    /// No session: the user declined, did not answer in time, or nobody is signed in.
    Refused(String),
    /// The shell runs; the session id names it in the audit log.
    Opened(String),
    Output(Vec<u8>),
    /// The session ended; nothing follows.
    Exit {
        code: Option<i32>,
        reason: String,
    },
}

/// The sending half.
pub struct TerminalWriter(SplitSink<Ws, Message>);
/// The receiving half.
pub struct TerminalReader(SplitStream<Ws>);

impl TerminalWriter {
    pub async fn input(&mut self, bytes: &[u8]) -> Result<(), tungstenite::Error> {
        self.0.send(Message::Binary(bytes.to_vec().into())).await
    }

    pub async fn resize(&mut self, rows: u16, cols: u16) -> Result<(), tungstenite::Error> {
        let text = serde_json::to_string(&Control::Resize { rows, cols }).unwrap_or_default();
        self.0.send(Message::Text(text.into())).await
    }

    pub async fn close(&mut self) {
        let _ = self.0.send(Message::Close(None)).await;
    }
}

impl TerminalReader {
    /// The next event; `None` when the connection ended without an `exit` frame.
    pub async fn next(&mut self) -> Option<TerminalEvent> {
        loop {
            match self.0.next().await? {
                Ok(Message::Binary(bytes)) => return Some(TerminalEvent::Output(bytes.to_vec())),
                Ok(Message::Text(text)) => match serde_json::from_str::<Control>(&text) {
                    Ok(Control::Opened { session_id }) => {
                        return Some(TerminalEvent::Opened(session_id));
                    }
                    Ok(Control::Exit { code, reason }) => {
                        return Some(TerminalEvent::Exit { code, reason });
                    }
                    Ok(Control::Waiting {
                        message,
                        timeout_secs,
                    }) => {
                        return Some(TerminalEvent::Waiting {
                            message,
                            timeout_secs,
                        });
                    }
                    Ok(Control::Refused { reason }) => {
                        return Some(TerminalEvent::Refused(reason));
                    }
                    _ => continue,
                },
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }
}

impl ApiClient {
    /// Opens a shell on `pc_id` of `rows` x `cols` (admin only).
    pub async fn open_terminal(
        &self,
        pc_id: &str,
        rows: u16,
        cols: u16,
    ) -> Result<(TerminalWriter, TerminalReader), ClientError> {
        let mut url = self.url(&["api", "agents", pc_id, "terminal"]);
        url.query_pairs_mut()
            .append_pair("rows", &rows.to_string())
            .append_pair("cols", &cols.to_string());
        let tls = url.scheme() == "https";
        let _ = url.set_scheme(if tls { "wss" } else { "ws" });
        let host = url.host_str().unwrap_or("localhost").to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| self.bad_url(&e.to_string()))?;
        if let Some(token) = &self.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            request.headers_mut().insert("authorization", value);
        }
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| self.bad_url(&format!("cannot connect: {e}")))?;
        let stream: Box<dyn Io> = if tls {
            let config = self.tls_config().map_err(|e| self.bad_url(&e))?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| self.bad_url(&e.to_string()))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| self.bad_url(&format!("TLS: {e}")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (ws, _) = match tokio_tungstenite::client_async(request, stream).await {
            Ok(done) => done,
            Err(tungstenite::Error::Http(response)) => {
                let status = StatusCode::from_u16(response.status().as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                let body = response.into_body().unwrap_or_default();
                let detail = serde_json::from_slice::<ErrorBody>(&body)
                    .ok()
                    .map(|b| b.error);
                return Err(ClientError::Api {
                    status,
                    detail,
                    body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
                });
            }
            Err(err) => return Err(self.bad_url(&format!("WebSocket: {err}"))),
        };
        let (sink, stream) = ws.split();
        Ok((TerminalWriter(sink), TerminalReader(stream)))
    }

    /// `GET /api/terminal-sessions[?pc_id=]`: audited sessions, newest first.
    pub async fn terminal_sessions(
        &self,
        pc_id: Option<&str>,
    ) -> Result<Vec<TerminalSession>, ClientError> {
        let query = [("pc_id", pc_id.map(str::to_owned))];
        let request = self.request_with_query(Method::GET, &["api", "terminal-sessions"], &query);
        self.send(request).await
    }

    /// `GET /api/terminal-sessions/{id}/transcript`.
    pub async fn terminal_transcript(
        &self,
        session_id: &str,
    ) -> Result<Vec<TranscriptEntry>, ClientError> {
        let request = self.request(
            Method::GET,
            &["api", "terminal-sessions", session_id, "transcript"],
        );
        let (method, url, bytes) = self.send_raw(request).await?;
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                serde_json::from_slice(line).map_err(|err| ClientError::Decode {
                    method: method.clone(),
                    url: url.clone(),
                    message: err.to_string(),
                })
            })
            .collect()
    }

    fn bad_url(&self, message: &str) -> ClientError {
        ClientError::BaseUrl {
            url: self.base_url.to_string(),
            message: message.to_owned(),
        }
    }

    /// The pinned CA when one was given, else the platform's roots.
    fn tls_config(&self) -> Result<rustls::ClientConfig, String> {
        let Some(path) = &self.ca_file else {
            use rustls_platform_verifier::ConfigVerifierExt;
            return rustls::ClientConfig::with_platform_verifier().map_err(|e| e.to_string());
        };
        use rustls::pki_types::pem::PemObject;
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}
