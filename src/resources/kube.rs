//! `--sink kube`: create through the Kubernetes API (upstream `pkg/resources/create.go`,
//! `pkg/sink/auth_override.go`, reference §7).
//!
//! - Any kind a template renders: apiVersion/kind are resolved to a resource with per-group
//!   discovery (`discovery::pinned_kind`, which works on servers without aggregated discovery),
//!   cached and looked up again once on a miss; namespaced or cluster-scoped as discovery says
//!   (upstream always creates namespaced, §11 item 15).
//! - A trigger's `serviceAccountName` is honoured by impersonating
//!   `system:serviceaccount:<trigger namespace>:<name>`, one client per service account, built once
//!   (upstream builds a new in-cluster config per event).
//! - Retries: 429, 5xx, timeouts and connection errors are retried with bounded exponential
//!   backoff and jitter; other 4xx (403, 404, 409, 422) are not. To keep a retried create from
//!   making a second object, `generateName` is resolved here before the first attempt, so every
//!   attempt posts the same name (without `generateName`, so a taken name is a 409, not the
//!   ambiguous 500 ServerTimeout); a 409 on a retry whose existing object carries this event's
//!   eventID and trigger labels, or that cannot be read, counts as created; a generated name taken
//!   by another object is replaced by a new random one.
//! - Idempotency: an object made for a delivery ID carries it in
//!   [`super::ANNOTATION_DELIVERY_ID`] and its name is derived from it. A 409 on such a name is
//!   read back (with the listener's own identity, so the chart grants `get` beside `create`):
//!   the same delivery ID is success (`duplicate`, or `created` when this event's own earlier
//!   attempt stored it); anything else, or an object that cannot be read, stays the 409 error.
//! - Cancelling superseded runs ([`Creator::cancel_superseded`], `super::cancel`): one list by
//!   label selector (trigger and cancel key) and one merge patch of `spec.status` per superseded
//!   run, as the trigger's ServiceAccount when it names one (so it needs `list` and `patch`
//!   beside `create`), each call bounded by the call deadline and not retried; failures are
//!   logged and counted, never the event's failure.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::{ApiCapabilities, Scope};
use kube::{Client, Config};
use rand::Rng as _;
use serde_json::Value;

use crate::kube_errors::is_transient;

use super::{
    BoxFuture, CancelReport, CancelRequest, Created, Creator, Error, LABEL_CANCEL_KEY,
    LABEL_EVENT_ID, LABEL_TRIGGER, Resource, Verdict,
};

/// Attempts per object, the first included. Worst case with the call deadline and delays below:
/// 6 × 3 s + about 5 s of backoff, inside the 30 s event deadline (`--timeout-handler`).
const MAX_ATTEMPTS: u32 = 6;
/// Delay before the first retry; doubled each time, plus up to 50 % jitter.
const BASE_DELAY: Duration = Duration::from_millis(200);
/// Longest delay between attempts.
const MAX_DELAY: Duration = Duration::from_secs(2);
/// Deadline of one API call: a create that takes longer is treated as a transient failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Creates objects through the Kubernetes API.
pub struct KubeCreator {
    client: Client,
    call_timeout: Duration,
    config: Config,
    impersonated: Mutex<HashMap<String, Client>>,
    discovered: Mutex<HashMap<(String, String), (ApiResource, ApiCapabilities)>>,
}

impl std::fmt::Debug for KubeCreator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCreator")
            .field("cluster_url", &self.config.cluster_url.to_string())
            .finish_non_exhaustive()
    }
}

impl KubeCreator {
    /// A creator using `config` (from [`Config::infer`]: in-cluster service account, or
    /// `KUBECONFIG`).
    ///
    /// # Errors
    /// [`Error::Kube`] when no client can be built from the config.
    pub fn new(config: Config) -> Result<Self, Error> {
        let client = Client::try_from(config.clone()).map_err(|e| Error::Kube {
            message: format!("cannot build a Kubernetes client: {e}"),
            retryable: false,
        })?;
        Ok(Self {
            client,
            call_timeout: CALL_TIMEOUT,
            config,
            impersonated: Mutex::new(HashMap::new()),
            discovered: Mutex::new(HashMap::new()),
        })
    }

    /// The same creator with another deadline per API call (default 10 s).
    #[must_use]
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The client acting as `user`, or the listener's own.
    fn client_for(&self, user: Option<&str>) -> Result<Client, Error> {
        let Some(user) = user else {
            return Ok(self.client.clone());
        };
        let mut clients = self.impersonated.lock().map_err(|_| Error::Kube {
            message: "client cache poisoned".into(),
            retryable: false,
        })?;
        if let Some(client) = clients.get(user) {
            return Ok(client.clone());
        }
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups = None;
        let client = Client::try_from(config).map_err(|e| Error::Kube {
            message: format!("cannot build a client impersonating {user}: {e}"),
            retryable: false,
        })?;
        clients.insert(user.to_owned(), client.clone());
        Ok(client)
    }

    /// Resolves apiVersion/kind, from the cache or by discovery of that group version.
    async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), Error> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = self
            .discovered
            .lock()
            .ok()
            .and_then(|d| d.get(&key).cloned())
        {
            return Ok(found);
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| Error::Discovery {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                message: e.to_string(),
                retryable: is_transient(&e),
            })?;
        if let Ok(mut d) = self.discovered.lock() {
            d.insert(key, found.clone());
        }
        Ok(found)
    }

    async fn create_one(&self, mut resource: Resource) -> Result<Created, Error> {
        let (api_resource, caps) = self
            .resource(resource.api_version(), resource.kind())
            .await?;
        let generated = resource.name().is_empty();
        resource.resolve_generate_name();
        let client = self.client_for(resource.impersonate())?;
        let namespaced = caps.scope == Scope::Namespaced;
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client, resource.namespace(), &api_resource)
        } else {
            Api::all_with(client, &api_resource)
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut object = resource.clone();
            let meta = object.metadata_mut();
            if !namespaced {
                meta.remove("namespace");
            }
            // The name is chosen here: without `generateName` the API server answers a taken
            // name with 409 AlreadyExists (with it, 500 ServerTimeout, indistinguishable from
            // a real timeout).
            meta.remove("generateName");
            let body: DynamicObject = serde_json::from_slice(&object.to_json_vec())
                .map_err(|e| Error::InvalidObject(e.to_string()))?;
            let result =
                tokio::time::timeout(self.call_timeout, api.create(&PostParams::default(), &body))
                    .await;
            let error = match result {
                Ok(Ok(created)) => {
                    return Ok(Created {
                        api_version: resource.api_version().to_owned(),
                        kind: resource.kind().to_owned(),
                        namespace: created.metadata.namespace.unwrap_or_default(),
                        name: created.metadata.name.unwrap_or_default(),
                        duplicate: false,
                    });
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    kube::Error::Service(format!("no answer within {:?}", self.call_timeout).into())
                }
            };
            let name_taken =
                matches!(&error, kube::Error::Api(status) if status.is_already_exists());
            if name_taken && (resource.delivery_id().is_some() || attempt > 1) {
                match self.owner_of(&api_resource, namespaced, &resource).await {
                    // An earlier attempt of this very event was stored; its answer was lost.
                    Owner::Us => return Ok(resource.created()),
                    Owner::SameDelivery => {
                        tracing::info!(
                            kind = resource.kind(),
                            name = resource.name(),
                            delivery_id = resource.delivery_id().unwrap_or_default(),
                            "already created for this delivery ID: duplicate"
                        );
                        return Ok(resource.duplicate());
                    }
                    // The name is a function of the delivery ID: only the delivery ID
                    // annotation makes a 409 success; any other stays the error it is.
                    _ if resource.delivery_id().is_some() => {
                        return Err(api_error(&error, &resource));
                    }
                    // A random name taken by chance between two of our attempts is very
                    // unlikely; creating again could duplicate the event, so stop here.
                    Owner::Unknown if generated => return Ok(resource.created()),
                    Owner::Unknown | Owner::Other => {}
                }
            }
            if name_taken && generated && attempt < MAX_ATTEMPTS {
                // Someone else's object has this name: pick another one.
                let name = super::generate_name(resource.generate_name());
                resource.set_name(&name);
                continue;
            }
            let retryable = is_transient(&error);
            tracing::warn!(
                kind = resource.kind(),
                name = resource.name(),
                attempt,
                retryable,
                error = %error,
                "create failed"
            );
            if !retryable || attempt >= MAX_ATTEMPTS {
                return Err(api_error(&error, &resource));
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    async fn cancel_superseded_by(
        &self,
        created: &Created,
        request: &CancelRequest<'_>,
    ) -> CancelReport {
        let mut report = CancelReport::default();
        let failed = |report: &mut CancelReport, error: &dyn std::fmt::Display| {
            tracing::warn!(
                kind = %created.kind,
                namespace = %created.namespace,
                trigger = request.trigger,
                error = %error,
                "cannot list the runs this one supersedes"
            );
            report.failed += 1;
        };
        let (api_resource, caps) = match self.resource(&created.api_version, &created.kind).await {
            Ok(found) => found,
            Err(e) => {
                failed(&mut report, &e);
                return report;
            }
        };
        let client = match self.client_for(request.impersonate) {
            Ok(client) => client,
            Err(e) => {
                failed(&mut report, &e);
                return report;
            }
        };
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            Api::namespaced_with(client, &created.namespace, &api_resource)
        } else {
            Api::all_with(client, &api_resource)
        };
        let selector = format!(
            "{LABEL_TRIGGER}={},{LABEL_CANCEL_KEY}={}",
            request.trigger, request.key_label
        );
        let listed = tokio::time::timeout(
            self.call_timeout,
            api.list(&ListParams::default().labels(&selector)),
        )
        .await;
        let runs = match listed {
            Ok(Ok(list)) => list.items,
            Ok(Err(e)) => {
                failed(&mut report, &e);
                return report;
            }
            Err(_) => {
                failed(
                    &mut report,
                    &format!("no answer within {:?}", self.call_timeout),
                );
                return report;
            }
        };
        let patch = serde_json::json!({"spec": {"status": request.status.as_str()}});
        for run in runs {
            let Ok(value) = serde_json::to_value(&run) else {
                continue;
            };
            if super::judge(&value, &created.name, request.order) != Verdict::Cancel {
                continue;
            }
            let Some(name) = run.metadata.name.as_deref() else {
                continue;
            };
            let patched = tokio::time::timeout(
                self.call_timeout,
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
            )
            .await;
            let error = match patched {
                Ok(Ok(_)) => {
                    tracing::info!(
                        kind = %created.kind,
                        namespace = %created.namespace,
                        name,
                        superseded_by = %created.name,
                        status = request.status.as_str(),
                        "cancelled a superseded run"
                    );
                    report.cancelled.push(name.to_owned());
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", self.call_timeout),
            };
            tracing::warn!(
                kind = %created.kind,
                namespace = %created.namespace,
                name,
                superseded_by = %created.name,
                error = %error,
                "cannot cancel a superseded run"
            );
            report.failed += 1;
        }
        report
    }

    /// The object of `resource`'s name as it is now, read with the listener's own identity (the
    /// chart grants `get` beside `create`), or `None` when it cannot be read.
    async fn existing(
        &self,
        api_resource: &ApiResource,
        namespaced: bool,
        resource: &Resource,
    ) -> Option<Value> {
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(self.client.clone(), resource.namespace(), api_resource)
        } else {
            Api::all_with(self.client.clone(), api_resource)
        };
        match tokio::time::timeout(self.call_timeout, api.get(resource.name())).await {
            Ok(Ok(existing)) => serde_json::to_value(existing).ok(),
            Ok(Err(e)) => {
                tracing::warn!(
                    kind = resource.kind(),
                    name = resource.name(),
                    error = %e,
                    "cannot read the object holding this name to see whose it is"
                );
                None
            }
            Err(_) => None,
        }
    }

    /// Who made the existing object of `resource`'s name (read with [`Self::existing`]): this
    /// event's trigger (its eventID and trigger labels), an earlier delivery of the same
    /// delivery ID, someone else, or unknown (it cannot be read).
    async fn owner_of(
        &self,
        api_resource: &ApiResource,
        namespaced: bool,
        resource: &Resource,
    ) -> Owner {
        let Some(existing) = self.existing(api_resource, namespaced, resource).await else {
            return Owner::Unknown;
        };
        let theirs = |key: &str| existing["metadata"]["labels"][key].as_str();
        let ours = |key: &str| {
            resource
                .metadata()
                .get("labels")
                .and_then(|labels| labels[key].as_str())
        };
        if [LABEL_EVENT_ID, LABEL_TRIGGER]
            .iter()
            .all(|key| theirs(key) == ours(key))
        {
            Owner::Us
        } else if resource.same_delivery(&existing) {
            Owner::SameDelivery
        } else {
            Owner::Other
        }
    }
}

/// See [`KubeCreator::owner_of`].
enum Owner {
    Us,
    SameDelivery,
    Other,
    Unknown,
}

/// Delay before retry number `attempt` (1-based): exponential, capped, with jitter.
fn backoff(attempt: u32) -> Duration {
    let exponential = BASE_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let capped = exponential.min(MAX_DELAY);
    let jitter = rand::rng().random_range(0.0..0.5);
    capped.mul_f64(1.0 + jitter)
}

fn api_error(error: &kube::Error, resource: &Resource) -> Error {
    match error {
        kube::Error::Api(status) => Error::Api {
            kind: resource.kind().to_owned(),
            name: resource.name().to_owned(),
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        other => Error::Kube {
            message: format!("creating {} {}: {other}", resource.kind(), resource.name()),
            retryable: is_transient(other),
        },
    }
}

impl Creator for KubeCreator {
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        Box::pin(self.create_one(resource))
    }

    fn cancel_superseded<'a>(
        &'a self,
        created: &'a Created,
        request: &'a CancelRequest<'a>,
    ) -> BoxFuture<'a, CancelReport> {
        Box::pin(self.cancel_superseded_by(created, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= BASE_DELAY && backoff(1) <= BASE_DELAY.mul_f64(1.5));
        assert!(backoff(3) >= BASE_DELAY * 4);
        assert!(backoff(30) <= MAX_DELAY.mul_f64(1.5));
    }
}
