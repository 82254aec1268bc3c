//! `--sink stdout`: each created object printed as one line of JSON (easy to pipe into `jq`),
//! with `generateName` resolved; and `--sink null`, which creates nothing (benchmarks).

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
            let mut line = resource.to_json_vec();
            line.push(b'\n');
            let mut out = std::io::stdout().lock();
            out.write_all(&line)
                .and_then(|()| out.flush())
                .map_err(|source| Error::Io {
                    path: "<stdout>".into(),
                    source,
                })?;
            Ok(created)
        })
    }
}

/// Creates nothing: resolves `generateName` and reports the object as created, without writing
/// it anywhere. For benchmarks and load tests (`--sink null`), where the cost of the event path
/// itself is measured and a real creator's I/O would dominate.
#[derive(Debug, Clone, Default)]
pub struct NullCreator;

impl Creator for NullCreator {
    fn create(&self, mut resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        resource.resolve_generate_name();
        let created = resource.created();
        Box::pin(std::future::ready(Ok(created)))
    }
}
