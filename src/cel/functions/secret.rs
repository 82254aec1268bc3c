//! Tekton's `compareSecret` (behaviour reference §4.5; upstream
//! `pkg/interceptors/cel/triggers.go` `compareSecret`): `value.compareSecret(key, secretName)`
//! and `value.compareSecret(key, secretName, namespace)` compare `value` in constant time with
//! the Secret's data, read through the same [`SecretStore`] as the github interceptor.
//!
//! The Secret is always read in the trigger's namespace: upstream ignores the third argument
//! (its docs say it selects the namespace) and so do we, which also keeps an expression from
//! reading Secrets of other namespaces. The argument is still evaluated.
//!
//! How the store reaches a plain `fn` overload: a receiver macro rewrites the call to
//! `@compareSecret(value, key, name[, namespace], @secrets)`, and each evaluation binds the hidden
//! variable `@secrets` (which expressions cannot spell) to a [`SecretsVal`] holding the store and
//! namespace of that evaluation.

use std::sync::Arc;

use ::cel::ExecutionError;
use ::cel::common::ast::{CallExpr, Expr};
use ::cel::common::types::Type;
use ::cel::common::value::{StaticVal, Val};
use ::cel::parser::MacroExprHelper;
use ::cel::{IdedExpr, ParseError};
use subtle::ConstantTimeEq as _;

use super::{Args, Ret, arg, bool_val, str_arg};
use crate::secrets::SecretStore;

/// The name the macro rewrites `compareSecret` to.
pub(crate) const FUNCTION: &str = "@compareSecret";
/// The hidden variable holding the evaluation's secrets.
pub(crate) const VARIABLE: &str = "@secrets";
/// The CEL type of [`SecretsVal`]; only our overloads take it.
pub(crate) const SECRETS_TYPE: Type = Type::new_unspecified_type("@secrets");
static SECRETS_TYPE_REF: Type = SECRETS_TYPE;

/// Where `compareSecret` reads Secrets for one evaluation: a store and the trigger's namespace.
/// Cloning is one reference-count increment (each evaluation holds a clone).
#[derive(Clone)]
pub struct Secrets(Arc<(Arc<dyn SecretStore>, String)>);

impl Secrets {
    /// Secrets of `namespace` in `store`.
    pub fn new(store: Arc<dyn SecretStore>, namespace: impl Into<String>) -> Self {
        Self(Arc::new((store, namespace.into())))
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("namespace", &self.0.1)
            .finish_non_exhaustive()
    }
}

/// The value of `@secrets`: the evaluation's [`Secrets`], or none (then `compareSecret` fails).
#[derive(Debug, Clone)]
pub(crate) struct SecretsVal(pub(crate) Option<Secrets>);

impl Val for SecretsVal {
    fn get_type(&self) -> &Type {
        &SECRETS_TYPE_REF
    }

    fn cel_type() -> &'static Type {
        &SECRETS_TYPE_REF
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl StaticVal for SecretsVal {}

/// `x.compareSecret(…)` → `@compareSecret(x, …, @secrets)`.
pub(crate) fn rewrite(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    let Some(target) = target.take() else {
        return Ok(None);
    };
    let mut call_args = vec![target];
    call_args.append(args);
    call_args.push(helper.next_expr(Expr::Ident(VARIABLE.to_owned())));
    Ok(Some(helper.next_expr(Expr::Call(CallExpr {
        func_name: FUNCTION.to_owned(),
        target: None,
        args: call_args,
    }))))
}

/// `@compareSecret(value, key, name[, namespace], @secrets)`.
///
/// # Errors
///
/// `failed to find secret '<namespace>/<name>' in compareSecret: …` when the Secret or key is
/// missing, or when the evaluation has no secret store (e.g. `cel-eval` without manifests).
pub(crate) fn compare_secret<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let (Some(value), Some(key), Some(name), Some(secrets)) =
        (args.first(), args.get(1), args.get(2), args.last())
    else {
        return Err(ExecutionError::invalid_argument_count(4, args.len()));
    };
    let value = str_arg(value.as_ref(), "compareSecret")?;
    let key = str_arg(key.as_ref(), "compareSecret")?;
    let name = str_arg(name.as_ref(), "compareSecret")?;
    let secrets = arg::<SecretsVal>(secrets.as_ref(), "compareSecret")?;
    let Some(scope) = &secrets.0 else {
        return Err(ExecutionError::function_error(
            "compareSecret",
            format!(
                "failed to find secret '{name}' in compareSecret: no Secrets are available here"
            ),
        ));
    };
    let (store, namespace) = &*scope.0;
    let secret = store.get(namespace, name, key).map_err(|e| {
        ExecutionError::function_error(
            "compareSecret",
            format!("failed to find secret '{namespace}/{name}' in compareSecret: {e}"),
        )
    })?;
    Ok(bool_val(bool::from(
        secret.expose().ct_eq(value.as_bytes()),
    )))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::cel::{EventData, Program, Vars};
    use crate::event::Extensions;
    use crate::secrets::ManifestSecrets;

    fn secrets() -> Secrets {
        let mut store = ManifestSecrets::new();
        let secret = serde_json::from_value(json!({
            "metadata": {"name": "gh"}, "stringData": {"token": "s3cret"}
        }))
        .unwrap();
        store.insert("ci", &secret).unwrap();
        Secrets::new(Arc::new(store), "ci")
    }

    fn eval(expression: &str, secrets: Option<&Secrets>) -> Result<serde_json::Value, String> {
        let program = Program::compile(expression).map_err(|e| e.to_string())?;
        let event =
            super::super::testing::event(json!({"token": "s3cret"}), &[("X-Token", "s3cret")]);
        let data = EventData::new(&event);
        program
            .evaluate_json(&Vars {
                event: &data,
                extensions: &Extensions::new(),
                secrets,
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn equal_value_is_true_and_other_values_false() {
        let s = secrets();
        assert_eq!(
            eval("body.token.compareSecret('token', 'gh')", Some(&s)),
            Ok(json!(true))
        );
        assert_eq!(
            eval(
                "header['X-Token'][0].compareSecret('token', 'gh')",
                Some(&s)
            ),
            Ok(json!(true))
        );
        assert_eq!(
            eval("'nope'.compareSecret('token', 'gh')", Some(&s)),
            Ok(json!(false))
        );
        assert_eq!(
            eval("''.compareSecret('token', 'gh')", Some(&s)),
            Ok(json!(false))
        );
    }

    #[test]
    fn third_argument_is_evaluated_but_the_namespace_stays_the_triggers() {
        let s = secrets();
        assert_eq!(
            eval(
                "body.token.compareSecret('token', 'gh', 'other-namespace')",
                Some(&s)
            ),
            Ok(json!(true))
        );
    }

    #[test]
    fn missing_secret_key_or_store_is_an_error() {
        let s = secrets();
        let err = eval("body.token.compareSecret('token', 'nope')", Some(&s)).unwrap_err();
        assert!(
            err.contains("failed to find secret 'ci/nope' in compareSecret"),
            "{err}"
        );
        let err = eval("body.token.compareSecret('missing', 'gh')", Some(&s)).unwrap_err();
        assert!(
            err.contains("cannot find missing key in secret ci/gh"),
            "{err}"
        );
        let err = eval("body.token.compareSecret('token', 'gh')", None).unwrap_err();
        assert!(err.contains("no Secrets are available"), "{err}");
    }

    #[test]
    fn literal_references_are_known_at_compile_so_they_can_be_fetched_first() {
        let program = Program::compile(
            "body.token.compareSecret('token', 'gh') || body.x.compareSecret(body.key, 'other') || body.y.compareSecret('k2', 'gh', 'ns')",
        )
        .unwrap();
        assert_eq!(
            program.secret_refs(),
            [
                ("gh".to_owned(), "token".to_owned()),
                ("gh".to_owned(), "k2".to_owned())
            ]
        );
    }

    #[test]
    fn global_form_and_hidden_names_are_rejected_at_compile() {
        assert!(Program::compile("compareSecret('a', 'b', 'c')").is_err());
        assert!(Program::compile("'a'.compareSecret('b')").is_err());
        assert!(Program::compile("size(@secrets) > 0").is_err());
    }
}
