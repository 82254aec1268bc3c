//! `--sink stdout`: each created object printed as one line of JSON (easy to pipe into `jq`),
//! with `generateName` resolved.

use std::io::Write as _;

use super::{BoxFuture, Created, Creator, Error, Resource};

/// Prints created objects on standard output.
#[derive(Debug, Clone, Default)]
pub struct StdoutCreator;

impl Creator for StdoutCreator {
    fn create(&self, mut resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        Box::pin(async move {
            resource.resolve_generate_name();
            let created = resource.created();
            let line = serde_json::to_string(resource.as_json()).map_err(|e| Error::Io {
                path: "<stdout>".into(),
                source: e.into(),
            })?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")
                .and_then(|()| out.flush())
                .map_err(|source| Error::Io {
                    path: "<stdout>".into(),
                    source,
                })?;
            Ok(created)
        })
    }
}
