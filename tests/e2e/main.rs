//! End-to-end tests: the real server on 127.0.0.1 port 0, signed fixtures over HTTP, created
//! objects read back from a dir sink.

mod catch_up;
mod cli;
mod cloud_events;
mod connections;
mod creation_failures;
mod failure_answers;
mod github_interceptor;
mod github_pull_request;
mod hostile_input;
mod idempotency;
mod kube_api_server;
mod kube_cancel;
mod kube_catch_up;
mod kube_cluster;
mod kube_faults;
mod kube_outage;
mod kube_proxy_faults;
mod kube_selectors;
mod kube_status;
mod limits;
mod logs;
mod metrics;
mod slack;
mod support;
mod tls;
mod upstream_compat;
mod webhook_interceptor;
