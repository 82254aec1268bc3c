//! `eventlistener serve`: load manifests, bind, serve until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::event_listener::status::{StatusOptions, StatusWriter, record_event_notices};
use crate::event_listener::{Listener, ListenerHandle, LoadOptions, follow_cluster};
use crate::resources::{Creator, DirCreator, KubeCreator, NullCreator, StdoutCreator};
use crate::secrets::KubeSecrets;
use crate::sink::limits::{
    DEFAULT_MAX_INFLIGHT_BODY_BYTES, DEFAULT_MAX_INFLIGHT_EVENTS, InflightLimits,
};
use crate::sink::{
    AppState, DEFAULT_DRAIN_DELAY, DEFAULT_EVENT_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT,
    DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_WRITE_TIMEOUT, ServeOptions, serve_with,
};

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Manifest file or directory (multi-document YAML or JSON; directories are read
    /// recursively). Repeatable.
    /// Without `-f`, the EventListener `--listener` and what it references are read (and
    /// followed) from the cluster.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub(super) files: Vec<PathBuf>,
    /// EventListener to serve when the manifests hold several.
    #[arg(long, env = "EL_NAME")]
    pub listener: Option<String>,
    /// Namespace of objects that name none (default: the EventListener's, else `default`).
    #[arg(long, env = "EL_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080", env = "EL_ADDRESS")]
    pub address: SocketAddr,
    /// Where created objects go: `kube` (the Kubernetes API: in-cluster service account or
    /// KUBECONFIG), `stdout`, `dir:PATH` (one JSON file per object), or `null` (nowhere: for
    /// benchmarks and load tests). Default: `stdout` with `-f`, `kube` without.
    #[arg(long, env = "EL_SINK")]
    pub sink: Option<String>,
    /// Largest accepted request body, bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Deadline for one event, all triggers included, in seconds (upstream `--timeouthandler`).
    #[arg(long = "timeout-handler", default_value_t = DEFAULT_EVENT_TIMEOUT.as_secs())]
    pub timeout_handler: u64,
    /// Deadline of each call to a ClusterInterceptor or Interceptor, connection and whole
    /// answer included, in seconds (upstream has none). Legacy `webhook:` interceptors keep
    /// upstream's fixed 5 s.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::interceptors::webhook::DEFAULT_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..))]
    pub interceptor_timeout: u64,
    /// List each trigger's outcome in the answer (`triggers`: name, outcome, what it created,
    /// why it stopped) to senders that passed a signature or token check; `false` leaves
    /// upstream's fields only.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub response_detail: bool,
    /// Name what triggers create after the sender's delivery ID, so a redelivery, a retry or a
    /// second replica finds its objects already created instead of making new ones. The ID is
    /// the first present of X-GitHub-Delivery, X-Gitlab-Event-UUID, Idempotency-Key,
    /// X-Request-UUID, webhook-id and `--delivery-id-header`. `false`: random names, as upstream.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", env = "EL_IDEMPOTENCY")]
    pub idempotency: bool,
    /// One more header carrying a delivery ID, looked at after the built-in ones.
    #[arg(long, value_name = "HEADER", env = "EL_DELIVERY_ID_HEADER")]
    pub delivery_id_header: Option<String>,
    /// Events in flight at once; past it, 503 with Retry-After before the body is read.
    #[arg(long, default_value_t = DEFAULT_MAX_INFLIGHT_EVENTS, value_name = "N")]
    pub max_inflight_events: usize,
    /// Body bytes held by events in flight; past it, 503 with Retry-After, decided from
    /// Content-Length before the body is read (chunked bodies are counted as they arrive).
    #[arg(long, default_value_t = DEFAULT_MAX_INFLIGHT_BODY_BYTES, value_name = "BYTES")]
    pub max_inflight_body_bytes: usize,
    /// Seconds to receive a request head (from accept, or from its first byte on a keep-alive
    /// connection) and the whole request from the same start; a client that trickles or stalls
    /// is closed (or answered 408 if its head arrived). Upstream `--readtimeout`.
    #[arg(long = "readtimeout", value_name = "SECONDS", default_value_t = DEFAULT_READ_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub read_timeout: u64,
    /// Seconds to write a response once it is ready; past it the connection is closed.
    /// Upstream `--writetimeout`.
    #[arg(long = "writetimeout", value_name = "SECONDS", default_value_t = DEFAULT_WRITE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout: u64,
    /// Seconds a keep-alive connection may wait for its next request before it is closed.
    /// Upstream `--idletimeout` (the shipped controller's 120).
    #[arg(long = "idletimeout", value_name = "SECONDS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Open connections at most; further clients wait in the kernel's accept queue until one
    /// closes.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Threads serving the sink, each with a runtime of its own; a connection stays on the
    /// thread that accepted it. Default: the CPUs this process may use (its cgroup's CPU
    /// quota included).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Seconds after SIGTERM/SIGINT during which `/ready` answers 503 but events are still
    /// accepted, so endpoints stop routing here before the listener stops accepting.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_DRAIN_DELAY.as_secs())]
    pub drain_delay: u64,
    /// Seconds, after the drain delay, that in-flight events and connections may take before
    /// the process exits anyway (logging what was cut). Keep drain delay + this below the
    /// pod's terminationGracePeriodSeconds.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_SHUTDOWN_TIMEOUT.as_secs())]
    pub shutdown_timeout: u64,
    /// Cluster mode: the URL written to the EventListener's `status.address.url`. Default:
    /// upstream's `http://el-<name>.<namespace>.svc.cluster.local:8080`.
    #[arg(long, value_name = "URL", env = "EL_ADVERTISED_URL")]
    pub advertised_url: Option<String>,
    /// Cluster mode: `enable` records upstream's per-event Kubernetes Events (started,
    /// successful, failed, done) on the EventListener; anything else, none (as upstream).
    #[arg(long, value_name = "enable", env = "EL_EVENT", hide = true)]
    pub el_event: Option<String>,
    /// Cluster mode: leave out (and report as broken) every Trigger selected from another
    /// namespace than the EventListener's that names no `serviceAccountName` of its own
    /// namespace; without this flag such triggers create with the listener's rights, and each is
    /// warned about once.
    #[arg(long, env = "EL_REQUIRE_TRIGGER_SERVICE_ACCOUNT")]
    pub require_trigger_service_account: bool,
    /// Address of `/metrics` (Prometheus, OpenMetrics text). Default `0.0.0.0:9000`, or
    /// `0.0.0.0:$METRICS_PROMETHEUS_PORT` when that (upstream's) variable is set.
    #[arg(long, value_name = "ADDR", env = "EL_METRICS_ADDRESS")]
    pub metrics_address: Option<SocketAddr>,
    /// Where to send CloudEvents about each event (upstream's `--cloudevent-uri`, reference
    /// §8.5): an absolute http URL that replaces the EventListener's `spec.cloudEventURI`.
    /// Without either, none are sent.
    #[arg(long = "cloudevent-uri", value_name = "URL", env = "EL_CLOUDEVENT_URI")]
    pub cloudevent_uri: Option<String>,
    /// The GitHub REST API root the github interceptor's `addChangedFiles` and `githubOwners`
    /// call (e.g. `https://ghe.example.com/api/v3`), for every event: the
    /// `X-Github-Enterprise-Host` header is then ignored. Default: `https://api.github.com`, or
    /// `https://HOST/api/v3` for an event with `X-Github-Enterprise-Host: HOST` (as upstream).
    #[arg(long, value_name = "URL", env = "EL_GITHUB_API_URL")]
    pub github_api_url: Option<String>,
    /// Catch-up (as `eventlistener catch-up`, README "Catch-up"): a hook whose delivery log to
    /// read, `repo:OWNER/REPO:ID`, `org:ORG:ID` or `app`; repeat, or separate with commas.
    #[arg(
        long = "catch-up-hook",
        value_name = "HOOK",
        value_delimiter = ',',
        env = "EL_CATCH_UP_HOOKS"
    )]
    pub catch_up_hooks: Vec<crate::catch_up::Hook>,
    /// Catch-up: run a pass over every `--catch-up-hook` at start and then this often (e.g.
    /// `5m`). Off by default.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, env = "EL_CATCH_UP_INTERVAL")]
    pub catch_up_interval: Option<std::time::Duration>,
    /// Catch-up: where it resumes (a JSON file, created if missing, rewritten after each pass;
    /// on a volume that outlives the pod).
    #[arg(long, value_name = "FILE", env = "EL_CATCH_UP_STATE")]
    pub catch_up_state: Option<PathBuf>,
    /// Catch-up: how far back the first pass looks (no state yet).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub catch_up_since: std::time::Duration,
    /// Catch-up: pause between two redelivery requests.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub catch_up_pace: std::time::Duration,
    /// Catch-up: redeliveries of one delivery before giving up on it.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub catch_up_max_attempts: u32,
    /// Catch-up's GitHub credentials.
    #[command(flatten)]
    pub github_credentials: super::catch_up::GitHubCredentialArgs,
    /// PEM certificate chain for HTTPS (with `--tls-key`; upstream `--tls-cert`, env TLS_CERT).
    /// Read again whenever it changes, so a rotated certificate is served without a restart.
    #[arg(long, value_name = "PATH", env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with `--tls-cert`; upstream `--tls-key`, env TLS_KEY).
    #[arg(long, value_name = "PATH", env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

/// Upstream's metrics port (reference §8.4), also `METRICS_PROMETHEUS_PORT`'s default.
const DEFAULT_METRICS_PORT: u16 = 9000;

impl ServeArgs {
    /// `--metrics-address`, else `0.0.0.0:$METRICS_PROMETHEUS_PORT`, else `0.0.0.0:9000`.
    ///
    /// # Errors
    /// `METRICS_PROMETHEUS_PORT` set but not a port number.
    fn metrics_address(&self) -> anyhow::Result<SocketAddr> {
        if let Some(address) = self.metrics_address {
            return Ok(address);
        }
        let port = match std::env::var("METRICS_PROMETHEUS_PORT") {
            Ok(port) => port.trim().parse::<u16>().with_context(|| {
                format!("METRICS_PROMETHEUS_PORT={port:?} is not a port number")
            })?,
            Err(_) => DEFAULT_METRICS_PORT,
        };
        Ok(SocketAddr::from(([0, 0, 0, 0], port)))
    }
}

impl ServeArgs {
    /// The connection, TLS and shutdown flags as [`ServeOptions`].
    ///
    /// # Errors
    /// Only one of `--tls-cert` and `--tls-key`, or files that do not load.
    fn serve_options(&self) -> anyhow::Result<ServeOptions> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                Some(crate::sink::tls::Tls::load(crate::sink::tls::TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                })?)
            }
            _ => anyhow::bail!(
                "--tls-cert and --tls-key (TLS_CERT, TLS_KEY) go together: give both for HTTPS, \
                 or neither for HTTP"
            ),
        };
        Ok(ServeOptions {
            read_timeout: Duration::from_secs(self.read_timeout),
            write_timeout: Duration::from_secs(self.write_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_connections: self.max_connections,
            drain_delay: Duration::from_secs(self.drain_delay),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            tls,
            threads: self
                .threads
                .map_or_else(crate::sink::default_threads, usize::from),
        })
    }
}

/// Parses `--sink`.
///
/// # Errors
/// Unknown sink kinds, a directory that cannot be created, or no Kubernetes configuration.
pub(super) async fn creator_from_flag(sink: &str) -> anyhow::Result<Arc<dyn Creator>> {
    if sink == "stdout" {
        return Ok(Arc::new(StdoutCreator));
    }
    if sink == "kube" {
        let config = kube_config("--sink kube creates objects through the Kubernetes API").await?;
        return Ok(Arc::new(KubeCreator::new(config)?));
    }
    if sink == "null" {
        return Ok(Arc::new(NullCreator));
    }
    if let Some(dir) = sink.strip_prefix("dir:") {
        anyhow::ensure!(!dir.is_empty(), "--sink dir: needs a path, e.g. dir:./out");
        return Ok(Arc::new(DirCreator::new(dir)?));
    }
    anyhow::bail!("unknown --sink {sink:?}: use kube, stdout, dir:PATH or null")
}

/// The Kubernetes configuration (in-cluster service account, else `KUBECONFIG` or
/// `~/.kube/config`), for `why`.
///
/// # Errors
/// None found: one line saying what is needed (and, when a kubeconfig exists but does not load,
/// why it does not).
pub(super) async fn kube_config(why: &str) -> anyhow::Result<kube::Config> {
    match kube::Config::infer().await {
        Ok(config) => Ok(config),
        Err(e) => {
            let kubeconfig = std::env::var_os("KUBECONFIG").is_some()
                || std::env::var_os("HOME")
                    .is_some_and(|home| std::path::Path::new(&home).join(".kube/config").exists());
            if kubeconfig {
                anyhow::bail!("{why}, but the kubeconfig does not load: {e}")
            }
            tracing::debug!(error = %e, "no Kubernetes configuration");
            anyhow::bail!(
                "{why}, but there is no Kubernetes configuration here (no in-cluster service \
                 account, no KUBECONFIG, no ~/.kube/config); without a cluster, serve manifests \
                 with -f PATH and --sink stdout|dir:PATH|null"
            )
        }
    }
}

/// Files mode: the manifests are checked as `validate` checks them, and any error refuses the
/// start, each on its own line of stderr, as `validate` prints it. Warnings are logged. (Cluster
/// mode does not come here: the API server has validated and pruned its objects.) Returns the
/// manifests as read, so that serve builds its listener without reading them again.
fn refuse_broken_files(args: &ServeArgs) -> anyhow::Result<crate::manifest::Catalog> {
    use super::validate::{Severity, check};
    let (catalog, report) = check(&args.files, args.namespace.as_deref());
    for p in &report.problems {
        match p.severity {
            Severity::Error => eprintln!("{p}"),
            Severity::Warning => tracing::warn!(problem = %p, "manifest warning"),
        }
    }
    let errors = report.count(Severity::Error);
    anyhow::ensure!(
        errors == 0,
        "{errors} error(s) in the manifests (listed above; `eventlistener validate -f` lists \
         them too): not serving"
    );
    Ok(catalog)
}

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cluster = args.files.is_empty();
    anyhow::ensure!(
        !cluster || args.listener.is_some(),
        "serve needs manifests or an EventListener to follow: -f PATH (files, no cluster needed), \
         or --listener NAME (read and followed from the cluster)"
    );
    let cloudevent_uri = args
        .cloudevent_uri
        .as_deref()
        .filter(|uri| !uri.is_empty())
        .map(crate::cloud_events::check_uri)
        .transpose()
        .context("--cloudevent-uri")?;
    let sink = args
        .sink
        .clone()
        .unwrap_or_else(|| if cluster { "kube" } else { "stdout" }.to_owned());
    let creator = creator_from_flag(&sink).await?;
    let (listener, status, notices, place) = if cluster {
        follow_cluster_config(&args).await?
    } else {
        // The manifests as the check read them: read once, not again.
        let catalog = refuse_broken_files(&args)?;
        let listener = ListenerHandle::fixed(Listener::from_catalog(
            &catalog,
            &LoadOptions {
                paths: args.files.clone(),
                listener: args.listener.clone(),
                namespace: args.namespace.clone(),
                require_trigger_service_account: false,
                github_api: github_api(args.github_api_url.as_deref())?,
                interceptor_timeout: Some(Duration::from_secs(args.interceptor_timeout)),
            },
        )?);
        (listener, None, None, None)
    };
    let catch_up = super::catch_up::Follower::from_serve_args(&args, place.as_ref())?;
    // TLS files load before anything listens: asked for HTTPS, never serve plain HTTP.
    let options = args.serve_options()?;
    let tcp = tokio::net::TcpListener::bind(args.address)
        .await
        .with_context(|| format!("cannot listen on {}", args.address))?;
    let bound = tcp.local_addr()?;
    let metrics_address = args.metrics_address()?;
    let metrics_tcp = tokio::net::TcpListener::bind(metrics_address)
        .await
        .with_context(|| {
            format!("cannot serve metrics on {metrics_address} (--metrics-address)")
        })?;
    // Before "listening": whoever waits for that line finds the metrics served already.
    tracing::info!(metrics_address = %metrics_tcp.local_addr()?, "serving metrics on /metrics");
    let placeholder = listener.placeholder();
    tracing::info!(
        event_listener = %placeholder.name,
        namespace = %placeholder.namespace,
        address = %bound,
        sink = %sink,
        source = if cluster { "cluster" } else { "files" },
        scheme = if options.tls.is_some() { "https" } else { "http" },
        "listening"
    );
    let state = AppState {
        max_body_bytes: args.max_body_bytes,
        event_timeout: std::time::Duration::from_secs(args.timeout_handler),
        response_detail: args.response_detail,
        delivery_ids: crate::event::DeliveryIdPolicy::new(
            args.idempotency,
            args.delivery_id_header.clone(),
        ),
        limits: InflightLimits::new(args.max_inflight_events, args.max_inflight_body_bytes),
        notices,
        ..AppState::new(listener, creator)
    };
    // Started whether or not a URI is known now: in cluster mode an edit can add one.
    let state = AppState {
        cloud_events: Some(crate::cloud_events::CloudEvents::start(
            cloudevent_uri,
            crate::cloud_events::QUEUE_CAPACITY,
            Arc::clone(&state.metrics),
        )),
        ..state
    };
    let metrics = crate::sink::metrics_router(state.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(metrics_tcp, metrics).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    });
    if let Some(catch_up) = catch_up {
        tokio::spawn(catch_up.run(Arc::clone(&state.metrics)));
    }
    let served = serve_with(tcp, state, options, shutdown_signal()).await;
    if let Some(status) = status {
        status.stop().await;
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Cluster mode: start following the EventListener in the cluster, and writing its status back
/// (the Lease holder only); the handle is empty (and `/ready` answers 503) until the first full
/// sync compiles. Also the status writer, the channel of per-event notices with
/// `EL_EVENT=enable`, and where catch-up keeps its state and Lease.
async fn follow_cluster_config(
    args: &ServeArgs,
) -> anyhow::Result<(
    ListenerHandle,
    Option<StatusWriter>,
    Option<tokio::sync::mpsc::Sender<crate::event::EventNotice>>,
    Option<super::catch_up::ClusterPlace>,
)> {
    let name = args
        .listener
        .clone()
        .context("without -f, --listener NAME names the EventListener to read from the cluster")?;
    let config =
        kube_config("without -f, serve reads the EventListener from the Kubernetes API").await?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).context("cannot build a Kubernetes client")?;
    let (publish, handle) = ListenerHandle::channel(&name, &namespace);
    let pod = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok();
    let status_options = StatusOptions {
        advertised_url: args
            .advertised_url
            .clone()
            .unwrap_or_else(|| StatusOptions::default_url(&name, &namespace)),
        name: name.clone(),
        namespace: namespace.clone(),
        identity: StatusOptions::identity(pod.as_deref()),
    };
    tracing::info!(identity = %status_options.identity, lease = %status_options.lease_name(), "status Lease identity");
    let notices = (args.el_event.as_deref() == Some("enable"))
        .then(|| record_event_notices(client.clone(), status_options.clone(), handle.watch()));
    let place = super::catch_up::ClusterPlace {
        client: client.clone(),
        listener: name.clone(),
        namespace: namespace.clone(),
        identity: status_options.identity.clone(),
    };
    let status = StatusWriter::start(client.clone(), status_options, handle.watch());
    let options = LoadOptions {
        paths: Vec::new(),
        listener: Some(name),
        namespace: Some(namespace),
        require_trigger_service_account: args.require_trigger_service_account,
        github_api: github_api(args.github_api_url.as_deref())?,
        interceptor_timeout: Some(Duration::from_secs(args.interceptor_timeout)),
    };
    let secrets = Arc::new(KubeSecrets::new(client.clone()));
    tokio::spawn(follow_cluster(client, options, secrets, publish));
    Ok((handle, Some(status), notices, Some(place)))
}

/// The GitHub API endpoint of `--github-api-url` (`serve`, `triggerrun`), else the default.
pub(super) fn github_api(url: Option<&str>) -> anyhow::Result<crate::github_api::Endpoint> {
    match url {
        Some(url) => crate::github_api::Endpoint::with_base_url(url).context("--github-api-url"),
        None => Ok(crate::github_api::Endpoint::default()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
