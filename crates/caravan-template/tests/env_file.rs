//! `env = true` files, read as go-envparse reads them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use caravan_template::env_file::parse;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn reads_plain_lines_comments_and_blank_lines() {
    let text = "# a comment\n\nFOO=bar\n  BAR = spaced value  \r\nexport EXPORTED=yes\n   # indented comment\n";
    assert_eq!(
        parse(text).unwrap(),
        vars(&[("BAR", "spaced value"), ("EXPORTED", "yes"), ("FOO", "bar")])
    );
}

#[test]
fn empty_values_trailing_comments_and_later_lines_win() {
    let text = "EMPTY=\nA=1 # one\nB=x#y\nA=2\nC=\"\" \n";
    assert_eq!(
        parse(text).unwrap(),
        vars(&[("A", "2"), ("B", "x"), ("C", ""), ("EMPTY", "")])
    );
}

#[test]
fn quotes_and_escapes() {
    let text = concat!(
        "SINGLE='keep \\n # and spaces '\n",
        "DOUBLE=\"tab\\there\\nnewline \\\"q\\\" back\\\\slash \\/ # not a comment\"\n",
        "UNICODE=\"caf\\u00e9 \\ud83d\\udd25\"\n",
        "MIXED=unquoted 'single' \"double \"  # EOL\n",
        "URL=http://example.org/a=b\n",
        "DOTTED.key/path=ok\n",
    );
    let parsed = parse(text).unwrap();
    assert_eq!(parsed["SINGLE"], "keep \\n # and spaces ");
    assert_eq!(
        parsed["DOUBLE"],
        "tab\there\nnewline \"q\" back\\slash / # not a comment"
    );
    assert_eq!(parsed["UNICODE"], "café 🔥");
    assert_eq!(parsed["MIXED"], "unquoted single double ");
    assert_eq!(parsed["URL"], "http://example.org/a=b");
    assert_eq!(parsed["DOTTED.key/path"], "ok");
}

#[test]
fn export_alone_is_a_key() {
    // go-envparse drops `export ` only when a key follows it.
    assert_eq!(parse("export=1").unwrap(), vars(&[("export", "1")]));
}

#[test]
fn errors_carry_line_and_column() {
    for (text, line, col, message) in [
        ("OK=1\nno separator\n", 2, 1, "missing ="),
        ("=value", 1, 1, "empty key"),
        (
            "  1ABC=x",
            1,
            3,
            "key must start with [A-Za-z_] but found '1'",
        ),
        (
            "AB-C=x",
            1,
            3,
            "key characters must be [A-Za-z0-9/_.] but found '-'",
        ),
        ("A=\"open", 1, 3, "unmatched \""),
        ("A=x 'open", 1, 5, "unmatched '"),
        ("A=\"bad \\q\"", 1, 9, "invalid escape sequence: 'q'"),
        ("A=\"\\u12\"", 1, 8, "invalid hex character: '\"'"),
        ("A=\"\\ud83d\"", 1, 5, "incomplete Unicode surrogate pair"),
        ("A=\"x\\", 1, 5, "incomplete escape sequence"),
        ("A=a\u{1}b", 1, 4, "0x01 is an invalid value character"),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(
            (err.line, err.col, err.message.as_str()),
            (line, col, message),
            "{text:?}"
        );
    }
    assert_eq!(
        parse("\n\nA=\"x").unwrap_err().to_string(),
        "env file: 3:3: unmatched \""
    );
}
