//! Arbitrary input never panics the parser: mutated seeds and fixtures (bytes deleted,
//! inserted, truncated, tokens spliced in) and random text either parse or fail with
//! diagnostics.

mod common;

use caravan_jobspec::{ParseOptions, SourceFile, parse, parse_and_validate};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Seeds, fixtures and JSON forms of them, read once.
fn corpus() -> &'static [String] {
    static CORPUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut texts = Vec::new();
        for path in common::seeds().into_iter().chain(common::fixtures()) {
            texts.push(std::fs::read_to_string(&path).expect("readable"));
        }
        for name in ["s4-connect.hcl.json", "s2-same-group.hcl.json"] {
            texts.push(std::fs::read_to_string(common::fixture_path(name)).expect("readable"));
        }
        // The API's JSON form of a seed.
        let seed = common::seeds().into_iter().next().expect("a seed");
        let job = common::must_parse_file(&seed);
        texts.push(
            serde_json::to_string_pretty(&serde_json::json!({ "Job": job })).expect("serializes"),
        );
        texts
    })
}

/// Fragments that push the parser into its corners.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "=",
    "\n",
    "${",
    "$${",
    "%{",
    "%{ if true }",
    "%{ endif }",
    "~}",
    "<<EOH\n",
    "<<-EOH\n",
    "\nEOH\n",
    "var.",
    "local.",
    "null",
    "true",
    "-1",
    "1e400",
    "0x",
    "\\",
    "\\u00",
    "é",
    "\u{0}",
    ",",
    ":",
    "# c\n",
    "/*",
    "*/",
    "job \"j\" {",
    "group \"g\" {",
    "task \"t\" {",
    "port \"p\" {",
    "count = ",
    "env = {",
    "config {",
    "upper(",
    "...",
    "?",
    "!",
    "&&",
    "for x in [1]: x",
    "[for",
    "*",
    ".",
    "\"Job\":",
    "{\"job\":",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    InsertBytes { at: usize, bytes: Vec<u8> },
    Truncate { at: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::InsertBytes { at, bytes }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 1usize..200).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        let n = bytes.len().max(1);
        match m {
            Mutation::Delete { at, len } => {
                let start = at % n;
                let end = (start + len).min(bytes.len());
                if start < end {
                    bytes.drain(start..end);
                }
            }
            Mutation::Insert { at, token } => {
                let at = (at % n).min(bytes.len());
                bytes.splice(at..at, TOKENS[*token].bytes());
            }
            Mutation::InsertBytes { at, bytes: extra } => {
                let at = (at % n).min(bytes.len());
                bytes.splice(at..at, extra.iter().copied());
            }
            Mutation::Truncate { at } => bytes.truncate(at % n),
            Mutation::Duplicate { at, len } => {
                let start = (at % n).min(bytes.len());
                let end = (start + len).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(end..end, copy);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn parse_both(text: String) {
    let file = SourceFile::new("fuzz.nomad", text);
    let opts = ParseOptions {
        vars: vec![("image_tag".into(), "1".into())],
        ..ParseOptions::default()
    };
    // Either outcome is fine; a panic fails the test. Rendering must not panic either.
    if let Err(e) = parse(&file, &opts) {
        let _ = e.to_string();
    }
    if let Err(e) = parse_and_validate(&file, &opts) {
        let _ = e.to_string();
    }
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    #[test]
    fn mutated_job_files_never_panic(
        index in 0usize..64,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let corpus = corpus();
        let text = apply(&corpus[index % corpus.len()], &mutations);
        parse_both(text);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        parse_both(text);
    }

    #[test]
    fn random_token_soup_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..40)) {
        let text: String = tokens.iter().map(|&i| TOKENS[i]).collect();
        parse_both(text);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    for open in ["[", "{\"a\":", "(", "job \"x\" {\n"] {
        let text = open.repeat(5000);
        parse_both(text.clone());
        parse_both(format!("job \"x\" {{\n  a = {text}\n}}\n"));
    }
}
