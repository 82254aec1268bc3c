//! `--sink dir:PATH`: each created object is written as one JSON file
//! `PATH/<namespace>_<kind>_<name>.json`, the full object as it would be POSTed, with
//! `generateName` resolved. Files are created exclusively (written under a temporary name, then
//! hard-linked into place, which fails if the name is taken): nothing is ever overwritten, and a
//! reader never sees a partial file. A taken name is, as in the kube sink:
//! - for an object of the same delivery ID ([`super::ANNOTATION_DELIVERY_ID`]): a duplicate,
//!   success with nothing new;
//! - for a random name from `generateName` (no delivery ID): retried with a new suffix;
//! - otherwise `AlreadyExists`, as the API server answers for a fixed `metadata.name`.

use std::io::Write as _;
use std::path::PathBuf;

use super::{BoxFuture, Created, Creator, Error, Resource};

/// Attempts at a free random name before giving up with `AlreadyExists`.
const MAX_NAME_ATTEMPTS: u32 = 8;

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
        let random = resource.name().is_empty();
        resource.resolve_generate_name();
        self.write_resolved(resource, random)
    }

    /// Writes `resource` under its name; `random`: the name was drawn at random from
    /// `generateName`, so a taken one may be replaced.
    fn write_resolved(&self, mut resource: Resource, random: bool) -> Result<Created, Error> {
        let mut attempt = 1;
        loop {
            match self.write_once(&resource) {
                Err(Error::AlreadyExists { .. }) if random && attempt < MAX_NAME_ATTEMPTS => {
                    attempt += 1;
                    let name = super::generate_name(resource.generate_name());
                    resource.set_name(&name);
                }
                Err(Error::AlreadyExists {
                    kind,
                    namespace,
                    name,
                }) => {
                    return match self.existing(&resource) {
                        Some(existing) if resource.same_delivery(&existing) => {
                            Ok(resource.duplicate())
                        }
                        _ => Err(Error::AlreadyExists {
                            kind,
                            namespace,
                            name,
                        }),
                    };
                }
                other => return other,
            }
        }
    }

    fn path(&self, created: &Created) -> PathBuf {
        self.dir.join(format!(
            "{}_{}_{}.json",
            created.namespace,
            created.kind.to_ascii_lowercase(),
            created.name
        ))
    }

    /// The object already in place under `resource`'s name, if it can be read.
    fn existing(&self, resource: &Resource) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.path(&resource.created())).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn write_once(&self, resource: &Resource) -> Result<Created, Error> {
        let created = resource.created();
        let file = self.path(&created);
        let text = serde_json::to_vec_pretty(&resource.to_json()?).map_err(|e| Error::Io {
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
    use crate::resources::{CreateContext, Rendered};

    const CTX: CreateContext<'static> = CreateContext {
        event_listener: "el",
        event_id: "id",
        trigger: "t",
        namespace: "ci",
        service_account: None,
        idempotency: None,
        index: 0,
    };

    #[tokio::test]
    async fn writes_the_object_with_its_generated_name() {
        let dir = tempfile::tempdir().unwrap();
        let creator = DirCreator::new(dir.path().join("out")).unwrap();
        let r = Resource::prepare(
            Rendered::try_from(json!({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"generateName": "b-"}})).unwrap(),
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
    async fn same_delivery_twice_is_one_file_and_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let creator = DirCreator::new(dir.path()).unwrap();
        let key = |delivery_id| crate::resources::IdempotencyKey {
            event_listener_namespace: "ci",
            event_listener: "el",
            trigger: "t",
            delivery_id,
        };
        let make = |delivery_id| {
            let ctx = CreateContext {
                idempotency: Some(key(delivery_id)),
                ..CTX
            };
            Resource::prepare(
                Rendered::try_from(json!({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"generateName": "b-"}})).unwrap(),
                &ctx,
            )
            .unwrap()
        };
        let first = creator.create(make("d-1")).await.unwrap();
        assert!(!first.duplicate);
        let again = creator.create(make("d-1")).await.unwrap();
        assert!(again.duplicate);
        assert_eq!(again.name, first.name);
        let other = creator.create(make("d-2")).await.unwrap();
        assert!(!other.duplicate);
        assert_ne!(other.name, first.name);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 2);
    }

    #[tokio::test]
    async fn a_taken_name_of_another_delivery_is_already_exists() {
        let dir = tempfile::tempdir().unwrap();
        let creator = DirCreator::new(dir.path()).unwrap();
        let make = |delivery_id| {
            let ctx = CreateContext {
                idempotency: Some(crate::resources::IdempotencyKey {
                    event_listener_namespace: "ci",
                    event_listener: "el",
                    trigger: "t",
                    delivery_id,
                }),
                ..CTX
            };
            Resource::prepare(
                Rendered::try_from(
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fixed"}}),
                )
                .unwrap(),
                &ctx,
            )
            .unwrap()
        };
        creator.create(make("d-1")).await.unwrap();
        assert!(creator.create(make("d-1")).await.unwrap().duplicate);
        let err = creator.create(make("d-2")).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_taken_random_name_is_retried_with_a_new_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let creator = DirCreator::new(dir.path()).unwrap();
        let make = || {
            Resource::prepare(
                Rendered::try_from(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "g-"}})).unwrap(),
                &CTX,
            )
            .unwrap()
        };
        let first = creator.create(make()).await.unwrap();
        // The next random name is the one already taken: the creator must move on.
        let mut clash = make();
        clash.set_name(&first.name);
        let second = creator.write_resolved(clash, true).unwrap();
        assert_ne!(second.name, first.name);
        assert!(!second.duplicate);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[tokio::test]
    async fn fixed_name_twice_is_already_exists() {
        let dir = tempfile::tempdir().unwrap();
        let creator = DirCreator::new(dir.path()).unwrap();
        let make = || {
            Resource::prepare(
                Rendered::try_from(
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fixed"}}),
                )
                .unwrap(),
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
