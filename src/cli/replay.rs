//! `eventlistener replay FILE`: send a webhook payload the way GitHub does (signed, with GitHub's
//! headers) and print the status and response body. `--count N` sends it N times, one after
//! another over one kept-alive connection, each as a new delivery (a new `X-GitHub-Delivery`):
//! the traffic a proxy in front of the listener makes, which `scripts/pgo/build.sh` trains on.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::interceptors::signature::sign_sha256;

/// Flags of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Payload file (JSON), sent byte for byte.
    pub file: PathBuf,
    /// Webhook secret to sign with; without it no `X-Hub-Signature-256` is sent.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// `X-GitHub-Event` value; default: the file name up to the first `.`
    /// (`pull_request.opened.json` → `pull_request`).
    #[arg(long = "event")]
    pub event: Option<String>,
    /// Listener URL.
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    pub url: String,
    /// How many times to send it: one after another, over one kept-alive connection, each
    /// with a new delivery ID; each answer is printed. Stops at the first refused delivery.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
}

/// The event type a fixture's file name implies.
fn event_from_file_name(file: &std::path::Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let event = name.split('.').next()?;
    (!event.is_empty()).then(|| event.to_owned())
}

pub(super) async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let body = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let event = args
        .event
        .clone()
        .or_else(|| event_from_file_name(&args.file))
        .context("cannot tell the event type from the file name; pass --event")?;
    let signature = args
        .secret
        .as_ref()
        .map(|secret| sign_sha256(secret.as_bytes(), &body));
    // One client: its pool keeps the connection between deliveries.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let body = bytes::Bytes::from(body);
    for n in 1..=args.count {
        let mut request = client
            .post(&args.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "GitHub-Hookshot/eventlistener-replay")
            .header("X-GitHub-Event", &event)
            .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string());
        if let Some(signature) = &signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        let response = request
            .body(body.clone())
            .send()
            .await
            .with_context(|| format!("cannot POST to {}", args.url))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        println!("{}", status.as_u16());
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
        // A script (or CI) must see a refused delivery as a failure, as curl --fail would.
        anyhow::ensure!(
            status.is_success(),
            "the listener answered {status} to delivery {n} of {}: it was not accepted",
            args.count
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_comes_from_the_file_name() {
        assert_eq!(
            event_from_file_name(std::path::Path::new(
                "fixtures/github/pull_request.opened.json"
            )),
            Some("pull_request".into())
        );
        assert_eq!(
            event_from_file_name(std::path::Path::new("push.json")),
            Some("push".into())
        );
    }
}
