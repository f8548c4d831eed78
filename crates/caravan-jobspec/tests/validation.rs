//! Validation errors (from `Job::validate`) shown at the line of the block or
//! attribute their path names.

mod common;

use caravan_jobspec::{Diagnostic, ParseOptions, SourceFile, parse_and_validate};
use common::assert_error;

fn validation_errors(text: &str) -> Vec<Diagnostic> {
    match parse_and_validate(
        &SourceFile::new("job.nomad", text),
        &ParseOptions::default(),
    ) {
        Ok(job) => panic!("expected validation errors, got {job:?}"),
        Err(diags) => diags.0,
    }
}

#[test]
fn missing_driver_is_at_the_task() {
    let diags = validation_errors(
        r#"job "x" {
  group "g" {
    task "t" {
      config {
        command = "true"
      }
    }
  }
}
"#,
    );
    // `driver` is not written, so the error lands on the task block.
    assert_error(&diags, "missing driver", 3, 5);
    assert!(
        diags[0]
            .message
            .starts_with("group \"g\" -> task \"t\" -> driver: "),
        "{}",
        diags[0].message
    );
}

#[test]
fn undefined_port_label_is_at_the_port_attribute() {
    let diags = validation_errors(
        r#"job "x" {
  group "g" {
    network {
      port "http" {}
    }

    service {
      name = "web"
      port = "htp"
    }

    task "t" {
      driver = "docker"
      config {
        image = "x"
      }
    }
  }
}
"#,
    );
    assert_error(&diags, "\"htp\"", 9, 7);
}

#[test]
fn a_task_under_the_job_maps_to_its_block() {
    let diags = validation_errors("job \"x\" {\n  task \"t\" {\n    user = \"u\"\n  }\n}\n");
    assert_error(&diags, "missing driver", 2, 3);
}

#[test]
fn errors_in_several_groups_are_all_shown_in_order() {
    let diags = validation_errors(
        r#"job "x" {
  group "a" {
    task "t" {
      config {}
    }
  }
  group "b" {
    task "t" {
      config {}
    }
  }
}
"#,
    );
    let drivers: Vec<(usize, usize)> = diags
        .iter()
        .filter(|d| d.message.contains("missing driver"))
        .map(|d| (d.line, d.col))
        .collect();
    assert_eq!(drivers, [(3, 5), (8, 5)]);
}

#[test]
fn api_json_validation_errors_point_at_the_task() {
    let diags = validation_errors(
        "{\"Job\": {\n  \"ID\": \"x\",\n  \"TaskGroups\": [\n    {\"Name\": \"g\", \"Tasks\": [\n      {\"Name\": \"t\"}\n    ]}\n  ]\n}}\n",
    );
    assert_error(&diags, "missing driver", 5, 7);
}
