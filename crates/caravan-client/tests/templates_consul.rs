//! Templates reading what Consul would serve, against the FakeDriver and a fake of the
//! servers: the KV functions (`key` waits for its key to exist, `keyOrDefault` and
//! `keyExists` do not, `ls` and `tree` list a prefix), a KV change re-rendering only
//! the templates that read it with their change mode carried out, one KV watch for
//! every template of the node; and `service` over `provider = "consul"`
//! registrations, those of jobs and those of the Consul agent API (no allocation),
//! passing only unless the filter says otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caravan_client::AllocRunner;
use caravan_drivers::FakeDriver;
use caravan_model::{
    AllocId, HealthStatus, NodeId, ServiceProvider, ServiceRegistration, Template,
};
use common::catalog::FakeCatalog;
use common::*;

fn noop(data: &str, destination: &str) -> Template {
    Template {
        change_mode: Some("noop".into()),
        ..template(data, destination)
    }
}

fn file(dir: &tempfile::TempDir, alloc: &str, rel: &str) -> PathBuf {
    dir.path().join("alloc").join(alloc).join("app").join(rel)
}

/// Waits until the file holds `want`; panics after [`PATIENCE`].
async fn wait_file(path: &PathBuf, want: &str) {
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            if std::fs::read_to_string(path).is_ok_and(|t| t == want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    if waited.is_err() {
        panic!(
            "{} never held {want:?}: {:?}",
            path.display(),
            std::fs::read_to_string(path)
        );
    }
}

#[tokio::test]
async fn key_waits_for_its_key_to_exist_then_the_task_starts_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let greeting = template("{{ key \"config/greeting\" }}", "local/greeting.txt");
    let mut runner = AllocRunner::start(app_alloc("a-key", vec![greeting]), client).unwrap();
    let mut rx = runner.subscribe();

    // Phase 1: the store answered (the watch asked twice: at once, then blocking), and
    // the key is absent: the task waits, with no file.
    let asked = tokio::time::timeout(PATIENCE, async {
        loop {
            let watches = catalog.kv_watches();
            if watches.len() >= 2 {
                return watches;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(asked[0], (vec!["kv.get(config/greeting)".to_owned()], 0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(starts(&fake), 0);
    let path = file(&dir, "a-key", "local/greeting.txt");
    assert!(!path.exists());

    // Phase 2: a key next to it is not it: still waiting.
    catalog.put_kv("config/greeting2", "nope");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(starts(&fake), 0);

    // Phase 3: the key is put: rendered, and the task starts.
    catalog.put_kv("config/greeting", "hello");
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello");
    stop(&mut runner).await;
}

#[tokio::test(start_paused = true)]
async fn a_task_waiting_for_an_absent_key_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    catalog.put_kv("app/other", "x");
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let kv = template("{{ key \"app/config\" }}", "local/config");
    let mut runner = AllocRunner::start(app_alloc("a-absent", vec![kv]), client).unwrap();
    let mut rx = runner.subscribe();
    let waiting = wait_for(&mut rx, "the missing notice", |u| {
        find_event(&state(u, "app").events, "Template").is_some()
    })
    .await;
    let notice = find_event(&state(&waiting, "app").events, "Template").unwrap();
    assert_eq!(notice.display_message, "Missing: kv.get(app/config)");
    assert_eq!(starts(&fake), 0);
    stop(&mut runner).await;
}

#[tokio::test]
async fn key_or_default_and_key_exists_go_on_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    catalog.put_kv("config/empty", "");
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let t = noop(
        "{{ keyOrDefault \"config/color\" \"blue\" }} {{ keyExists \"config/color\" }} \
         {{ keyOrDefault \"config/empty\" \"dflt\" }} {{ keyExists \"config/empty\" }} \
         {{ keyOrDefault \"config/color@dc9\" \"far\" }}",
        "local/out.txt",
    );
    let mut runner = AllocRunner::start(app_alloc("a-default", vec![t]), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;
    let path = file(&dir, "a-default", "local/out.txt");
    // An empty value takes the default too, but it exists.
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "blue false dflt true far"
    );
    // Another datacenter's keys are not watched: there are none.
    let watched: Vec<String> = catalog.kv_watches().last().unwrap().0.clone();
    assert_eq!(watched, ["kv.get(config/color)", "kv.get(config/empty)"]);

    // The key arrives: rendered again, and with noop the task keeps running.
    catalog.put_kv("config/color", "red");
    wait_file(&path, "red true dflt true far").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(starts(&fake), 1);
    stop(&mut runner).await;
}

#[tokio::test]
async fn ls_lists_direct_children_and_tree_everything_under_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    catalog.put_kv("config/b", "2");
    catalog.put_kv("config/a", "1");
    catalog.put_kv("config/sub/c", "3");
    catalog.put_kv("configs/x", "no");
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let t = noop(
        "{{ range ls \"config/\" }}{{ .Key }}={{ .Value }};{{ end }}|\
         {{ range tree \"config\" }}{{ .Key }}:{{ .Path }};{{ end }}",
        "local/list.txt",
    );
    let mut runner = AllocRunner::start(app_alloc("a-ls", vec![t]), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;
    let path = file(&dir, "a-ls", "local/list.txt");
    // `tree "config"` is Consul's plain prefix: `configs/x` is under it too.
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "a=1;b=2;|a:config/a;b:config/b;sub/c:config/sub/c;s/x:configs/x;"
    );

    // A new key under the prefix, and one deleted: listed again.
    catalog.put_kv("config/d", "4");
    catalog.delete_kv("config/a");
    wait_file(
        &path,
        "b=2;d=4;|b:config/b;d:config/d;sub/c:config/sub/c;s/x:configs/x;",
    )
    .await;
    stop(&mut runner).await;
}

#[tokio::test]
async fn a_key_change_rewrites_only_its_templates_and_carries_out_their_change_mode() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    catalog.put_kv("config/greeting", "hello");
    catalog.put_kv("config/port", "80");
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let mut env = template(
        "GREETING={{ key \"config/greeting\" }}\n",
        "secrets/app.env",
    );
    env.envvars = Some(true);
    let port = noop("{{ key \"config/port\" }}", "local/port.txt");
    let mut runner = AllocRunner::start(app_alloc("a-change", vec![env, port]), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;
    assert_eq!(fake.started()[0].env["GREETING"], "hello");
    let port_file = file(&dir, "a-change", "local/port.txt");
    let env_file = file(&dir, "a-change", "secrets/app.env");

    // Phase 1: the noop template's key changes: its file only, no restart.
    catalog.put_kv("config/port", "81");
    wait_file(&port_file, "81").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(starts(&fake), 1);

    // Phase 2: the restart template's key changes: rewritten, and the task restarted
    // with the new variable.
    catalog.put_kv("config/greeting", "bonjour");
    let restarted = wait_for(&mut rx, "the task restarted", |u| {
        state(u, "app").restarts == 1 && state(u, "app").state == "running"
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "GREETING=bonjour\n"
    );
    let signaled = find_event(&state(&restarted, "app").events, "Restart Signaled").unwrap();
    assert_eq!(
        signaled.display_message,
        "Template with change_mode restart re-rendered"
    );
    assert_eq!(fake.started()[1].env["GREETING"], "bonjour");

    // Phase 3: the same value written again, and a key nobody reads: no restart.
    catalog.put_kv("config/greeting", "bonjour");
    catalog.put_kv("config/unread", "x");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(starts(&fake), 2);

    // Phase 4: the key is deleted: `key` waits for it again, so the file stays as it
    // was and the task keeps running; put back with a new value, it is rewritten.
    catalog.delete_kv("config/greeting");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "GREETING=bonjour\n"
    );
    assert_eq!(starts(&fake), 2);
    catalog.put_kv("config/greeting", "hola");
    wait_for(&mut rx, "the second restart", |u| {
        state(u, "app").restarts == 2 && state(u, "app").state == "running"
    })
    .await;
    assert_eq!(fake.started()[2].env["GREETING"], "hola");
    stop(&mut runner).await;
}

#[tokio::test]
async fn one_kv_watch_serves_every_template_of_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    catalog.put_kv("a/key", "1");
    catalog.put_kv("b/key", "2");
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let first = noop("{{ key \"a/key\" }}", "local/a.txt");
    let second = noop("{{ range ls \"b\" }}{{ .Value }}{{ end }}", "local/b.txt");
    let mut one = AllocRunner::start(app_alloc("a-one", vec![first]), client.clone()).unwrap();
    let mut two = AllocRunner::start(app_alloc("a-two", vec![second]), client.clone()).unwrap();
    let mut rx_one = one.subscribe();
    let mut rx_two = two.subscribe();
    wait_for(&mut rx_one, "one running", |u| u.client_status == "running").await;
    wait_for(&mut rx_two, "two running", |u| u.client_status == "running").await;

    // Both read through one query that asks for both.
    let kv = client.kv.clone().unwrap();
    let watched: Vec<String> = kv.watched().iter().map(ToString::to_string).collect();
    assert_eq!(watched, ["kv.get(a/key)", "kv.list(b)"]);
    tokio::time::timeout(PATIENCE, async {
        while catalog
            .kv_watches()
            .last()
            .is_none_or(|(paths, _)| paths.len() != 2)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();

    // A change reaches the template that reads it.
    catalog.put_kv("b/key", "3");
    wait_file(&file(&dir, "a-two", "local/b.txt"), "3").await;
    assert_eq!(
        std::fs::read_to_string(file(&dir, "a-one", "local/a.txt")).unwrap(),
        "1"
    );

    // The first allocation stops: its key is no longer watched.
    stop(&mut one).await;
    tokio::time::timeout(PATIENCE, async {
        while kv.watched().len() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let watched: Vec<String> = kv.watched().iter().map(ToString::to_string).collect();
    assert_eq!(watched, ["kv.list(b)"]);
    stop(&mut two).await;
}

/// A `provider = "consul"` registration: a job's (with an allocation) or, with
/// `alloc` empty, one made through the Consul agent API.
fn consul_reg(id: &str, alloc: &str, port: u16, health: HealthStatus) -> ServiceRegistration {
    ServiceRegistration {
        id: id.into(),
        service_name: "redis".into(),
        namespace: "default".into(),
        node_id: NodeId::new("node-1"),
        alloc_id: AllocId::new(alloc),
        job_id: if alloc.is_empty() { "" } else { "cache" }.into(),
        address: "10.0.0.9".into(),
        port,
        tags: vec!["primary".into()],
        provider: ServiceProvider::Consul,
        health,
        ..ServiceRegistration::default()
    }
}

#[tokio::test]
async fn service_reads_consul_registrations_of_jobs_and_of_the_agent_api_passing_only() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let job_reg = consul_reg(
        "_nomad-task-r1-redis-redis-db",
        "r1",
        6379,
        HealthStatus::Passing,
    );
    catalog.put(job_reg.clone());
    let mut nomad = consul_reg(
        "_nomad-task-r2-redis-redis-db",
        "r2",
        6000,
        HealthStatus::Passing,
    );
    nomad.provider = ServiceProvider::Nomad;
    catalog.put(nomad);
    catalog.put(consul_reg("ext-1", "", 7001, HealthStatus::Critical));
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let passing = noop(
        "{{ range service \"redis\" }}{{ .ID }}@{{ .Address }}:{{ .Port }};{{ end }}",
        "local/passing.txt",
    );
    let any = noop(
        "{{ range service \"primary.redis|any\" }}{{ .ID }}={{ .Status }};{{ end }}\
         |{{ range services }}{{ .Name }};{{ end }}",
        "local/any.txt",
    );
    let mut runner = AllocRunner::start(app_alloc("a-svc", vec![passing, any]), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;
    let passing = file(&dir, "a-svc", "local/passing.txt");
    let any = file(&dir, "a-svc", "local/any.txt");

    // Phase 1: the nomad-provider instance is not Consul's; the critical one is only
    // in `|any`.
    assert_eq!(
        std::fs::read_to_string(&passing).unwrap(),
        "_nomad-task-r1-redis-redis-db@10.0.0.9:6379;"
    );
    assert_eq!(
        std::fs::read_to_string(&any).unwrap(),
        "_nomad-task-r1-redis-redis-db=passing;ext-1=critical;|redis;"
    );

    // Phase 2: the agent's registration passes (its TTL check was passed): in.
    catalog.put(consul_reg("ext-1", "", 7001, HealthStatus::Passing));
    wait_file(
        &passing,
        "_nomad-task-r1-redis-redis-db@10.0.0.9:6379;ext-1@10.0.0.9:7001;",
    )
    .await;

    // Phase 3: it fails again, then is deregistered, and the job's instance goes.
    catalog.put(consul_reg("ext-1", "", 7001, HealthStatus::Critical));
    wait_file(&passing, "_nomad-task-r1-redis-redis-db@10.0.0.9:6379;").await;
    catalog.remove("ext-1");
    wait_file(&any, "_nomad-task-r1-redis-redis-db=passing;|redis;").await;
    catalog.remove(&job_reg.id);
    wait_file(&passing, "").await;
    stop(&mut runner).await;
}

#[tokio::test]
async fn on_this_node_service_shows_the_node_name_and_lends_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    // A Consul agent registration that leaves its address out, on this node and on
    // another.
    let mut here = consul_reg("ext-here", "", 7001, HealthStatus::Passing);
    here.address = String::new();
    catalog.put(here);
    let mut there = consul_reg("ext-there", "", 7002, HealthStatus::Passing);
    there.node_id = NodeId::new("node-2");
    catalog.put(there);
    let mut node = node();
    node.attributes
        .insert("unique.network.ip-address".into(), "10.0.0.5".into());
    let mut ctx = caravan_client::ClientContext::new(node, dir.path())
        .with_server(catalog.clone())
        .with_driver(fake.clone());
    ctx.clock = Arc::new(caravan_client::FakeClock::new(1_700_000_000_000_000_000));
    let t = noop(
        "{{ range service \"redis\" }}{{ .Node }} {{ .NodeAddress }} {{ .Address }}:{{ .Port }};{{ end }}",
        "local/out.txt",
    );
    let mut runner = AllocRunner::start(app_alloc("a-node", vec![t]), Arc::new(ctx)).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(file(&dir, "a-node", "local/out.txt")).unwrap(),
        "node-2 10.0.0.9 10.0.0.9:7002;worker-1 10.0.0.5 10.0.0.5:7001;"
    );
    stop(&mut runner).await;
}
