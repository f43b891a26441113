//! The boot sequence of `serve`, top to bottom: database (finishing an interrupted wipe),
//! accounts, broker, JetStream resources, consumer reset after a wipe, projectors under
//! supervision, then the API until shutdown. HTTP listens from right after the database:
//! until the rest is up, `/health` answers `starting` or `degraded` with the reason (`boot`).
//! Every task started here lives in one `JoinSet`, so when `serve` returns (or its future is
//! dropped) they all stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use async_nats::jetstream;
use axum::serve::ListenerExt;
use kanade_protocol::names;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::auth::{self, AuthSettings};
use crate::boot::Boot;
use crate::config::BackendConfig;
use crate::live::LiveHub;
use crate::manifests::ManifestCache;
use crate::metrics::Metrics;
use crate::projector::{self, Replica, supervise};
use crate::state::AppState;
use crate::store::Store;

/// Which projection table each durable consumer fills. When the table is empty but the
/// consumer exists, the database was wiped: the consumer is deleted so it replays.
const REPLAYED: &[(&str, &str, &str)] = &[
    (
        names::STREAM_RESULTS,
        names::CONSUMER_RESULTS,
        "execution_results",
    ),
    (
        names::STREAM_EVENTS,
        names::CONSUMER_EVENTS,
        "execution_results",
    ),
    (names::STREAM_AUDIT, names::CONSUMER_AUDIT, "audit_log"),
    (
        names::STREAM_OBS_EVENTS,
        names::CONSUMER_OBS_EVENTS,
        "obs_events",
    ),
    (
        names::STREAM_NOTIFICATIONS,
        names::CONSUMER_NOTIFICATIONS,
        "notifications",
    ),
    (
        names::STREAM_INVENTORY,
        names::CONSUMER_INVENTORY,
        "inventory_facts",
    ),
    (
        names::STREAM_EVENTS,
        names::CONSUMER_NOTIFICATION_ACKS,
        "notification_acks",
    ),
];

/// Runs the backend on `listener` until `shutdown` resolves.
pub async fn serve(
    config: BackendConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db_path = config.db.sqlite_path.clone();
    let newer = db_path.clone();
    if let Some(rebuilt) =
        tokio::task::spawn_blocking(move || crate::wipe::rebuild_if_newer(&newer)).await??
    {
        tracing::warn!(
            found = rebuilt.found,
            known = rebuilt.known,
            backup = %rebuilt.backup.display(),
            accounts = rebuilt.accounts,
            "the database was migrated by a newer backend (schema {} > {}): copied it aside, \
             wiped the read model keeping the accounts; the streams replay into it now",
            rebuilt.found,
            rebuilt.known
        );
    }
    let store = Store::open_capped(&db_path, config.db.max_size_mib).await?;
    if tokio::task::spawn_blocking(move || crate::wipe::recover(&db_path)).await?? {
        tracing::warn!("finished an interrupted wipe: accounts restored");
    }
    tracing::info!(
        path = %config.db.sqlite_path.display(),
        schema = crate::store::snapshot::schema_version(),
        "database ready"
    );

    let data_dir = config.data_dir();
    let ttl = chrono::Duration::from_std(config.auth.session_ttl.0)
        .context("session_ttl is too large")?;
    let auth = Arc::new(AuthSettings::new(&config.secrets, &data_dir, ttl)?);
    let signer = Arc::new(crate::signer::Signer::load_or_create(&data_dir)?);

    // HTTP from here on: `/health` says "starting" (or why not) until the API is ready.
    let boot = Boot::default();
    let addr = listener.local_addr()?;
    let https = match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(cert), Some(key)) => Some(crate::https::server_config(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!(
            "[server] tls_cert and tls_key go together: set both for HTTPS, or neither"
        ),
    };
    let app = boot
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let mut http: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match https
    {
        Some(tls) => {
            // `tap_io` gives the TLS listener axum's ConnectInfo<SocketAddr>.
            let listener = crate::https::TlsListener::new(listener, tls)?.tap_io(|_| {});
            Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .into_future(),
            )
        }
        None => Box::pin(
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .into_future(),
        ),
    };
    let scheme = if config.server.tls_cert.is_some() {
        "HTTPS"
    } else {
        "HTTP"
    };
    tracing::info!(%addr, scheme, "listening; /health answers while the rest starts");
    let started = tokio::select! {
        ended = http.as_mut() => {
            ended.context("HTTP server failed")?;
            tracing::info!("backend stopped before it was ready");
            return Ok(());
        }
        started = start(config, store, auth, signer, &boot) => started?,
    };
    boot.ready(started.app);
    tracing::info!(%addr, "HTTP API ready");
    http.await.context("HTTP server failed")?;
    let mut tasks = started.tasks;
    tasks.shutdown().await;
    tracing::info!("backend stopped");
    Ok(())
}

/// What a finished start hands to `serve`: the API and the tasks behind it.
struct Started {
    app: axum::Router,
    tasks: JoinSet<()>,
}

/// Everything that needs the broker, up to the API router.
async fn start(
    config: BackendConfig,
    store: Store,
    auth: Arc<AuthSettings>,
    signer: Arc<crate::signer::Signer>,
    boot: &Boot,
) -> anyhow::Result<Started> {
    let (nats, keys) = crate::access::connect_backend(&config).await?;
    boot.connected(&nats);
    let js = jetstream::new(nats.clone());
    let report = ensure_resources_when_reachable(&js, boot, config.nats.replicas).await?;
    tracing::info!(
        streams = report.streams.len(),
        buckets = report.buckets.len(),
        object_stores = report.object_stores.len(),
        "JetStream resources ready"
    );
    signer.publish_current(&js).await?;
    // Server settings the broker enforces (ensure_resources just reset them to the defaults).
    let stored = crate::settings::read_or_default(&js).await;
    if let Err(err) = crate::settings::apply_output_retention(&js, &stored).await {
        tracing::warn!(
            error = format!("{err:#}"),
            "result_output retention not applied"
        );
    }
    let keep = config.retention.terminal_transcripts.0;
    if let Err(err) = crate::terminal::apply_retention(&js, keep).await {
        tracing::warn!(
            error = format!("{err:#}"),
            "terminal transcript retention not applied"
        );
    }
    let accounts = crate::accounts::Accounts::open(&js, &store).await?;
    crate::accounts::mirror::publish_legacy(&accounts).await?;
    let mut tasks = JoinSet::new();
    let a = accounts.clone();
    tasks.spawn(supervise("accounts read model", move || {
        crate::accounts::mirror::run_accounts(a.clone())
    }));
    let a = accounts.clone();
    tasks.spawn(supervise("sessions read model", move || {
        crate::accounts::mirror::run_sessions(a.clone())
    }));
    accounts.synced().await;
    auth::bootstrap_admin(&accounts, &config.secrets, &config.data_dir()).await?;
    let registry = crate::access::Registry::open(&js).await?;
    let kicker = match &keys {
        Some(keys) => Some(crate::access::connect_system(&config, keys).await?),
        None => None,
    };
    let access = Arc::new(crate::access::BrokerAccess {
        registry: registry.clone(),
        kicker,
    });
    if let Some(name) = config.server.replica.as_deref() {
        anyhow::ensure!(
            kanade_protocol::subject::is_valid_token(name),
            "[server] replica `{name}` may use letters, digits, '-' and '_' only"
        );
    }
    let replica = Replica(config.server.replica.as_deref().map(Arc::from));
    reset_consumers_if_wiped(&js, &store, &replica).await?;
    let horizon = crate::alerts::replay_horizon(&js, &store).await?;
    let manifests = ManifestCache::default();
    crate::manifests::prewarm(&js, &store, &manifests).await?;
    let mailer = crate::mail::Mailer::from_config(config.mail.as_ref()).map(Arc::new);
    let (alert_queue, alert_rx) = crate::alerts::queue();

    let metrics = Metrics::default();
    let live = LiveHub::default();
    let wiring = Wiring {
        js: &js,
        store: &store,
        metrics: &metrics,
        live: &live,
        replica: &replica,
    };
    spawn_projectors(&mut tasks, &nats, &wiring);
    let results = Arc::new(projector::results::Results {
        manifests: manifests.clone(),
        alerts: alert_queue,
        horizon,
        deltas: Default::default(),
    });
    spawn_hint_tasks(&mut tasks, &wiring, &manifests, results);
    tasks.spawn(crate::alerts::run(alert_rx, js.clone(), mailer));
    spawn_loops(&mut tasks, &js, &store, &config, &live, &signer);
    let (j, s, a) = (js.clone(), store.clone(), access.clone());
    tasks.spawn(supervise("derived groups", move || {
        crate::derived_groups::run(j.clone(), s.clone(), a.clone())
    }));
    if let Some(keys) = keys {
        let callout = crate::access::callout::Callout {
            nats: nats.clone(),
            js: js.clone(),
            registry,
            issuer: Arc::new(keys.issuer),
            auth: auth.clone(),
            store: store.clone(),
        };
        tasks.spawn(supervise("auth callout", move || {
            crate::access::callout::run(callout.clone())
        }));
    }

    let state = AppState {
        store,
        nats,
        js,
        config: Arc::new(config),
        auth,
        metrics,
        live,
        manifests,
        totals: Arc::default(),
        signer,
        access,
        accounts,
    };
    Ok(Started {
        app: crate::api::router(state),
        tasks,
    })
}

/// The broker may come up after the backend, or have too little storage: keep trying,
/// loudly, instead of exiting. Too little storage is an ERROR naming what to change, and
/// `/health` shows it (`degraded`) until the broker has room.
async fn ensure_resources_when_reachable(
    js: &jetstream::Context,
    boot: &Boot,
    replicas: Option<usize>,
) -> anyhow::Result<kanade_bus::resources::SetupReport> {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match kanade_bus::resources::ensure_resources_replicated(js, replicas).await {
            Ok(report) => {
                boot.degraded(None);
                return Ok(report);
            }
            Err(err) => {
                match err.downcast_ref::<kanade_bus::resources::InsufficientStorage>() {
                    Some(short) => {
                        tracing::error!(problem = %short, "JetStream cannot hold kanade's streams; retrying");
                        boot.degraded(Some(short.to_string()));
                    }
                    None => {
                        tracing::warn!(error = format!("{err:#}"), "JetStream not ready; retrying");
                        boot.degraded(Some(format!("JetStream not ready: {err:#}")));
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
}

async fn reset_consumers_if_wiped(
    js: &jetstream::Context,
    store: &Store,
    replica: &Replica,
) -> anyhow::Result<()> {
    for (stream_name, consumer, table) in REPLAYED {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        let has_rows: bool = store
            .read(move |c| c.query_row(&sql, [], |r| r.get(0)))
            .await?;
        if has_rows {
            continue;
        }
        let stream = js
            .get_stream(*stream_name)
            .await
            .with_context(|| format!("opening stream {stream_name}"))?;
        let consumer = replica.consumer(consumer);
        if stream.consumer_info(&consumer).await.is_ok() {
            stream
                .delete_consumer(&consumer)
                .await
                .with_context(|| format!("deleting consumer {consumer}"))?;
            tracing::warn!(
                consumer = %consumer,
                table,
                "projection table is empty: replaying {stream_name} from the start"
            );
        }
    }
    Ok(())
}

fn spawn_loops(
    tasks: &mut JoinSet<()>,
    js: &jetstream::Context,
    store: &Store,
    config: &BackendConfig,
    live: &LiveHub,
    signer: &Arc<crate::signer::Signer>,
) {
    let (j, s, l) = (js.clone(), store.clone(), live.clone());
    let offline_after = chrono::Duration::from_std(config.telemetry.offline_after.0)
        .unwrap_or(chrono::Duration::minutes(2));
    let every = config
        .telemetry
        .watchdog_interval
        .0
        .max(std::time::Duration::from_millis(200));
    tasks.spawn(supervise("heartbeat watchdog", move || {
        crate::watchdog::run(j.clone(), s.clone(), l.clone(), offline_after, every)
    }));
    let (s, telemetry, retention) = (
        store.clone(),
        config.telemetry.clone(),
        config.retention.clone(),
    );
    tasks.spawn(supervise("housekeeping", move || {
        crate::housekeeping::run(s.clone(), telemetry.clone(), retention.clone())
    }));
    let fanout = crate::exec::Fanout {
        js: js.clone(),
        store: store.clone(),
        live: live.clone(),
        online_window: offline_after,
        ack_timeout: config.nats.ack_timeout.0,
        signer: signer.clone(),
        approval_expires_after: config.approval.expires_after(),
    };
    let every = config.approval.check_every.0;
    tasks.spawn(supervise("approval expiry", move || {
        crate::approval::run(fanout.clone(), every)
    }));
    let (j, s) = (js.clone(), store.clone());
    let every = config
        .telemetry
        .housekeeping_interval
        .0
        .max(std::time::Duration::from_secs(1));
    tasks.spawn(supervise("agent pruning", move || {
        crate::settings::prune_loop(j.clone(), s.clone(), every)
    }));
    if config.scheduler.enabled {
        let fanout = crate::exec::Fanout {
            js: js.clone(),
            store: store.clone(),
            live: live.clone(),
            online_window: offline_after,
            ack_timeout: config.nats.ack_timeout.0,
            signer: signer.clone(),
            approval_expires_after: config.approval.expires_after(),
        };
        let settings = crate::scheduler::Settings {
            holder: crate::scheduler::lease::identity(&config.data_dir())
                .unwrap_or_else(|_| format!("backend-{}", uuid::Uuid::new_v4())),
            lease_ttl: config
                .scheduler
                .lease_ttl
                .0
                .max(std::time::Duration::from_millis(300)),
            reconcile_every: config
                .scheduler
                .reconcile_every
                .0
                .max(std::time::Duration::from_millis(100)),
        };
        tasks.spawn(supervise("scheduler", move || {
            crate::scheduler::run(fanout.clone(), settings.clone())
        }));
    }
}

fn spawn_projectors(tasks: &mut JoinSet<()>, nats: &async_nats::Client, wiring: &Wiring<'_>) {
    spawn_stream(
        tasks,
        "events projector",
        Arc::new(projector::events::Started),
        wiring,
    );
    spawn_stream(
        tasks,
        "audit projector",
        Arc::new(projector::audit::Audit),
        wiring,
    );
    spawn_stream(
        tasks,
        "timeline projector",
        Arc::new(projector::obs::Timeline),
        wiring,
    );
    spawn_stream(
        tasks,
        "legacy inventory projector",
        Arc::new(projector::inventory_feed::LegacyFeed),
        wiring,
    );
    let (store, metrics) = (wiring.store, wiring.metrics);
    let (n, s, m) = (nats.clone(), store.clone(), metrics.clone());
    tasks.spawn(supervise("heartbeat projector", move || {
        projector::heartbeat::run(n.clone(), s.clone(), m.clone())
    }));
    let (n, s, m) = (nats.clone(), store.clone(), metrics.clone());
    tasks.spawn(supervise("host perf projector", move || {
        projector::perf::run_host(n.clone(), s.clone(), m.clone())
    }));
    let (n, s, m) = (nats.clone(), store.clone(), metrics.clone());
    tasks.spawn(supervise("process perf projector", move || {
        projector::perf::run_process(n.clone(), s.clone(), m.clone())
    }));
}

/// Runs one stream projector under supervision.
fn spawn_stream<P: projector::Projection>(
    tasks: &mut JoinSet<()>,
    name: &'static str,
    projection: Arc<P>,
    wiring: &Wiring<'_>,
) {
    let (j, s, m) = (
        wiring.js.clone(),
        wiring.store.clone(),
        wiring.metrics.clone(),
    );
    let (l, r) = (wiring.live.clone(), wiring.replica.clone());
    tasks.spawn(supervise(name, move || {
        projector::run(
            projection.clone(),
            j.clone(),
            s.clone(),
            m.clone(),
            l.clone(),
            r.clone(),
        )
    }));
}

/// What every projector task needs, borrowed for spawning.
#[derive(Clone, Copy)]
struct Wiring<'a> {
    js: &'a jetstream::Context,
    store: &'a Store,
    metrics: &'a Metrics,
    live: &'a LiveHub,
    replica: &'a Replica,
}

/// The projectors and loops of inventory, checks and notifications: results (with its hint
/// processing), sent notifications, acks, and the KV `jobs` watch behind the manifest cache.
fn spawn_hint_tasks(
    tasks: &mut JoinSet<()>,
    wiring: &Wiring<'_>,
    manifests: &ManifestCache,
    results: Arc<projector::results::Results>,
) {
    spawn_stream(tasks, "results projector", results, wiring);
    spawn_stream(
        tasks,
        "notifications projector",
        Arc::new(projector::notifications::Sent),
        wiring,
    );
    spawn_stream(
        tasks,
        "notification acks projector",
        Arc::new(projector::notifications::Acks),
        wiring,
    );
    let (js, store) = (wiring.js, wiring.store);
    let (j, s, c) = (js.clone(), store.clone(), manifests.clone());
    tasks.spawn(supervise("manifest cache", move || {
        crate::manifests::watch(j.clone(), s.clone(), c.clone())
    }));
}
