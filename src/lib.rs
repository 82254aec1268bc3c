//! eventlistener: a Tekton Triggers EventListener in Rust.
//!
//! An event flows `sink` → `trigger` → `interceptors` (→ `cel`) → `binding` → `template` →
//! `resources`; the modules below are listed in that order, after the leaves every step shares
//! and the loading side. Imports only point down the flow: nothing imports `sink` or `cli`, and
//! only `sink` serves HTTP (`cloud_events` sends it, as `resources` talks to the API server).

// Leaves shared by every step.
pub mod api;
pub mod cloud_events;
pub mod event;
pub mod github_api;
pub mod gojson;
pub mod http_client;
pub mod kube_errors;
pub mod metrics;
pub mod raw_request;
pub mod secrets;

// Loading: manifests → the EventListener with its triggers resolved and compiled.
pub mod event_listener;
pub mod manifest;

// The event path, in flow order.
pub mod binding;
pub mod cel;
pub mod interceptors;
pub mod resources;
pub mod sink;
pub mod template;
pub mod trigger;

// Beside the event path: redelivering what GitHub failed to deliver.
pub mod catch_up;

// Subcommands.
pub mod cli;
