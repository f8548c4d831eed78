//! Parse-and-validate throughput on a realistic 300-line job.
//!
//! `cargo run --release -p caravan-jobspec --example bench_parse`

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use caravan_jobspec::{ParseOptions, SourceFile, parse_and_validate};

/// One group: a network, a service with a check and a sidecar, a templated docker task.
fn group(out: &mut String, i: usize) {
    let _ = write!(
        out,
        r#"
  group "svc{i}" {{
    count = var.replicas

    network {{
      mode = "bridge"
      port "http" {{
        to = 8080
      }}
      port "metrics" {{}}
    }}

    service {{
      name     = "svc{i}"
      port     = "http"
      provider = "consul"
      tags     = ["v1", "team-${{local.team}}"]

      check {{
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }}

      connect {{
        sidecar_service {{
          proxy {{
            upstreams {{
              destination_name = "db"
              local_bind_port  = 5432
            }}
          }}
        }}
      }}
    }}

    restart {{
      attempts = 3
      delay    = "15s"
      interval = "5m"
      mode     = "delay"
    }}

    task "app" {{
      driver = "docker"

      config {{
        image = "registry.example.com/svc{i}:${{var.tag}}"
        ports = ["http", "metrics"]
        args  = ["--port", "${{NOMAD_PORT_http}}"]
      }}

      env {{
        DB_ADDR = "${{NOMAD_UPSTREAM_ADDR_db}}"
        NODE    = "${{node.unique.name}}"
      }}

      template {{
        destination = "secrets/app.env"
        env         = true
        data        = <<-EOH
          {{{{ range nomadService "cache" }}}}
          CACHE={{{{ .Address }}}}:{{{{ .Port }}}}
          {{{{ end }}}}
          EOH
      }}

      resources {{
        cpu    = 200
        memory = 256
      }}
    }}
  }}
"#
    );
}

fn job_text() -> String {
    let mut out = String::from(
        r#"variable "replicas" {
  type    = number
  default = 2
}

variable "tag" {
  default = "1.0.0"
}

locals {
  team = "platform"
}

job "bench" {
  datacenters = ["dc1", "dc2"]
  type        = "service"

  update {
    max_parallel = 1
    canary       = 1
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
"#,
    );
    for i in 0..4 {
        group(&mut out, i);
    }
    out.push_str("}\n");
    out
}

fn main() {
    let text = job_text();
    let lines = text.lines().count();
    let file = SourceFile::new("bench.nomad", text);
    let opts = ParseOptions::default();
    if let Err(e) = parse_and_validate(&file, &opts) {
        eprintln!("the benchmark job does not validate:\n{e}");
        std::process::exit(1);
    }
    // Warm up, then measure for about two seconds.
    for _ in 0..50 {
        let _ = parse_and_validate(&file, &opts);
    }
    let budget = Duration::from_secs(2);
    let start = Instant::now();
    let mut jobs = 0u64;
    while start.elapsed() < budget {
        for _ in 0..20 {
            std::hint::black_box(parse_and_validate(std::hint::black_box(&file), &opts).is_ok());
        }
        jobs += 20;
    }
    let elapsed = start.elapsed();
    let per_job = elapsed.as_secs_f64() * 1e6 / jobs as f64;
    let rate = jobs as f64 / elapsed.as_secs_f64();
    println!("parse+validate: {rate:.0} jobs/s ({lines}-line job, {per_job:.1} µs/job)");
}
