//! `eventlistener catch-up`: one catch-up pass over each `--hook` (src/catch_up): list the
//! hook's recent deliveries on GitHub, redeliver those that failed, print a table of what was
//! found and done. `--dry-run` only lists. The same passes run inside `serve` with
//! `--catch-up-interval`.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use crate::catch_up::app::AppKey;
use crate::catch_up::{self, Checkpoint, Hook, Report, State, Store, Verdict};
use crate::github_api::Endpoint;
use crate::metrics::Metrics;
use crate::secrets::SecretValue;

/// Flags of `catch-up`.
#[derive(Debug, clap::Args)]
pub struct CatchUpArgs {
    /// A hook whose delivery log to read: `repo:OWNER/REPO:ID`, `org:ORG:ID` or `app` (the
    /// GitHub App's hook); repeat for several. A hook's id is in its deliveries'
    /// `X-GitHub-Hook-ID` header.
    #[arg(long = "hook", value_name = "HOOK", required = true)]
    pub hooks: Vec<Hook>,
    /// Where catch-up resumes (a JSON file, created if missing, rewritten after each pass).
    /// Without it every run looks back `--since`.
    #[arg(long, value_name = "FILE", env = "EL_CATCH_UP_STATE")]
    pub state: Option<PathBuf>,
    /// List and decide only: redeliver nothing, change no state.
    #[arg(long)]
    pub dry_run: bool,
    /// The GitHub REST API root (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(long = "github-api-url", value_name = "URL", env = "EL_GITHUB_API_URL")]
    pub github_api_url: Option<String>,
    /// The credentials.
    #[command(flatten)]
    pub credentials: GitHubCredentialArgs,
    /// How far back a first pass looks (no state yet), e.g. `24h`, `90m`.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// Pause between two redelivery requests (GitHub asks for one second between mutating
    /// requests).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub pace: Duration,
    /// Redeliveries of one delivery before catch-up gives up on it.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_attempts: u32,
}

impl CatchUpArgs {
    fn settings(&self) -> Settings {
        Settings {
            since: self.since,
            pace: self.pace,
            max_attempts: self.max_attempts,
        }
    }
}

/// How a catch-up pass behaves (`catch-up`'s flags, or `serve`'s `--catch-up-*`).
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// How far back a first pass looks.
    pub(super) since: Duration,
    /// Pause between two redelivery requests.
    pub(super) pace: Duration,
    /// Redeliveries of one delivery before giving up.
    pub(super) max_attempts: u32,
}

impl Settings {
    fn pass_options(&self, dry_run: bool) -> catch_up::Options {
        catch_up::Options {
            dry_run,
            pace: self.pace,
            max_attempts: self.max_attempts,
            ..catch_up::Options::default()
        }
    }
}

/// The GitHub credentials of catch-up, the same flags in `catch-up` and `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct GitHubCredentialArgs {
    /// A file holding the token for repository and organisation hooks (a mounted Secret); else
    /// the `GITHUB_TOKEN` environment variable. Never logged.
    #[arg(long, value_name = "FILE", env = "EL_GITHUB_TOKEN_FILE")]
    pub github_token_file: Option<PathBuf>,
    /// The GitHub App's id (or client id), for the `app` hook.
    #[arg(long, value_name = "ID", env = "EL_GITHUB_APP_ID")]
    pub github_app_id: Option<String>,
    /// The GitHub App's private key (PEM), for the `app` hook.
    #[arg(long, value_name = "FILE", env = "EL_GITHUB_APP_KEY_FILE")]
    pub github_app_key_file: Option<PathBuf>,
}

/// What a pass needs to talk to GitHub, read once.
#[derive(Debug)]
pub(super) struct Credentials {
    endpoint: Endpoint,
    token: Option<SecretValue>,
    app: Option<AppKey>,
}

impl GitHubCredentialArgs {
    /// Reads the credentials for the API at `api_url` (default GitHub.com) and checks that
    /// each of `hooks` has what it needs.
    pub(super) fn read(
        &self,
        api_url: Option<&str>,
        hooks: &[Hook],
    ) -> anyhow::Result<Credentials> {
        let endpoint = super::serve::github_api(api_url)?;
        let token = match &self.github_token_file {
            Some(path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("--github-token-file {}", path.display()))?;
                Some(SecretValue::new(text.trim_ascii().to_vec()))
            }
            None => std::env::var("GITHUB_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .map(|t| SecretValue::new(t.trim().as_bytes().to_vec())),
        };
        let app = match (&self.github_app_id, &self.github_app_key_file) {
            (Some(id), Some(path)) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("--github-app-key-file {}", path.display()))?;
                Some(AppKey::from_pem(id, &pem)?)
            }
            (None, None) => None,
            _ => anyhow::bail!("--github-app-id and --github-app-key-file go together"),
        };
        for hook in hooks {
            match hook {
                Hook::App if app.is_none() => {
                    anyhow::bail!("hook app: needs --github-app-id and --github-app-key-file")
                }
                Hook::Repository { .. } | Hook::Organization { .. } if token.is_none() => {
                    anyhow::bail!(
                        "hook {hook}: needs a token (--github-token-file or GITHUB_TOKEN)"
                    )
                }
                _ => {}
            }
        }
        Ok(Credentials {
            endpoint,
            token,
            app,
        })
    }
}

/// One pass over `hook` from its checkpoint in `state` (or `since` ago); the report.
pub(super) async fn pass(
    credentials: &Credentials,
    hook: &Hook,
    state: &State,
    settings: &Settings,
    dry_run: bool,
) -> anyhow::Result<Report> {
    let base = credentials
        .endpoint
        .base_for(None)
        .map_err(anyhow::Error::from)?;
    let token = match hook {
        Hook::App => credentials
            .app
            .as_ref()
            .map(|app| app.jwt(Utc::now()))
            .transpose()?,
        _ => credentials.token.clone(),
    };
    let client = credentials
        .endpoint
        .client(base, token.as_ref())
        .map_err(anyhow::Error::from)?;
    let checkpoint = state
        .hooks
        .get(&hook.to_string())
        .cloned()
        .unwrap_or_else(|| {
            let since =
                chrono::Duration::from_std(settings.since).unwrap_or(chrono::Duration::days(1));
            Checkpoint::starting(Utc::now() - since)
        });
    Ok(catch_up::run_pass(&client, hook, &checkpoint, &settings.pass_options(dry_run)).await?)
}

pub(super) async fn run(args: &CatchUpArgs) -> anyhow::Result<()> {
    let credentials = args
        .credentials
        .read(args.github_api_url.as_deref(), &args.hooks)?;
    let settings = args.settings();
    let mut state = match &args.state {
        Some(path) => State::load(path)?.unwrap_or_default(),
        None => State::default(),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<28} {:<38} {:<28} {:<20} {:>6} {:>8}  DONE",
        "HOOK", "GUID", "EVENT", "FIRST ATTEMPT", "STATUS", "ATTEMPTS"
    )?;
    let mut problems = Vec::new();
    for hook in &args.hooks {
        let report = match pass(&credentials, hook, &state, &settings, args.dry_run).await {
            Ok(report) => report,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        print_report(&mut out, &report, args.dry_run)?;
        problems.extend(
            report
                .failed
                .iter()
                .map(|(guid, e)| format!("{hook}: {guid}: {e}")),
        );
        if let Some(stopped) = &report.stopped {
            problems.push(format!("{hook}: stopped early: {stopped}"));
        }
        if !args.dry_run {
            state.hooks.insert(hook.to_string(), report.checkpoint);
        }
    }
    if let (Some(path), false) = (&args.state, args.dry_run) {
        state.save(path)?;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", problems.join("\n"))
    }
}

fn print_report(
    out: &mut impl std::io::Write,
    report: &Report,
    dry_run: bool,
) -> anyhow::Result<()> {
    let mut redelivered = 0;
    for guid in &report.plan.guids {
        let done = match guid.verdict {
            Verdict::Redeliver if dry_run => "would redeliver".to_owned(),
            Verdict::Redeliver => {
                if report.redelivered.iter().any(|(g, _)| *g == guid.guid) {
                    redelivered += 1;
                    "redelivered".to_owned()
                } else if let Some((_, e)) = report.failed.iter().find(|(g, _)| *g == guid.guid) {
                    format!("failed: {e}")
                } else {
                    "left for the next pass".to_owned()
                }
            }
            Verdict::Refused(status) => format!("not redelivered: refused with {status}"),
            other => other.as_str().to_owned(),
        };
        let event = match &guid.action {
            Some(action) => format!("{}.{action}", guid.event),
            None => guid.event.clone(),
        };
        writeln!(
            out,
            "{:<28} {:<38} {:<28} {:<20} {:>6} {:>8}  {done}",
            report.hook.to_string(),
            guid.guid,
            event,
            guid.first_at.format("%Y-%m-%dT%H:%M:%SZ"),
            guid.latest_status,
            guid.attempts,
        )?;
    }
    writeln!(
        out,
        "# {}: {} listed, {} redelivered{}",
        report.hook,
        report.plan.guids.len(),
        redelivered,
        if dry_run { " (dry run)" } else { "" }
    )?;
    Ok(())
}

/// In cluster mode, where catch-up keeps its state and competes to run: the EventListener's
/// namespace, ConfigMap and Lease `<listener>-eventlistener-catch-up`.
#[derive(Clone)]
pub(super) struct ClusterPlace {
    /// The API client.
    pub(super) client: kube::Client,
    /// The EventListener's name.
    pub(super) listener: String,
    /// Its namespace.
    pub(super) namespace: String,
    /// This replica's Lease holder identity.
    pub(super) identity: String,
}

impl std::fmt::Debug for ClusterPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPlace")
            .field("listener", &self.listener)
            .field("namespace", &self.namespace)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// `serve --catch-up-interval`: a pass over every hook at start, then every interval, the state
/// saved after each round; runs until the process ends. In cluster mode without
/// `--catch-up-state`, the state is a ConfigMap and only the replica holding the Lease runs the
/// passes (it reads the state again each time it takes the Lease).
#[derive(Debug)]
pub(super) struct Follower {
    credentials: Credentials,
    hooks: Vec<Hook>,
    settings: Settings,
    store: Store,
    state: State,
    interval: Duration,
    /// Cluster mode: compete for the Lease, and run only while holding it.
    lease: Option<ClusterPlace>,
}

impl Follower {
    /// The follower `serve`'s flags ask for: `None` without `--catch-up-interval`.
    ///
    /// # Errors
    /// An interval without hooks (or, in files mode, without a state file), credentials that
    /// cannot be read, a state file that cannot be parsed: the listener refuses to start rather
    /// than run without catch-up.
    pub(super) fn from_serve_args(
        args: &super::serve::ServeArgs,
        cluster: Option<&ClusterPlace>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(interval) = args.catch_up_interval else {
            anyhow::ensure!(
                args.catch_up_hooks.is_empty(),
                "--catch-up-hook needs --catch-up-interval"
            );
            return Ok(None);
        };
        anyhow::ensure!(
            !interval.is_zero(),
            "--catch-up-interval must be more than 0"
        );
        anyhow::ensure!(
            !args.catch_up_hooks.is_empty(),
            "--catch-up-interval needs at least one --catch-up-hook"
        );
        let (store, state, lease) = match (&args.catch_up_state, cluster) {
            (Some(path), _) => {
                let state = State::load(path)?.unwrap_or_default();
                (Store::File(path.clone()), state, None)
            }
            (None, Some(place)) => {
                let store = Store::ConfigMap {
                    api: Box::new(kube::Api::namespaced(
                        place.client.clone(),
                        &place.namespace,
                    )),
                    name: Store::config_map_name(&place.listener),
                };
                (store, State::default(), Some(place.clone()))
            }
            (None, None) => anyhow::bail!(
                "--catch-up-interval needs --catch-up-state FILE (where catch-up resumes)"
            ),
        };
        let credentials = args
            .github_credentials
            .read(args.github_api_url.as_deref(), &args.catch_up_hooks)?;
        Ok(Some(Self {
            credentials,
            hooks: args.catch_up_hooks.clone(),
            settings: Settings {
                since: args.catch_up_since,
                pace: args.catch_up_pace,
                max_attempts: args.catch_up_max_attempts,
            },
            store,
            state,
            interval,
            lease,
        }))
    }

    /// Runs the passes for ever (the task ends with the process).
    pub(super) async fn run(mut self, metrics: Arc<Metrics>) {
        let mut leader = match &self.lease {
            Some(place) => Some(self.compete(place.clone()).await),
            None => None,
        };
        loop {
            if let Some(holding) = leader.as_mut() {
                while !*holding.borrow_and_update() {
                    if holding.changed().await.is_err() {
                        tracing::warn!("the catch-up Lease manager ended; catch-up stops");
                        return;
                    }
                }
                // Another replica may have run passes since this one last did.
                match self.store.load().await {
                    Ok(state) => self.state = state,
                    Err(e) => {
                        tracing::warn!(error = %e, "catch-up state not read; trying again later");
                        tokio::time::sleep(self.interval).await;
                        continue;
                    }
                }
            }
            self.round(&metrics).await;
            if let Err(e) = self.store.save(&self.state).await {
                tracing::warn!(error = %e, "catch-up state not saved");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Competes for the Lease (retrying every interval until it can): whether this replica
    /// holds it, as it changes.
    async fn compete(&self, place: ClusterPlace) -> tokio::sync::watch::Receiver<bool> {
        let lease = Store::config_map_name(&place.listener);
        loop {
            match crate::event_listener::status::lease_manager(
                &place.client,
                &lease,
                &place.namespace,
                &place.identity,
            )
            .await
            {
                Ok(manager) => {
                    let (holding, _task) = manager.watch().await;
                    tracing::info!(lease = %lease, identity = %place.identity, "catch-up Lease: competing");
                    return holding;
                }
                Err(e) => {
                    tracing::warn!(error = %e, lease = %lease, "cannot use the catch-up Lease; retrying");
                    tokio::time::sleep(self.interval).await;
                }
            }
        }
    }

    /// One pass over every hook.
    async fn round(&mut self, metrics: &Metrics) {
        for hook in &self.hooks {
            let name = hook.to_string();
            match pass(&self.credentials, hook, &self.state, &self.settings, false).await {
                Ok(report) => {
                    tracing::info!(
                        hook = %name,
                        listed = report.plan.guids.len(),
                        redelivered = report.redelivered.len(),
                        failed = report.failed.len(),
                        stopped = report.stopped.as_deref().unwrap_or(""),
                        "catch-up pass"
                    );
                    metrics.catch_up_pass(
                        &name,
                        Some(Utc::now().timestamp()),
                        report.redelivered.len(),
                        report.failed.len(),
                    );
                    self.state.hooks.insert(name, report.checkpoint);
                }
                Err(e) => {
                    tracing::warn!(hook = %name, error = format!("{e:#}"), "catch-up pass failed");
                    metrics.catch_up_pass(&name, None, 0, 0);
                }
            }
        }
    }
}
