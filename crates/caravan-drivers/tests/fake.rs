//! The fake driver passes the battery too (so the client's fast tests stand on a fake
//! that behaves like the real drivers), and records and scripts as promised.

use std::sync::Arc;
use std::time::Duration;

use caravan_drivers::testing::{self, Scenario, TempRoot, within};
use caravan_drivers::{ExitResult, FakeCall, FakeDriver, FakeScript, TaskDriver};

#[tokio::test]
async fn fake_passes_the_battery() {
    let root = TempRoot::new("fake-battery");
    let fake = FakeDriver::new("fake");
    testing::run_battery(
        || Arc::new(fake.clone()) as Arc<dyn TaskDriver>,
        |s| root.spec(s.as_str(), s.fake_config()),
    )
    .await;
}

#[tokio::test]
async fn records_calls_in_order_and_keeps_specs() {
    let root = TempRoot::new("fake-calls");
    let fake = FakeDriver::new("raw_exec");
    let spec = root.spec("web", Scenario::LongRunning.fake_config());
    let alloc_id = spec.alloc_id.clone();
    let h = fake.start(spec.clone()).await.expect("start");
    fake.signal(&h, "SIGHUP").await.expect("signal");
    fake.stop(&h, "", Duration::from_secs(5))
        .await
        .expect("stop");
    fake.destroy(&h).await.expect("destroy");
    assert_eq!(
        fake.calls(),
        vec![
            FakeCall::Start {
                alloc_id,
                task: "web".into()
            },
            FakeCall::Signal {
                task: "web".into(),
                signal: "SIGHUP".into()
            },
            FakeCall::Stop {
                task: "web".into(),
                signal: String::new(),
                timeout: Duration::from_secs(5)
            },
            FakeCall::Destroy { task: "web".into() },
        ]
    );
    assert_eq!(fake.started(), vec![spec]);
    // SIGHUP ended it (nothing handles it), so stop and destroy found it gone.
    assert_eq!(within(fake.wait(&h), "wait").await, ExitResult::signaled(1));
}

#[tokio::test]
async fn scripts_override_config_and_tests_can_end_tasks() {
    let root = TempRoot::new("fake-script");
    let fake = FakeDriver::default();
    fake.script(
        "app",
        FakeScript {
            handled_signals: vec!["SIGHUP".into()],
            ..FakeScript::running()
        },
    );
    let spec = root.spec("app", Scenario::ExitZero.fake_config());
    let alloc_id = spec.alloc_id.clone();
    let h = fake.start(spec).await.expect("start");
    fake.signal(&h, "SIGHUP").await.expect("a handled signal");
    assert_eq!(fake.running(), vec![(alloc_id.clone(), "app".to_owned())]);

    assert!(fake.exit_task(&alloc_id, "app", ExitResult::code(7)));
    assert_eq!(within(fake.wait(&h), "wait").await, ExitResult::code(7));
    assert!(fake.running().is_empty());
    assert!(
        !fake.exit_task(&alloc_id, "app", ExitResult::code(8)),
        "ended twice"
    );
}

#[tokio::test]
async fn scripted_exits_and_start_errors() {
    let root = TempRoot::new("fake-exits");
    let fake = FakeDriver::default();
    fake.script("crash", FakeScript::exits(2, Duration::from_millis(20)));
    fake.script(
        "broken",
        FakeScript {
            start_error: Some("image missing".into()),
            ..FakeScript::default()
        },
    );
    let h = fake
        .start(root.spec("crash", Default::default()))
        .await
        .expect("start");
    assert_eq!(within(fake.wait(&h), "wait").await, ExitResult::code(2));
    let err = fake
        .start(root.spec("broken", Default::default()))
        .await
        .err();
    assert!(err.is_some_and(|e| e.to_string().contains("image missing")));
}

#[tokio::test]
async fn a_fake_handle_is_refused_by_another_driver() {
    let root = TempRoot::new("fake-foreign");
    let fake = FakeDriver::default();
    let raw = caravan_drivers::RawExecDriver::new();
    let h = fake
        .start(root.spec("t", Scenario::LongRunning.fake_config()))
        .await
        .expect("start");
    assert!(raw.signal(&h, "SIGTERM").await.is_err());
    assert!(raw.wait(&h).await.err.is_some());
    fake.destroy(&h).await.expect("destroy");
}
