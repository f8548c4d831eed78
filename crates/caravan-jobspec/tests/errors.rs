//! Broken job files: every error says what is wrong and where, and all of them are
//! reported at once.

mod common;

use caravan_jobspec::{ParseOptions, SourceFile, parse};
use common::{assert_error, errors};

const TASK_WITH_TYPO: &str = r#"job "example" {
  group "cache" {
    task "redis" {
      drivr = "docker"
      config {
        image = "redis:7"
      }
    }
  }
}
"#;

#[test]
fn syntax_error_is_at_the_next_token() {
    let diags = errors(
        r#"job "example" {
  group "cache" {
    task "redis" {
      config {
        ports = ["redis"
        args  = ["a"]
      }
    }
  }
}
"#,
    );
    assert_eq!(diags.len(), 1);
    assert_error(&diags, "syntax error: expected `]`", 6, 9);
}

#[test]
fn syntax_error_at_end_of_input() {
    let diags = errors("job \"x\" {\n  group \"g\" {\n");
    // The parser stops where the unclosed body cannot continue.
    assert_error(
        &diags,
        "syntax error: invalid block body; expected `}`",
        2,
        14,
    );
}

#[test]
fn unknown_attribute_suggests_the_closest_name() {
    let diags = errors(TASK_WITH_TYPO);
    assert_eq!(diags.len(), 1);
    assert_error(
        &diags,
        "unknown attribute `drivr` in task \"redis\"; did you mean `driver`?",
        4,
        7,
    );
    assert_eq!(diags[0].source_line, "      drivr = \"docker\"");
    assert_eq!(
        diags[0].to_string(),
        "error: unknown attribute `drivr` in task \"redis\"; did you mean `driver`?\n --> job.nomad:4:7\n  |\n\
         4 |       drivr = \"docker\"\n  |       ^^^^^\n"
    );
}

#[test]
fn unknown_block_suggests_the_closest_name() {
    let diags =
        errors("job \"x\" {\n  group \"g\" {\n    sevice {\n      name = \"a\"\n    }\n  }\n}\n");
    assert_error(
        &diags,
        "unknown block `sevice` in group \"g\"; did you mean `service`?",
        3,
        5,
    );
}

#[test]
fn unknown_name_without_a_close_match_lists_what_is_accepted() {
    let diags =
        errors("job \"x\" {\n  group \"g\" {\n    restart {\n      zzz = 1\n    }\n  }\n}\n");
    assert_error(
        &diags,
        "unknown attribute `zzz` in restart of group \"g\"",
        4,
        7,
    );
    let note = &diags[0].notes[0];
    assert!(
        note.contains("attempts, interval, delay, mode, render_templates"),
        "{note}"
    );
}

#[test]
fn wrong_type_is_at_the_value() {
    let diags = errors("job \"x\" {\n  group \"g\" {\n    count = \"three\"\n  }\n}\n");
    assert_error(
        &diags,
        "`count` must be a number, got string \"three\"",
        3,
        13,
    );
    let diags = errors("job \"x\" {\n  datacenters = \"dc1\"\n}\n");
    assert_error(
        &diags,
        "`datacenters` must be a list of strings, got string \"dc1\"",
        2,
        17,
    );
    let diags = errors("job \"x\" {\n  all_at_once = 3\n}\n");
    assert_error(&diags, "`all_at_once` must be a bool, got number 3", 2, 17);
    let diags = errors("job \"x\" {\n  group \"g\" {\n    count = 1.5\n  }\n}\n");
    assert_error(&diags, "`count` must be a whole number, got 1.5", 3, 13);
}

#[test]
fn duplicate_labels_point_at_the_second_and_name_the_first() {
    let diags = errors(
        r#"job "x" {
  group "app" {
    network {
      port "http" {}
      port "http" { static = 80 }
    }
    task "web" {
      driver = "docker"
    }
    task "web" {
      driver = "docker"
    }
  }
  group "app" {}
}
"#,
    );
    assert_error(
        &diags,
        "duplicate port \"http\" in network of group \"app\"; the first one is on line 4",
        5,
        7,
    );
    assert_error(
        &diags,
        "duplicate task \"web\" in group \"app\"; the first one is on line 7",
        10,
        5,
    );
    assert_error(
        &diags,
        "duplicate group \"app\" in job \"x\"; the first one is on line 2",
        14,
        3,
    );
    assert_eq!(diags.len(), 3);
}

#[test]
fn bad_duration_is_at_the_attribute_value() {
    let diags = errors(
        "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      kill_timeout = \"5x\"\n    }\n  }\n}\n",
    );
    assert_error(
        &diags,
        "`kill_timeout` is not a valid duration: invalid duration \"5x\"",
        5,
        22,
    );
}

#[test]
fn block_and_attribute_mixed_up() {
    let diags = errors(
        r#"job "x" {
  group "g" {
    network = { mode = "host" }
    task "t" {
      driver "docker" {}
    }
  }
}
"#,
    );
    assert_error(
        &diags,
        "`network` is a block, not an attribute, in group \"g\": write `network { ... }`",
        3,
        5,
    );
    assert_error(
        &diags,
        "`driver` is an attribute, not a block, in task \"t\": write `driver = ...`",
        5,
        7,
    );
}

#[test]
fn missing_and_extra_labels() {
    let diags = errors("job \"x\" {\n  group {\n  }\n  update \"u\" {}\n}\n");
    assert_error(&diags, "missing label: a `group` block needs a name", 2, 3);
    assert_error(&diags, "`update` blocks take no label", 4, 10);
    let diags = errors("job {\n}\n");
    assert_error(&diags, "missing label: a `job` block needs a name", 1, 1);
}

#[test]
fn only_one_network_and_one_job() {
    let diags = errors(
        "job \"a\" {\n  group \"g\" {\n    network {}\n    network {}\n  }\n}\njob \"b\" {}\n",
    );
    assert_error(
        &diags,
        "only one `network` block is allowed in group \"g\"; the first one is on line 3",
        4,
        5,
    );
    assert_error(
        &diags,
        "only one `job` block is allowed in a job file; the first one is on line 1",
        7,
        1,
    );
}

#[test]
fn a_file_without_a_job() {
    let diags = errors("# nothing here\n");
    assert_error(&diags, "no `job` block", 2, 1);
    let diags = errors("jobb \"x\" {}\n");
    assert_error(
        &diags,
        "unknown block `jobb` in the job file; did you mean `job`?",
        1,
        1,
    );
}

#[test]
fn every_error_is_reported_in_source_order() {
    let diags = errors(
        r#"job "x" {
  datacenter = ["dc1"]
  group "g" {
    count = "n"
    task "t" {
      drivr = "docker"
      kill_timeout = "soon"
      env {
        A = ["list"]
      }
    }
  }
}
"#,
    );
    let found: Vec<(usize, usize)> = diags.iter().map(|d| (d.line, d.col)).collect();
    assert_eq!(
        found,
        [(2, 3), (4, 13), (6, 7), (7, 22), (9, 13)],
        "{}",
        caravan_jobspec::Diagnostics(diags.clone())
    );
    assert!(
        diags[4]
            .message
            .contains("`env` value `A` must be a string, got list"),
        "{}",
        diags[4].message
    );
}

#[test]
fn evaluation_errors_name_the_attribute() {
    let diags = errors("job \"x\" {\n  group \"g\" {\n    count = var.nope\n  }\n}\n");
    assert_error(
        &diags,
        "cannot evaluate `count`: undefined variable `var.nope`",
        3,
        13,
    );
    let diags = errors("job \"x\" {\n  region = nosuchfunction(1)\n}\n");
    assert_error(&diags, "undefined function `nosuchfunction`", 2, 12);
}

#[test]
fn json_syntax_errors_carry_serde_json_positions() {
    let diags = errors("{\n  \"job\": {\n    \"x\": \n  }\n}\n");
    assert_error(&diags, "JSON syntax error: expected value", 4, 3);
    let diags = errors("{\"Job\": {\"ID\": \"x\",}}");
    assert_error(&diags, "JSON syntax error: trailing comma", 1, 20);
}

#[test]
fn hcl_json_errors_point_into_the_json() {
    let diags = errors(
        "{\n  \"job\": {\n    \"x\": {\n      \"group\": {\"g\": {\"count\": \"a\", \"tsk\": {}}}\n    }\n  }\n}\n",
    );
    assert_error(&diags, "`count` must be a number, got string \"a\"", 4, 32);
    assert_error(
        &diags,
        "unknown attribute or block `tsk` in group \"g\"; did you mean `task`?",
        4,
        37,
    );
    let diags = errors("{\"job\": {\"x\": {\"group\": [1]}}}");
    assert_error(
        &diags,
        "`group` is a block: expected a JSON object, got number",
        1,
        26,
    );
}

#[test]
fn api_json_type_errors() {
    let diags = errors("{\"Job\": {\"ID\": \"x\", \"TaskGroups\": 5}}");
    assert_error(&diags, "invalid job JSON", 1, 9);
}

#[test]
fn diagnostics_display_every_error() {
    let file = SourceFile::new("web.nomad", "job \"x\" {\n  a = 1\n  b = 2\n}\n");
    let err = parse(&file, &ParseOptions::default()).expect_err("two unknown attributes");
    let text = err.to_string();
    assert!(
        text.contains("error: unknown attribute `a` in job \"x\"\n --> web.nomad:2:3\n"),
        "{text}"
    );
    assert!(
        text.contains("error: unknown attribute `b` in job \"x\"\n --> web.nomad:3:3\n"),
        "{text}"
    );
    assert!(
        text.contains("  = note: job \"x\" accepts: name, namespace, region, type"),
        "{text}"
    );
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let job = common::must_parse("\u{feff}job \"x\" {\n  region = \"eu\"\n}\n");
    assert_eq!(job.region.as_deref(), Some("eu"));
    let diags = errors("\u{feff}job \"x\" {\n  regon = \"eu\"\n}\n");
    assert_error(&diags, "unknown attribute `regon`", 2, 3);
    let job = common::must_parse("\u{feff}{\"job\": {\"x\": {\"region\": \"eu\"}}}");
    assert_eq!(job.region.as_deref(), Some("eu"));
}
