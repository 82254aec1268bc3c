//! Tests of the public API: compile, filters, overlays, numbers and sharing.

use super::*;
use crate::cel::functions::testing::{eval, eval_err, event};
use serde_json::{Value, json};

const PR_FILTER: &str =
    "header.match('X-GitHub-Event','pull_request') && body.action in ['opened','synchronize']";

fn pr_body(action: &str) -> Value {
    json!({
        "action": action,
        "number": 77,
        "pull_request": {"merged": true, "head": {"sha": "0123456789abcdef"}, "labels": [{"name": "ci"}]},
        "repository": {"full_name": "tektoncd/triggers"}
    })
}

fn filter(expression: &str, body: Value, headers: &[(&str, &str)]) -> Result<bool, EvalError> {
    let program = Program::compile(expression).expect("compiles");
    let data = EventData::new(&event(body, headers));
    program.evaluate_filter(&Vars {
        event: &data,
        extensions: &Extensions::new(),
        secrets: None,
    })
}

#[test]
fn the_github_pull_request_filter_passes_an_opened_pull_request() {
    let headers = [("X-GitHub-Event", "pull_request")];
    assert_eq!(filter(PR_FILTER, pr_body("opened"), &headers), Ok(true));
    assert_eq!(
        filter(PR_FILTER, pr_body("synchronize"), &headers),
        Ok(true)
    );
    assert_eq!(filter(PR_FILTER, pr_body("closed"), &headers), Ok(false));
    assert_eq!(
        filter(PR_FILTER, pr_body("opened"), &[("X-GitHub-Event", "push")]),
        Ok(false)
    );
}

#[test]
fn match_accepts_a_lower_case_header_name() {
    let expression = "header.match('x-github-event', 'pull_request')";
    let headers = [("X-GitHub-Event", "pull_request")];
    assert_eq!(filter(expression, pr_body("opened"), &headers), Ok(true));
}

#[test]
fn a_nested_boolean_compares_with_true() {
    let expression = "body.pull_request.merged == true";
    assert_eq!(filter(expression, pr_body("closed"), &[]), Ok(true));
}

#[test]
fn a_filter_passes_only_on_exactly_true() {
    for expression in ["1", "'true'", "null", "[true]", "false"] {
        assert_eq!(
            filter(expression, json!({}), &[]),
            Ok(false),
            "{expression}"
        );
    }
}

#[test]
fn a_missing_key_fails_the_filter_with_the_expression() {
    let err = filter("body.action == 'opened'", json!({}), &[]).expect_err("no key");
    assert_eq!(
        err.to_string(),
        r#"expression "body.action == 'opened'" failed to evaluate: no such key: action"#
    );
}

#[test]
fn body_numbers_are_doubles_equal_to_int_literals() {
    let body = pr_body("opened");
    assert_eq!(filter("body.number == 77", body.clone(), &[]), Ok(true));
    assert_eq!(filter("dyn(1) == 1.0", body.clone(), &[]), Ok(true));
    assert_eq!(
        filter("body.number in [76, 77]", body.clone(), &[]),
        Ok(true)
    );
    assert_eq!(
        filter("body.number + 1.0 == 78.0", body.clone(), &[]),
        Ok(true)
    );
    assert_eq!(
        filter("int(body.number) + 1 == 78", body.clone(), &[]),
        Ok(true)
    );
    assert_eq!(filter("type(body.number) == double", body, &[]), Ok(true));
}

#[test]
fn numbers_of_statically_known_different_types_are_rejected_at_compile() {
    let err = Program::compile("body.action == 'opened' || 1 == 1.0").expect_err("int == double");
    assert_eq!(
        err.to_string(),
        "expression \"body.action == 'opened' || 1 == 1.0\" check failed: ERROR: <input>:1:30: \
         found no matching overload for '_==_' applied to '(int, double)'\n \
         | body.action == 'opened' || 1 == 1.0\n \
         | .............................^"
    );
}

#[test]
fn adding_an_int_literal_to_a_body_number_is_an_error() {
    let err = filter("body.number + 1 == 78", pr_body("opened"), &[]).expect_err("double + int");
    assert_eq!(
        err.to_string(),
        "expression \"body.number + 1 == 78\" failed to evaluate: \
         found no matching overload for '_+_' applied to '(double, int)'"
    );
}

#[test]
fn evaluation_errors_use_cel_go_wording() {
    // Each message as upstream's cel-eval printed it after "failed to evaluate: ".
    for (expression, want) in [
        ("1 / 0", "division by zero"),
        ("1 % 0", "modulus by zero"),
        ("9223372036854775807 + 1", "integer overflow"),
        ("-(-9223372036854775808)", "integer overflow"),
        ("0u - 1u", "unsigned integer overflow"),
        ("[1][5]", "index out of bounds: 5"),
        ("int(1e19)", "integer overflow"),
        ("'hello'.charAt(6)", "index out of range: 6"),
        ("[1, 2].slice(1, 3)", "cannot slice(1, 3), list is length 2"),
    ] {
        let err = eval_err(expression, json!({}));
        assert_eq!(
            err,
            format!("expression {expression:?} failed to evaluate: {want}"),
            "{expression}"
        );
    }
}

#[test]
fn internal_function_names_are_shown_as_written() {
    let err = eval_err("body.t.matches(body.n)", json!({"t": "a", "n": 1}));
    assert!(
        err.ends_with("found no matching overload for 'matches' applied to 'string.(double)'"),
        "{err}"
    );
}

#[test]
fn overlays_produce_strings_numbers_maps_and_lists() {
    let body = pr_body("opened");
    let cases = [
        ("body.pull_request.head.sha.truncate(7)", json!("0123456")),
        ("body.number", json!(77.0)),
        ("size(body.pull_request.labels)", json!(1)),
        ("body.number > 5", json!(true)),
        (
            "{'repo': body.repository.full_name, 'n': body.number}",
            json!({"repo": "tektoncd/triggers", "n": 77.0}),
        ),
        ("body.pull_request.labels.map(l, l.name)", json!(["ci"])),
        ("b'hi'", json!("aGk=")),
        ("requestURL", json!("/hook?x=1")),
    ];
    for (expression, want) in cases {
        assert_eq!(eval(expression, body.clone()), Ok(want), "{expression}");
    }
}

#[test]
fn overlays_of_null_uint_or_timestamps_are_conversion_errors() {
    for expression in ["null", "1u", "timestamp('2024-01-01T00:00:00Z')", "int"] {
        let err = eval(expression, json!({})).expect_err(expression);
        assert!(
            matches!(err, EvalError::Conversion { .. }),
            "{expression}: {err}"
        );
    }
    assert_eq!(
        eval_err("null", json!({})),
        "failed to convert the result of expression \"null\" to JSON: \
         type conversion error from 'null_type' to JSON"
    );
}

#[test]
fn an_empty_body_is_an_empty_map() {
    assert_eq!(
        eval("size(body) == 0 && !has(body.x)", Value::Null),
        Ok(json!(true))
    );
}

#[test]
fn headers_are_lists_of_strings_under_canonical_names() {
    let headers = [("x-test", "a"), ("X-TEST", "b")];
    assert_eq!(
        filter(
            "header['X-Test'] == ['a', 'b'] && header['X-Test'][0] == 'a'",
            json!({}),
            &headers
        ),
        Ok(true)
    );
}

#[test]
fn extensions_are_read_from_the_vars() {
    let program = Program::compile("extensions.build.id.truncate(3)").expect("compiles");
    let data = EventData::new(&event(json!({}), &[]));
    let Value::Object(extensions) = json!({"build": {"id": "abcdef"}}) else {
        panic!("an object")
    };
    assert_eq!(
        program.evaluate_json(&Vars {
            event: &data,
            extensions: &extensions,
            secrets: None,
        }),
        Ok(json!("abc"))
    );
}

#[test]
fn the_crate_extensions_and_duplicate_map_keys_behave_as_cel_go() {
    let body = json!({"branch": "refs/heads/main", "xs": [3, 1, 2]});
    let cases = [
        ("body.branch.split('/').last()", json!("main")),
        (
            "body.branch.lowerAscii().replace('refs/heads/', '')",
            json!("main"),
        ),
        ("base64.encode(b'x')", json!("eA==")),
        ("math.greatest(body.xs)", json!(3.0)),
        ("body.xs.sort()", json!([1.0, 2.0, 3.0])),
        ("{'a': 1, 'a': 2}.a", json!(2)),
        ("'%s-%d'.format(['a', 1])", json!("a-1")),
    ];
    for (expression, want) in cases {
        assert_eq!(eval(expression, body.clone()), Ok(want), "{expression}");
    }
}

#[test]
fn an_unknown_function_is_rejected_at_compile_with_its_position() {
    let err = Program::compile("false && nope(1)").expect_err("unknown function");
    assert!(matches!(err, CompileError::Check { .. }));
    assert_eq!(err.expression(), "false && nope(1)");
    assert_eq!(
        err.to_string(),
        "expression \"false && nope(1)\" check failed: ERROR: <input>:1:14: \
         undeclared reference to 'nope' (in container '')\n | false && nope(1)\n | .............^"
    );
}

#[test]
fn a_global_truncate_is_rejected_at_compile() {
    let err = Program::compile("truncate(body.head_commit.id, 7)").expect_err("member only");
    assert_eq!(err.issues().len(), 1);
    assert_eq!((err.issues()[0].line, err.issues()[0].column), (1, 9));
    assert!(err.to_string().contains("'truncate'"), "{err}");
}

#[test]
fn a_syntax_error_is_reported_with_its_position() {
    let err = Program::compile("body.x ==").expect_err("syntax");
    assert!(matches!(err, CompileError::Parse { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "failed to parse expression \"body.x ==\": ERROR: <input>:1:10: Syntax error"
        ),
        "{text}"
    );
}

#[test]
fn optional_syntax_is_not_part_of_the_language() {
    assert!(matches!(
        Program::compile("body.?x"),
        Err(CompileError::Parse { .. })
    ));
}

#[test]
fn errors_quote_the_expression_as_go_does() {
    assert_eq!(go_quote("a\"b\\c\n\t\u{1}é"), r#""a\"b\\c\n\t\x01é""#);
}

#[test]
fn program_and_event_data_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Program>();
    assert_send_sync::<EventData>();
}

#[test]
fn one_event_data_serves_two_programs_on_two_threads() {
    let filter = Program::compile(PR_FILTER).expect("compiles");
    let overlay = Program::compile("body.pull_request.head.sha.truncate(7)").expect("compiles");
    let data = EventData::new(&event(
        pr_body("opened"),
        &[("X-GitHub-Event", "pull_request")],
    ));
    let extensions = Extensions::new();
    let vars = Vars {
        event: &data,
        extensions: &extensions,
        secrets: None,
    };
    std::thread::scope(|s| {
        let a = s.spawn(|| (0..200).all(|_| filter.evaluate_filter(&vars) == Ok(true)));
        let b = s.spawn(|| (0..200).all(|_| overlay.evaluate_json(&vars) == Ok(json!("0123456"))));
        assert!(a.join().expect("thread a"));
        assert!(b.join().expect("thread b"));
    });
}

#[test]
fn program_keeps_its_source() {
    let program = Program::compile(PR_FILTER).expect("compiles");
    assert_eq!(program.source(), PR_FILTER);
}
