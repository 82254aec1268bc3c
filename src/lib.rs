//! eventlistener: a Tekton Triggers EventListener in Rust.
//!
//! Modules are listed in the order an event flows through them; imports only point down this
//! list (a module never imports one listed before it... except the leaves every step shares).

// Leaves shared by every step.
pub mod api;
pub mod event;
pub mod secrets;

/// Where objects come from, and the EventListener built from them.
pub mod manifest;

// The event path, in flow order.
pub mod binding;
pub mod cel;
pub mod interceptors;
pub mod resources;
pub mod sink;
pub mod template;
pub mod trigger;

pub mod cli;
pub mod listener;
