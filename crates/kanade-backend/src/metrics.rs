//! Prometheus metrics (`GET /metrics`): projector throughput, batch sizes, errors and lag,
//! machines online/offline, HTTP requests and latency by route. Each metric is documented in
//! the README.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectorLabel {
    pub projector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabel {
    pub consumer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub method: String,
    pub route: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct Inner {
    registry: Registry,
    messages: Family<ProjectorLabel, Counter>,
    errors: Family<ProjectorLabel, Counter>,
    batch_size: HistogramFamily<ProjectorLabel>,
    lag: Family<ConsumerLabel, Gauge>,
    agents: Family<StateLabel, Gauge>,
    requests: Family<RequestLabel, Counter>,
    latency: HistogramFamily<RouteLabel>,
}

/// Cheap to clone; every clone feeds the same registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 8))
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.5, 12))
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("kanade");
        let messages = Family::<ProjectorLabel, Counter>::default();
        let errors = Family::<ProjectorLabel, Counter>::default();
        let batch_size: HistogramFamily<ProjectorLabel> =
            Family::new_with_constructor(batch_histogram);
        let lag = Family::<ConsumerLabel, Gauge>::default();
        let agents = Family::<StateLabel, Gauge>::default();
        let requests = Family::<RequestLabel, Counter>::default();
        let latency: HistogramFamily<RouteLabel> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "projector_messages",
            "Messages a projector applied to SQLite",
            messages.clone(),
        );
        registry.register(
            "projector_errors",
            "Messages dropped as undecodable, or batches that failed to write",
            errors.clone(),
        );
        registry.register(
            "projector_batch_size",
            "Messages applied per transaction",
            batch_size.clone(),
        );
        registry.register(
            "consumer_pending_messages",
            "Messages of a durable consumer not yet delivered or acknowledged",
            lag.clone(),
        );
        registry.register("agents", "Machines by liveness", agents.clone());
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            messages,
            errors,
            batch_size,
            lag,
            agents,
            requests,
            latency,
        }))
    }
}

impl Metrics {
    pub fn applied(&self, projector: &str, n: usize) {
        let label = ProjectorLabel {
            projector: projector.to_owned(),
        };
        self.0.messages.get_or_create(&label).inc_by(n as u64);
        self.0.batch_size.get_or_create(&label).observe(n as f64);
    }

    pub fn error(&self, projector: &str) {
        self.0
            .errors
            .get_or_create(&ProjectorLabel {
                projector: projector.to_owned(),
            })
            .inc();
    }

    pub fn set_lag(&self, consumer: &str, pending: u64) {
        let label = ConsumerLabel {
            consumer: consumer.to_owned(),
        };
        self.0
            .lag
            .get_or_create(&label)
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    pub fn set_agents(&self, online: i64, offline: i64) {
        self.0
            .agents
            .get_or_create(&StateLabel {
                state: "online".into(),
            })
            .set(online);
        self.0
            .agents
            .get_or_create(&StateLabel {
                state: "offline".into(),
            })
            .set(offline);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.0.registry) {
            tracing::error!(%err, "encoding metrics");
        }
        out
    }
}

/// Middleware: counts requests and records latency by matched route (never by raw path, so
/// ids do not explode the label set).
pub async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    metrics
        .0
        .requests
        .get_or_create(&RequestLabel {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .0
        .latency
        .get_or_create(&RouteLabel { method, route })
        .observe(elapsed);
    response
}
