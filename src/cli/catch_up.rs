//! `eventlistener catch-up`: one catch-up pass over each `--hook` (src/catch_up): list the
//! hook's recent deliveries on GitHub, redeliver those that failed, print a table of what was
//! found and done. `--dry-run` only lists. The same passes run inside `serve` with
//! `--catch-up-interval`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use crate::catch_up::app::AppKey;
use crate::catch_up::{self, Checkpoint, Hook, Report, State, Verdict};
use crate::github_api::Endpoint;
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
    /// The options shared with `serve`.
    #[command(flatten)]
    pub options: CatchUpOptions,
}

/// Catch-up settings shared by `catch-up` and `serve --catch-up-interval`.
#[derive(Debug, Clone, clap::Args)]
pub struct CatchUpOptions {
    /// The GitHub REST API root (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(long = "github-api-url", value_name = "URL", env = "EL_GITHUB_API_URL")]
    pub github_api_url: Option<String>,
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
    /// How far back a first pass looks (no state yet), e.g. `24h`, `90m`.
    #[arg(long = "since", value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// Pause between two redelivery requests (GitHub asks for one second between mutating
    /// requests).
    #[arg(long = "pace", value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub pace: Duration,
    /// Redeliveries of one delivery before catch-up gives up on it.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_attempts: u32,
}

/// What a pass needs to talk to GitHub, read once.
#[derive(Debug)]
pub(super) struct Credentials {
    endpoint: Endpoint,
    token: Option<SecretValue>,
    app: Option<AppKey>,
}

impl CatchUpOptions {
    /// Reads the credentials and checks that each of `hooks` has what it needs.
    pub(super) fn credentials(&self, hooks: &[Hook]) -> anyhow::Result<Credentials> {
        let endpoint = super::serve::github_api(self.github_api_url.as_deref())?;
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

    /// The pass options, `dry_run` as given.
    pub(super) fn pass_options(&self, dry_run: bool) -> catch_up::Options {
        catch_up::Options {
            dry_run,
            pace: self.pace,
            max_attempts: self.max_attempts,
            ..catch_up::Options::default()
        }
    }
}

/// One pass over `hook` from its checkpoint in `state` (or `since` ago); the report.
pub(super) async fn pass(
    credentials: &Credentials,
    hook: &Hook,
    state: &State,
    options: &CatchUpOptions,
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
                chrono::Duration::from_std(options.since).unwrap_or(chrono::Duration::days(1));
            Checkpoint::starting(Utc::now() - since)
        });
    Ok(catch_up::run_pass(&client, hook, &checkpoint, &options.pass_options(dry_run)).await?)
}

pub(super) async fn run(args: &CatchUpArgs) -> anyhow::Result<()> {
    let credentials = args.options.credentials(&args.hooks)?;
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
        let report = match pass(&credentials, hook, &state, &args.options, args.dry_run).await {
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
