//! What the secret-checking interceptors (github, gitlab, bitbucket, slack) share: the `secretRef` param,
//! checked at config load and read per event through the [`SecretStore`], and the `eventTypes`
//! rule (reference §4: the param present, even `[]`, means the event header must equal one entry).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{BuildContext, BuildError, Decision, Error, StopReason, param};
use crate::api::SecretRef;
use crate::secrets::{SecretStore, SecretValue};

/// A `secretRef` param, resolved in the Trigger's namespace.
#[derive(Debug)]
pub(crate) struct SecretParam {
    namespace: String,
    reference: SecretRef,
    store: Arc<dyn SecretStore>,
}

impl SecretParam {
    /// Reads `secretRef` from `params`: `None` when absent.
    ///
    /// # Errors
    /// A param of the wrong shape, an empty `secretKey` (upstream's text, at load instead of per
    /// event), or a Secret or key missing from a store that knows them all at load.
    pub(crate) fn build(
        interceptor: &str,
        params: &BTreeMap<&str, &serde_json::Value>,
        ctx: &BuildContext,
    ) -> Result<Option<Self>, BuildError> {
        Self::build_named(interceptor, "secretRef", params, ctx)
    }

    /// As [`Self::build`], for a `{secretName, secretKey}` param called `name` (slack's
    /// `signingSecretRef`).
    ///
    /// # Errors
    /// As [`Self::build`].
    pub(crate) fn build_named(
        interceptor: &str,
        name: &str,
        params: &BTreeMap<&str, &serde_json::Value>,
        ctx: &BuildContext,
    ) -> Result<Option<Self>, BuildError> {
        let Some(reference) = param::<SecretRef>(interceptor, params, name)? else {
            return Ok(None);
        };
        Self::from_ref(interceptor, name, name, reference, ctx).map(Some)
    }

    /// A `{secretName, secretKey}` found inside param `param` (github's
    /// `addChangedFiles.personalAccessToken`); `label` names it in the empty-key message
    /// (`<interceptor> interceptor <label>.secretKey is empty`, upstream's text).
    ///
    /// # Errors
    /// As [`Self::build`].
    pub(crate) fn from_ref(
        interceptor: &str,
        param: &str,
        label: &str,
        reference: SecretRef,
        ctx: &BuildContext,
    ) -> Result<Self, BuildError> {
        if reference.secret_key.is_empty() {
            return Err(BuildError::Param {
                interceptor: interceptor.into(),
                param: param.into(),
                message: format!("{interceptor} interceptor {label}.secretKey is empty"),
            });
        }
        if ctx.secrets.known_at_load() {
            ctx.secrets
                .get(
                    &ctx.namespace,
                    &reference.secret_name,
                    &reference.secret_key,
                )
                .map_err(|source| BuildError::Secret {
                    interceptor: interceptor.into(),
                    source,
                })?;
        }
        Ok(Self {
            namespace: ctx.namespace.clone(),
            reference,
            store: Arc::clone(&ctx.secrets),
        })
    }

    /// The secret's value, fetched if the store needs to.
    ///
    /// # Errors
    /// [`Error::Secret`] when it cannot be read.
    pub(crate) async fn value(&self) -> Result<SecretValue, Error> {
        Ok(crate::secrets::read(
            self.store.as_ref(),
            &self.namespace,
            &self.reference.secret_name,
            &self.reference.secret_key,
        )
        .await?)
    }
}

/// The `eventTypes` param, if present.
///
/// # Errors
/// A param that is not a list of strings.
pub(crate) fn event_types(
    interceptor: &str,
    params: &BTreeMap<&str, &serde_json::Value>,
) -> Result<Option<Vec<String>>, BuildError> {
    param(interceptor, params, "eventTypes")
}

/// `Some(stop)` when `types` is set and `actual` (the event header) is not in it.
pub(crate) fn check_event_type(types: Option<&[String]>, actual: Option<&str>) -> Option<Decision> {
    let types = types?;
    let actual = actual.unwrap_or_default();
    (!types.iter().any(|t| t == actual)).then(|| {
        Decision::stop(
            StopReason::Filtered,
            format!("event type {actual} is not allowed"),
        )
    })
}
