//! Job files that call HCL functions (the library is in `src/functions/`): calls work
//! in attributes, in interpolations, in locals, and with runtime references as
//! arguments, which stay literal.

mod common;

use common::must_parse;

#[test]
fn functions_in_attributes_and_interpolations() {
    let job = must_parse(
        r#"
variable "region" {
  default = "eu"
}

locals {
  tags = ["a", "b"]
  dcs  = { eu = "eu-west-1", us = "us-east-1" }
}

job "fn" {
  region      = upper(var.region)
  datacenters = [lookup(local.dcs, var.region, "dc1")]

  group "g" {
    task "t" {
      driver = "docker"

      config {
        image = format("%s/%s:%d", "registry", "app", 3)
      }

      env {
        TAGS   = join(",", local.tags)
        REGION = "region-${upper(var.region)}"
        MIXED  = join(",", ["${NOMAD_ALLOC_ID}", var.region])
      }
    }
  }
}
"#,
    );
    assert_eq!(job.region.as_deref(), Some("EU"));
    assert_eq!(job.datacenters, ["eu-west-1"]);
    let t = &job.task_groups[0].tasks[0];
    assert_eq!(t.config["image"], "registry/app:3");
    assert_eq!(t.env["TAGS"], "a,b");
    assert_eq!(t.env["REGION"], "region-EU");
    // A runtime reference passed to a function stays literal in the result.
    assert_eq!(t.env["MIXED"], "${NOMAD_ALLOC_ID},eu");
}

#[test]
fn lookup_falls_back_to_its_default() {
    let job = must_parse(
        r#"
job "fn" {
  datacenters = [lookup({ a = "x" }, "b", "fallback")]
  group "g" {
    task "t" {
      driver = "exec"
    }
  }
}
"#,
    );
    assert_eq!(job.datacenters, ["fallback"]);
}

#[test]
fn filesystem_functions_need_allow_fs() {
    let text = "job \"fn\" {\n  region = file(\"region.txt\")\n}\n";
    let file = caravan_jobspec::SourceFile::new("job.nomad", text);
    let diags = caravan_jobspec::parse(&file, &caravan_jobspec::ParseOptions::default())
        .expect_err("no fs");
    common::assert_error(&diags.0, "filesystem functions disabled", 2, 12);

    let dir = std::env::temp_dir().join(format!("caravan-jobspec-fn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("region.txt"), "eu").expect("write");
    let opts = caravan_jobspec::ParseOptions {
        allow_fs: true,
        base_dir: Some(dir.clone()),
        ..Default::default()
    };
    let job = caravan_jobspec::parse(&file, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(job.region.as_deref(), Some("eu"));
    let _ = std::fs::remove_dir_all(&dir);
}
