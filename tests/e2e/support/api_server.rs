//! A real Kubernetes API server for the kube tests: upstream kube-apiserver v1.20.2 plus etcd.
//!
//! `scripts/kube-test/build-kube-apiserver.sh` builds and caches the binary (`.ci/run` calls it);
//! `scripts/kube-test/start-apiserver.sh` starts it on free loopback ports with a throwaway CA and
//! admin token, and leaves a watchdog that stops it (apiserver first, then etcd) when this test
//! process exits, however it exits. One server per test process, started on first use, with the
//! minimal Tekton CRDs of `tests/kube/crds.yaml` installed; each test takes its own namespace.
//!
//! Limits (1.20, and no controllers run): nothing runs PipelineRuns or writes statuses, namespaces
//! never finish deleting, no ServiceAccount token Secrets, no aggregated discovery, no streaming lists.
//!
//! Without the binary every kube test fails with one line naming the script that builds it,
//! unless `EL_SKIP_KUBE=1` is set: then [`api_server`] is `None` and the test calls [`skipped`]
//! (nextest shows its output, .config/nextest.toml). With `CI=true` a missing binary always
//! fails, so CI cannot pass by skipping. `KUBE_TEST_WORKDIR=DIR` uses a server already
//! started with `start-apiserver.sh DIR`; `KUBE_TEST_KEEP_WORKDIR=1` keeps the logs of ours.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::repo_path;

/// The upstream version that `build-kube-apiserver.sh` builds, part of its cache path.
const VERSION: &str = "1.20.2";

/// Bound on starting the server: the script's /readyz wait (about 4 s idle, much more on a
/// machine busy compiling), plus certificates and a retry on a taken port. Under nextest's
/// 120 s `terminate-after`.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// The script's own /readyz wait, inside [`START_TIMEOUT`].
const READY_TIMEOUT_SECONDS: &str = "60";

/// Bound on one kubectl run; kubectl's own `--request-timeout` is below it.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(45);
const KUBECTL_REQUEST_TIMEOUT: &str = "--request-timeout=30s";

/// Bound on the CRDs becoming Established (0.3-0.5 s measured) and on an RBAC grant taking effect.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running kube-apiserver with the Tekton CRDs installed, reached as a `system:masters` admin.
pub(crate) struct ApiServer {
    /// Admin kubeconfig (CA-verified, token): `KUBECONFIG` for the binary under test.
    pub(crate) kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// The static admin bearer token.
    pub(crate) token: String,
    /// The throwaway CA that signed the serving certificate (IP SAN 127.0.0.1).
    pub(crate) ca_cert: PathBuf,
    /// Where the logs are (`etcd.log`, `kube-apiserver.log`) and kubectl's discovery cache.
    workdir: PathBuf,
}

enum State {
    Running(ApiServer),
    /// Not built here, and not in CI: the reason, for [`skipped`].
    Unavailable(String),
    /// Present but did not start, or not built in CI: every test using it fails with this.
    Failed(String),
}

static STATE: OnceLock<State> = OnceLock::new();
static NAMESPACES: AtomicU32 = AtomicU32::new(0);
static GRANTS: AtomicU32 = AtomicU32::new(0);

/// The test process's API server, started on first use; `None` when it is not built here.
///
/// # Panics
/// When it is present but fails to start, or is missing with `CI=true`.
pub(crate) fn api_server() -> Option<&'static ApiServer> {
    match STATE.get_or_init(start) {
        State::Running(server) => Some(server),
        State::Unavailable(_) => None,
        State::Failed(message) => panic!("{message}"),
    }
}

/// Says loudly that `test` did not run, and why: `let Some(server) = api_server() else { return
/// skipped("...") };`.
pub(crate) fn skipped(test: &str) {
    let reason = match STATE.get() {
        Some(State::Unavailable(reason)) => reason.as_str(),
        _ => "no API server",
    };
    println!(
        "SKIPPED {test} (EL_SKIP_KUBE=1): {reason}; build it with \
         scripts/kube-test/build-kube-apiserver.sh (5-10 minutes once, cached)"
    );
}

fn start() -> State {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = std::env::var("EL_SKIP_KUBE").is_ok_and(|v| v == "1");
    let missing = |what: String| {
        let reason = format!("the Kubernetes test API server is not available: {what}");
        if skip && !in_ci {
            State::Unavailable(reason)
        } else {
            State::Failed(format!(
                "{reason}: build it once with `bash scripts/kube-test/build-kube-apiserver.sh` \
                 (5-10 minutes, cached){}",
                if in_ci {
                    " (CI=true: never skipped)"
                } else {
                    ", or set EL_SKIP_KUBE=1 to skip the Kubernetes tests"
                }
            ))
        }
    };
    if let Some(workdir) = std::env::var_os("KUBE_TEST_WORKDIR") {
        return connect(Path::new(&workdir)).unwrap_or_else(State::Failed);
    }
    let binary = kube_apiserver_binary();
    if !binary.is_file() {
        return missing(format!("no kube-apiserver at {}", binary.display()));
    }
    let absent: Vec<&str> = ["etcd", "kubectl", "openssl", "curl", "python3"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if !absent.is_empty() {
        return missing(format!("not on PATH: {}", absent.join(", ")));
    }
    launch(&binary).unwrap_or_else(State::Failed)
}

/// Where `build-kube-apiserver.sh` caches it, or `KUBE_APISERVER`.
fn kube_apiserver_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBE_APISERVER") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache
        .join("eventlistener")
        .join(format!("kube-apiserver-{VERSION}"))
        .join("kube-apiserver")
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

fn launch(binary: &Path) -> Result<State, String> {
    let workdir = tempfile::Builder::new()
        .prefix("eventlistener-kube-")
        .tempdir()
        .map_err(|e| format!("temp dir for the API server: {e}"))?
        .keep();
    let keep = std::env::var("KUBE_TEST_KEEP_WORKDIR").is_ok_and(|v| v == "1");
    let mut start = Command::new("bash");
    start
        .arg(repo_path("scripts/kube-test/start-apiserver.sh"))
        .arg(&workdir)
        .env("KUBE_APISERVER", binary)
        // The watchdog stops the server when this process is gone (statics are never dropped).
        .env("KUBE_TEST_OWNER_PID", std::process::id().to_string())
        .env("KUBE_TEST_READY_TIMEOUT", READY_TIMEOUT_SECONDS)
        .env("KUBE_TEST_REMOVE_WORKDIR", if keep { "0" } else { "1" });
    let started = Instant::now();
    let output = run_bounded(&mut start, None, START_TIMEOUT)?;
    if !output.status.success() {
        return Err(format!(
            "start-apiserver.sh failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    eprintln!(
        "kube-apiserver {VERSION} started in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        workdir.display()
    );
    connect(&workdir)
}

/// The server that `start-apiserver.sh` started in `workdir`, with the CRDs installed.
fn connect(workdir: &Path) -> Result<State, String> {
    let read = |name: &str| {
        std::fs::read_to_string(workdir.join(name))
            .map(|text| text.trim().to_owned())
            .map_err(|e| format!("{}: {e}", workdir.join(name).display()))
    };
    let server = ApiServer {
        kubeconfig: workdir.join("kubeconfig"),
        url: read("url")?,
        token: read("token")?,
        ca_cert: workdir.join("pki/ca.crt"),
        workdir: workdir.to_owned(),
    };
    server.install_crds()?;
    Ok(State::Running(server))
}

impl ApiServer {
    /// Runs `kubectl --kubeconfig KUBECONFIG ARGS…` to completion (bounded).
    ///
    /// # Panics
    /// When kubectl cannot be run or does not finish in time.
    pub(crate) fn kubectl(&self, args: &[&str]) -> Output {
        self.run_kubectl(args, None)
    }

    /// [`Self::kubectl`] with `stdin` as standard input (for `create -f -`).
    pub(crate) fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.run_kubectl(args, Some(stdin))
    }

    /// [`Self::kubectl`] that must succeed; its standard output.
    pub(crate) fn kubectl_ok(&self, args: &[&str]) -> String {
        succeeded(args, &self.kubectl(args))
    }

    /// [`Self::kubectl_stdin`] that must succeed; its standard output.
    pub(crate) fn kubectl_stdin_ok(&self, args: &[&str], stdin: &str) -> String {
        succeeded(args, &self.kubectl_stdin(args, stdin))
    }

    /// Creates a namespace no one has used: `PREFIX-PID-N`. Never reuse one: deleted namespaces
    /// stay `Terminating` here (no controller-manager).
    /// Every PipelineRun in `namespace`, as `kubectl get -o json` prints them.
    pub(crate) fn pipeline_runs(&self, namespace: &str) -> Vec<serde_json::Value> {
        let list: serde_json::Value = serde_json::from_str(&self.kubectl_ok(&[
            "get",
            "pipelineruns.tekton.dev",
            "-n",
            namespace,
            "-o",
            "json",
        ]))
        .expect("kubectl JSON");
        list["items"].as_array().cloned().unwrap_or_default()
    }

    pub(crate) fn new_namespace(&self, prefix: &str) -> String {
        let n = NAMESPACES.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        assert!(
            name.len() <= 63
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name:?} is not a namespace name (lower-case letters, digits, '-', at most 63)"
        );
        self.kubectl_ok(&["create", "namespace", &name]);
        name
    }

    /// Lets `system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT` do `verbs` on `resources`
    /// (`resource.group`, as `kubectl create role --resource`: `pipelineruns.tekton.dev`) in
    /// `namespace`: creates the ServiceAccount if absent, a Role and a RoleBinding, and waits until
    /// the authorizer says yes (RBAC is read through a cache). For impersonation tests:
    /// `kubectl --as=system:serviceaccount:NS:SA` or the client's `Impersonate-User`.
    pub(crate) fn grant(
        &self,
        namespace: &str,
        service_account: &str,
        verbs: &[&str],
        resources: &[&str],
    ) {
        let service_account_json = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": service_account, "namespace": namespace},
        });
        self.kubectl_stdin_ok(&["apply", "-f", "-"], &service_account_json.to_string());
        let role = format!(
            "{service_account}-grant-{}",
            GRANTS.fetch_add(1, Ordering::Relaxed)
        );
        let verb = format!("--verb={}", verbs.join(","));
        let resource = format!("--resource={}", resources.join(","));
        self.kubectl_ok(&["create", "role", &role, "-n", namespace, &verb, &resource]);
        let subject = format!("--serviceaccount={namespace}:{service_account}");
        let role_ref = format!("--role={role}");
        self.kubectl_ok(&[
            "create",
            "rolebinding",
            &role,
            "-n",
            namespace,
            &role_ref,
            &subject,
        ]);
        let user = format!("--as={}", service_account_user(namespace, service_account));
        for verb in verbs {
            for resource in resources {
                let args = ["auth", "can-i", verb, resource, "-n", namespace, &user];
                self.settle(&format!("kubectl {}", args.join(" ")), || {
                    self.kubectl(&args).status.success()
                })
                .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    /// Applies `tests/kube/crds.yaml`, then waits until every CRD is Established and listed by
    /// discovery (which follows Established asynchronously; kubectl resolves kinds through it).
    fn install_crds(&self) -> Result<(), String> {
        let crds = repo_path("tests/kube/crds.yaml");
        let crds = crds.to_str().ok_or("non-UTF-8 repository path")?;
        // Test processes sharing one server (KUBE_TEST_WORKDIR) apply at once: a client-side apply
        // that loses the race to create answers AlreadyExists, and the next one updates.
        let mut error = String::new();
        self.settle("the CRDs apply", || {
            let applied = self.kubectl_checked(&["apply", "-f", crds]);
            applied.map_err(|e| error = e).is_ok()
        })
        .map_err(|timeout| format!("{timeout}: {error}"))?;
        let established = "--for=condition=Established";
        self.kubectl_checked(&["wait", established, "--timeout=30s", "-f", crds])?;
        let names = self.kubectl_checked(&["get", "-f", crds, "-o", "name"])?;
        let resources: Vec<&str> = names
            .lines()
            .filter_map(|line| line.rsplit_once('/').map(|(_, name)| name))
            .collect();
        self.settle("discovery lists the CRDs", || {
            let Ok(served) = self.kubectl_checked(&["api-resources", "-o", "name"]) else {
                return false;
            };
            resources
                .iter()
                .all(|resource| served.lines().any(|line| line == *resource))
        })
    }

    fn kubectl_checked(&self, args: &[&str]) -> Result<String, String> {
        let output = self.run_kubectl(args, None);
        if !output.status.success() {
            return Err(format!(
                "kubectl {}: {}\n(logs in {})",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr),
                self.workdir.display()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Polls `done` every 100 ms for at most [`SETTLE_TIMEOUT`].
    fn settle(&self, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        while !done() {
            if Instant::now() >= deadline {
                return Err(format!(
                    "not true after {SETTLE_TIMEOUT:?}: {what} (logs in {})",
                    self.workdir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn run_kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            // Our own discovery cache: ~/.kube/cache would serve a previous server's on a reused port.
            .arg("--cache-dir")
            .arg(self.workdir.join("kubectl-cache"))
            .arg(KUBECTL_REQUEST_TIMEOUT)
            .args(args);
        run_bounded(&mut command, stdin, KUBECTL_TIMEOUT)
            .unwrap_or_else(|e| panic!("kubectl {}: {e}", args.join(" ")))
    }
}

/// The user name Kubernetes gives a ServiceAccount, for `--as` and `Impersonate-User`.
pub(crate) fn service_account_user(namespace: &str, service_account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{service_account}")
}

fn succeeded(args: &[&str], output: &Output) -> String {
    assert!(
        output.status.success(),
        "kubectl {} failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `command` to completion with `stdin`, killing it past `timeout`.
fn run_bounded(
    command: &mut Command,
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Output, String> {
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_owned();
        std::thread::spawn(move || pipe.write_all(text.as_bytes()));
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{command:?} did not finish within {timeout:?}"));
            }
            Err(e) => return Err(format!("waiting for {command:?}: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
