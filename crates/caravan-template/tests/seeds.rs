//! The template blocks of the seeds' job files render.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use caravan_template::testing::StaticContext;
use caravan_template::{Dependency, ServiceInstance, ServiceQuery, Template, render};

const INGRESS: &str = include_str!("../../../examples/seeds/s5-ingress.nomad");

/// The body of the first `<<-EOH` heredoc in `job`, de-indented as HCL does
/// (by the smallest indentation of its lines).
fn indented_heredoc(job: &str) -> String {
    let start = job.find("<<-EOH\n").unwrap() + "<<-EOH\n".len();
    let body = &job[start..];
    let lines: Vec<&str> = body.lines().take_while(|l| l.trim() != "EOH").collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap();
    lines
        .iter()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

fn app(id: &str, address: &str, port: u16) -> ServiceInstance {
    ServiceInstance {
        id: id.to_string(),
        name: "app".to_string(),
        address: address.to_string(),
        port,
        ..Default::default()
    }
}

#[test]
fn the_haproxy_template_of_the_ingress_seed_renders() {
    let data = indented_heredoc(INGRESS);
    assert!(data.starts_with("defaults\n"), "{data}");
    let t = Template::parse("local/haproxy.cfg", &data).unwrap();

    // Before the catalog answers: incomplete, nothing to write.
    let first = render(&t, &StaticContext::new().env("NOMAD_PORT_http", "80")).unwrap();
    assert!(!first.is_complete());

    let ctx = StaticContext::new()
        .env("NOMAD_PORT_http", "80")
        .nomad_service(
            "app",
            vec![
                app("app-2", "10.0.0.6", 25001),
                app("app-1", "10.0.0.5", 25000),
            ],
        );
    let out = render(&t, &ctx).unwrap();

    assert!(out.is_complete());
    assert_eq!(
        out.dependencies,
        BTreeSet::from([Dependency::NomadService(ServiceQuery::new("app"))])
    );
    assert_eq!(
        out.text,
        "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\n\
         frontend http\n  bind *:80\n  use_backend app if { hdr(host) -i app.example.org }\n\n\
         backend app\n  server app-1 10.0.0.5:25000 check\n  server app-2 10.0.0.6:25001 check\n"
    );
}
