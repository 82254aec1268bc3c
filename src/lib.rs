//! eventlistener: a Tekton Triggers EventListener in Rust.
//!
//! Modules are listed in the order an event flows through them.

pub mod api;
pub mod event;
pub mod manifest;
pub mod resources;
pub mod secrets;
pub mod template;
