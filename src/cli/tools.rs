//! Helpers shared by the local tools: reading request files and manifests.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::event::Event;
use crate::interceptors::SharedEvent;
use crate::raw_request::RawRequest;

/// Reads a raw HTTP request file into an event; its body must be JSON when `payload_validation`
/// (as the EventListener's annotation says, reference §1.2).
pub(super) fn read_request(path: &Path, payload_validation: bool) -> anyhow::Result<SharedEvent> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let request = RawRequest::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    let event: Event = if payload_validation {
        request
            .into_event()
            .with_context(|| format!("{}", path.display()))?
    } else {
        request.into_unvalidated_event()
    };
    // As the server does by default: objects are named from the delivery ID when there is one.
    let delivery_id = crate::event::DeliveryIdPolicy::default()
        .find(event.headers())
        .with_context(|| format!("{}", path.display()))?
        .map(str::to_owned);
    let event = event.with_delivery_id(delivery_id);
    Ok(SharedEvent::new(Arc::new(event)))
}
