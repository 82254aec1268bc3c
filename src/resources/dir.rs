//! `--sink dir:PATH`: each created object is written as one JSON file
//! `PATH/<namespace>_<kind>_<name>.json`, the full object as it would be POSTed, with
//! `generateName` resolved. An existing file of the same name is `AlreadyExists`, as the API
//! server answers for a fixed `metadata.name`.

use std::io::Write as _;
use std::path::PathBuf;

use super::{BoxFuture, Created, Creator, Error, Resource};

/// Writes created objects into a directory (created if missing).
#[derive(Debug, Clone)]
pub struct DirCreator {
    dir: PathBuf,
}

impl DirCreator {
    /// A creator writing under `dir`.
    ///
    /// # Errors
    /// [`Error::Io`] when `dir` cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    fn write(&self, mut resource: Resource) -> Result<Created, Error> {
        resource.resolve_generate_name();
        let created = resource.created();
        let file = self.dir.join(format!(
            "{}_{}_{}.json",
            created.namespace,
            created.kind.to_ascii_lowercase(),
            created.name
        ));
        let text = serde_json::to_vec_pretty(resource.as_json()).map_err(|e| Error::Io {
            path: file.clone(),
            source: e.into(),
        })?;
        // Write under a temporary name, then link it into place: readers never see a partial
        // file, and `hard_link` fails if the name is taken (AlreadyExists).
        let tmp = self.dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| Error::Io { path, source }
        };
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&text)
            .and_then(|()| f.write_all(b"\n"))
            .map_err(io(&tmp))?;
        drop(f);
        let linked = std::fs::hard_link(&tmp, &file);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists {
                kind: created.kind,
                namespace: created.namespace,
                name: created.name,
            }),
            Err(source) => Err(Error::Io { path: file, source }),
        }
    }
}

impl Creator for DirCreator {
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>> {
        let this = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.write(resource))
                .await
                .map_err(|e| Error::Io {
                    path: PathBuf::new(),
                    source: std::io::Error::other(e),
                })?
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::CreateContext;

    const CTX: CreateContext<'static> = CreateContext {
        event_listener: "el",
        event_id: "id",
        trigger: "t",
        namespace: "ci",
        service_account: None,
    };

    #[tokio::test]
    async fn writes_the_object_with_its_generated_name() {
        let dir = tempfile::tempdir().unwrap();
        let creator = DirCreator::new(dir.path().join("out")).unwrap();
        let r = Resource::prepare(
            json!({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"generateName": "b-"}}),
            &CTX,
        )
        .unwrap();
        let created = creator.create(r).await.unwrap();
        let path = dir
            .path()
            .join("out")
            .join(format!("ci_pipelinerun_{}.json", created.name));
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(written["metadata"]["name"], created.name.as_str());
        assert_eq!(written["metadata"]["generateName"], "b-");
    }

    #[tokio::test]
    async fn fixed_name_twice_is_already_exists() {
        let dir = tempfile::tempdir().unwrap();
        let creator = DirCreator::new(dir.path()).unwrap();
        let make = || {
            Resource::prepare(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fixed"}}),
                &CTX,
            )
            .unwrap()
        };
        creator.create(make()).await.unwrap();
        let err = creator.create(make()).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert!(!err.is_retryable());
    }
}
