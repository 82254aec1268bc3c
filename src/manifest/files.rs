//! Reading manifest files and directories (`-f`), like `kubectl apply -f`.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::positions::{FieldPath, FilePositions, Position, Segment};
use super::{Catalog, Error, Loaded, Origin, is_manifest_file, schema};
use crate::api::{KnownKind, Manifest};

/// Reads every path (file or directory, recursively, in name order) into one [`Catalog`].
/// Documents of other kinds are skipped with a debug log; `kind: List` items are read. A file
/// found in a directory whose documents are none of them Kubernetes objects (no `apiVersion`,
/// `kind` or `metadata`: an example payload next to the manifests) is skipped with a warning
/// and listed in
/// [`Catalog::skipped`]; the same file named as a path is an error.
///
/// # Errors
/// The first unreadable file, syntax error, or document with a bad field, naming file, document
/// index and field.
pub fn load(paths: &[PathBuf]) -> Result<Catalog, Error> {
    let (catalog, errors) = load_all(paths);
    match errors.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(catalog),
    }
}

/// Like [`load`], but reads on past problems: every object that could be read, and every
/// problem found (for `validate`).
pub fn load_all(paths: &[PathBuf]) -> (Catalog, Vec<Error>) {
    let mut catalog = Catalog::default();
    let mut errors = Vec::new();
    for path in paths {
        let files = match manifest_files(path) {
            Ok(files) if files.is_empty() => {
                errors.push(Error::Empty { path: path.clone() });
                continue;
            }
            Ok(files) => files,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let walked = path.is_dir();
        for file in files {
            load_file(&file, walked, &mut catalog, &mut errors);
        }
    }
    (catalog, errors)
}

fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        // Hidden entries are skipped: a mounted ConfigMap holds its files twice, once under the
        // kubelet's `..2026_…` folder, as `kubectl apply -f` would not see them either.
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            files.extend(manifest_files(&entry)?);
        } else if is_manifest_file(&entry) {
            files.push(entry);
        }
    }
    Ok(files)
}

/// Reads one file (JSON when it ends in `.json`, else multi-document YAML) into `catalog`.
/// Keys a known kind does not have are errors too (the object is still read). `walked`: the
/// file was found in a directory, so it may be skipped as not a manifest.
fn load_file(path: &Path, walked: bool, catalog: &mut Catalog, errors: &mut Vec<Error>) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => {
            errors.push(Error::Read {
                path: path.to_owned(),
                source,
            });
            return;
        }
    };
    let documents = match read_documents(path, &text) {
        Ok(documents) => documents,
        Err(e) => {
            errors.push(e);
            return;
        }
    };
    let holds_data = documents.iter().any(|d| !d.is_null());
    if walked && holds_data && !documents.iter().any(is_kubernetes_object) {
        tracing::warn!(file = %path.display(), "skipping a file that holds no Kubernetes object (no apiVersion or kind)");
        catalog.skipped.push(path.to_owned());
        return;
    }
    // Read again with positions only when a message needs them.
    let mut positions: Option<FilePositions> = None;
    for (index, document) in documents.into_iter().enumerate() {
        if document.is_null() {
            continue;
        }
        let origin = Origin {
            file: path.to_owned(),
            document: index + 1,
        };
        let mut unknown = Vec::new();
        unknown_fields(&origin, &document, &FieldPath::default(), &mut unknown);
        for mut e in unknown {
            if let Error::UnknownField {
                unknown, position, ..
            } = &mut e
            {
                let positions = positions.get_or_insert_with(|| FilePositions::read(&text));
                *position = positions.locate(origin.document, &unknown.path);
            }
            errors.push(e);
        }
        if let Err(e) = add_document(catalog, origin, document) {
            errors.push(e);
        }
    }
}

/// True for a document that means to be a Kubernetes object: it has `apiVersion`, `kind` or
/// `metadata` (one with `metadata` but no `kind` is a broken manifest, not a payload).
fn is_kubernetes_object(document: &Value) -> bool {
    document.as_object().is_some_and(|map| {
        ["apiVersion", "kind", "metadata"]
            .iter()
            .any(|key| map.contains_key(*key))
    })
}

/// The unknown keys of `document` (at `prefix` in its file) when it is a known kind, or of each
/// item of a `List`.
fn unknown_fields(origin: &Origin, document: &Value, prefix: &FieldPath, out: &mut Vec<Error>) {
    let text = |key: &str| {
        document
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if kind == "List" {
        if let Some(Value::Array(items)) = document.get("items") {
            for (i, item) in items.iter().enumerate() {
                let at = prefix.join(&FieldPath(vec![
                    Segment::Key("items".to_owned()),
                    Segment::Index(i),
                ]));
                unknown_fields(origin, item, &at, out);
            }
        }
        return;
    }
    let Some(known) = Manifest::kind_of(api_version, kind) else {
        return;
    };
    let name = document
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    for mut unknown in schema::unknown_fields(known, document) {
        unknown.path = prefix.join(&unknown.path);
        out.push(Error::UnknownField {
            origin: origin.clone(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            unknown,
            position: None,
        });
    }
}

fn read_documents(path: &Path, text: &str) -> Result<Vec<Value>, Error> {
    let syntax = |format: &'static str, message: String, position| Error::Syntax {
        path: path.to_owned(),
        format,
        message,
        position,
    };
    if path.extension().is_some_and(|e| e == "json") {
        let document = serde_json::from_str(text).map_err(|e| {
            let at = Position {
                line: e.line() as u64,
                column: e.column() as u64,
            };
            syntax("JSON", e.to_string(), Some(at).filter(|p| p.line > 0))
        })?;
        Ok(vec![document])
    } else {
        serde_saphyr::from_multiple_with_options(text, crate::api::yaml_options()).map_err(|e| {
            let at = e.location().map(|l| Position {
                line: l.line(),
                column: l.column(),
            });
            // Only the first line: the rest is a snippet of the file, which may hold a secret.
            syntax(
                "YAML",
                first_line(&e.to_string()),
                at.filter(|p| p.line > 0),
            )
        })
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_owned()
}

/// Adds one document (or the items of a `List`) to `catalog`.
pub(crate) fn add_document(
    catalog: &mut Catalog,
    origin: Origin,
    document: Value,
) -> Result<(), Error> {
    let Value::Object(map) = &document else {
        return Err(Error::Document {
            origin,
            message: format!(
                "expected an object with apiVersion and kind, found {}",
                crate::api::json_type_name(&document)
            ),
        });
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (text("apiVersion").to_owned(), text("kind").to_owned());
    if api_version.is_empty() || kind.is_empty() {
        return Err(Error::Document {
            origin,
            message: "missing apiVersion or kind".to_owned(),
        });
    }
    if kind == "List" {
        if let Some(Value::Array(items)) = map.get("items") {
            for item in items.clone() {
                add_document(catalog, origin.clone(), item)?;
            }
        }
        return Ok(());
    }
    let Some(known) = Manifest::kind_of(&api_version, &kind) else {
        tracing::debug!(%origin, %api_version, %kind, "skipping a kind the listener does not read");
        return Ok(());
    };
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if name.is_empty() {
        return Err(Error::Field {
            origin,
            kind,
            name,
            field: "metadata.name".to_owned(),
            message: "missing".to_owned(),
        });
    }
    fn typed<T: DeserializeOwned>(
        origin: &Origin,
        kind: &str,
        name: &str,
        document: Value,
    ) -> Result<Loaded<T>, Error> {
        let object = serde_path_to_error::deserialize(document).map_err(|e| Error::Field {
            origin: origin.clone(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            field: e.path().to_string(),
            // NB: serde's messages quote the offending value; a Secret's must not reach a log.
            message: if kind == "Secret" {
                "wrong type (value not shown: Secret)".to_owned()
            } else {
                e.into_inner().to_string()
            },
        })?;
        Ok(Loaded {
            origin: origin.clone(),
            object,
        })
    }
    match known {
        KnownKind::EventListener => catalog
            .event_listeners
            .push(typed(&origin, &kind, &name, document)?),
        KnownKind::Trigger => catalog
            .triggers
            .push(typed(&origin, &kind, &name, document)?),
        KnownKind::TriggerBinding => catalog
            .trigger_bindings
            .push(typed(&origin, &kind, &name, document)?),
        KnownKind::ClusterTriggerBinding => catalog
            .cluster_trigger_bindings
            .push(typed(&origin, &kind, &name, document)?),
        KnownKind::TriggerTemplate => catalog
            .trigger_templates
            .push(typed(&origin, &kind, &name, document)?),
        KnownKind::Secret => catalog
            .secrets
            .push(typed(&origin, &kind, &name, document)?),
        KnownKind::ClusterInterceptor => catalog
            .cluster_interceptors
            .push(typed(&origin, &kind, &name, document)?),
        KnownKind::Interceptor => catalog
            .interceptors
            .push(typed(&origin, &kind, &name, document)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn directory_is_read_recursively_and_other_kinds_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.yaml",
            "apiVersion: triggers.tekton.dev/v1beta1\nkind: TriggerBinding\nmetadata:\n  name: b\nspec:\n  params:\n  - name: x\n    value: $(body.x)\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n",
        );
        write(
            dir.path(),
            "sub/t.json",
            r#"{"apiVersion":"triggers.tekton.dev/v1alpha1","kind":"TriggerTemplate","metadata":{"name":"t"},"spec":{"resourcetemplates":[]}}"#,
        );
        write(dir.path(), "notes.txt", "not a manifest");
        write(
            dir.path(),
            "..2026_11_30/a.yaml",
            "apiVersion: triggers.tekton.dev/v1beta1\nkind: TriggerBinding\nmetadata:\n  name: b\n",
        );
        let catalog = load(&[dir.path().to_owned()]).unwrap();
        assert_eq!(catalog.trigger_bindings.len(), 1);
        assert_eq!(
            catalog.trigger_bindings[0].object.spec.params[0].value,
            "$(body.x)"
        );
        assert_eq!(catalog.trigger_templates.len(), 1);
        assert!(
            catalog
                .trigger_template("default", "default", "t")
                .is_some()
        );
        assert!(catalog.trigger_template("default", "other", "t").is_none());
    }

    #[test]
    fn bad_field_names_file_document_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "el.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata:\n  name: el\nspec:\n  triggers:\n  - name: t\n    bindings: 3\n",
        );
        let err = load(&[path]).unwrap_err().to_string();
        assert!(err.contains("el.yaml (document 2)"), "{err}");
        assert!(err.contains("spec.triggers[0].bindings"), "{err}");
        assert!(err.contains("EventListener \"el\""), "{err}");
    }

    #[test]
    fn secret_values_never_appear_in_load_errors() {
        let dir = tempfile::tempdir().unwrap();
        let typed = write(
            dir.path(),
            "s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  token: [8675309123456]\n",
        );
        let err = load(&[typed]).unwrap_err().to_string();
        assert!(!err.contains("8675309123456"), "{err}");
        assert!(err.contains("stringData.token"), "{err}");
        let broken = write(
            dir.path(),
            "t.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: t\nstringData:\n  token: \"hunter2\n",
        );
        let err = load(&[broken]).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn yaml_syntax_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.yml", "kind: [unclosed\n");
        let err = load(&[path]).unwrap_err().to_string();
        assert!(err.contains("bad.yml: not valid YAML"), "{err}");
    }

    #[test]
    fn missing_kind_is_an_error_and_missing_path_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "x.yaml", "metadata:\n  name: x\n");
        assert!(
            load(&[path])
                .unwrap_err()
                .to_string()
                .contains("missing apiVersion or kind")
        );
        assert!(matches!(
            load(&[dir.path().join("nope.yaml")]),
            Err(Error::Read { .. })
        ));
    }

    #[test]
    fn payload_files_next_to_manifests_in_a_directory_are_skipped_but_not_when_named() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "tb.yaml",
            "apiVersion: triggers.tekton.dev/v1beta1\nkind: TriggerBinding\nmetadata:\n  name: b\nspec:\n  params: []\n",
        );
        let payload = write(
            dir.path(),
            "payload.json",
            r#"{"action": "opened", "pull_request": {"number": 1}}"#,
        );
        let list = write(dir.path(), "list.json", "[1, 2]");
        let broken = write(dir.path(), "sub/broken.yaml", "metadata:\n  name: x\n");
        let (catalog, errors) = load_all(&[dir.path().to_owned()]);
        assert_eq!(catalog.trigger_bindings.len(), 1);
        assert_eq!(catalog.skipped, vec![list, payload.clone()]);
        // A document with metadata but no kind means to be a manifest: still an error.
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].to_string().contains("broken.yaml"),
            "{}",
            errors[0]
        );
        std::fs::remove_file(broken).unwrap();
        assert!(load(&[dir.path().to_owned()]).is_ok());
        // Named on its own, a payload is not a manifest.
        assert!(
            load(&[payload])
                .unwrap_err()
                .to_string()
                .contains("missing apiVersion or kind")
        );
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "b.yaml",
            "apiVersion: triggers.tekton.dev/v1beta1\nkind: TriggerBinding\nmetadata:\n  name: b\nspec:\n  params:\n  - name: n\n    value: on\n",
        );
        let catalog = load(&[path]).unwrap();
        let param = &catalog.trigger_bindings[0].object.spec.params[0];
        assert_eq!((param.name.as_str(), param.value.as_str()), ("n", "on"));
    }

    #[test]
    fn unknown_fields_are_errors_in_files_with_their_position_but_not_through_add_document() {
        let dir = tempfile::tempdir().unwrap();
        let text = "apiVersion: triggers.tekton.dev/v1beta1\nkind: Trigger\nmetadata:\n  name: t\nspec:\n  bindngs: []\n";
        let path = write(dir.path(), "t.yaml", text);
        let (catalog, errors) = load_all(&[path]);
        assert_eq!(catalog.triggers.len(), 1, "still read");
        let [
            Error::UnknownField {
                unknown, position, ..
            },
        ] = errors.as_slice()
        else {
            panic!("{errors:?}");
        };
        assert_eq!(unknown.path.to_string(), "spec.bindngs");
        assert_eq!(unknown.suggestion, Some("bindings"));
        assert_eq!(position.map(|p| (p.line, p.column)), Some((6, 3)));
        assert!(errors[0].to_string().contains("(line 6, column 3)"));
        // Cluster mode reads objects through add_document: the API server has pruned them.
        let mut catalog = Catalog::default();
        let document: Value = serde_saphyr::from_str(text).unwrap();
        let origin = Origin {
            file: "cluster".into(),
            document: 0,
        };
        add_document(&mut catalog, origin, document).unwrap();
        assert_eq!(catalog.triggers.len(), 1);
    }

    #[test]
    fn list_items_are_read() {
        let mut catalog = Catalog::default();
        let origin = Origin {
            file: "l.json".into(),
            document: 1,
        };
        add_document(
            &mut catalog,
            origin,
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
            ]}),
        )
        .unwrap();
        assert_eq!(catalog.secrets.len(), 1);
    }
}
