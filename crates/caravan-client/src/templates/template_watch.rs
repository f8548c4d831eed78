//! Keeps a running task's templates following the catalog and the KV store: when a
//! service or key they read changes, the affected templates are rendered again (after their `wait { min max }`
//! quiescence), and when a file changed, its `change_mode` is carried out after a
//! random `splay`: one restart when any changed template asks for it (restart covers
//! signals, as in Nomad), else each distinct signal once, and each script.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use caravan_model::ChangeScript;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::changes::TemplateChanges;
use super::task_templates::{ChangeMode, TaskTemplates};
use crate::task_runner::Jitter;

/// What the task runner is asked to do because a template changed.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateAction {
    /// Restart the task (its `env = true` variables were updated first).
    Restart,
    Signal(String),
    Script(ChangeScript),
    /// A template failed to render or write: the task fails with this message.
    Fail(String),
}

/// The watch loop of one task's templates; stopped on drop.
#[derive(Debug)]
pub struct TemplateWatch {
    join: JoinHandle<()>,
}

impl TemplateWatch {
    /// Watches `templates` (already rendered once), updating `env` with their
    /// `env = true` output and sending what to do to `actions`. The splay is drawn
    /// from a generator seeded with `seed`. `None` when nothing can change them (no
    /// catalog and no KV store).
    pub fn spawn(
        templates: TaskTemplates,
        env: Arc<Mutex<BTreeMap<String, String>>>,
        seed: &str,
        actions: mpsc::UnboundedSender<TemplateAction>,
    ) -> Option<Self> {
        let changes = templates.subscribe()?;
        let jitter = Jitter::seeded(seed);
        Some(Self {
            join: tokio::spawn(watch_loop(templates, changes, env, jitter, actions)),
        })
    }
}

impl Drop for TemplateWatch {
    fn drop(&mut self) {
        self.join.abort();
    }
}

async fn watch_loop(
    mut templates: TaskTemplates,
    mut changes: TemplateChanges,
    env: Arc<Mutex<BTreeMap<String, String>>>,
    mut jitter: Jitter,
    actions: mpsc::UnboundedSender<TemplateAction>,
) {
    // The caches may have moved between the first render and this watch.
    let mut look_now = true;
    loop {
        if !std::mem::take(&mut look_now) && !changes.changed().await {
            return;
        }
        let stale = templates.stale();
        if stale.is_empty() {
            continue;
        }
        let (min, max) = templates.wait_bounds(&stale);
        if !min.is_zero() {
            quiesce(&mut changes, min, max).await;
        }
        let report = match templates.render() {
            Ok(report) => report,
            Err(e) => {
                let _ = actions.send(TemplateAction::Fail(e.to_string()));
                return;
            }
        };
        if report.changed.is_empty() {
            continue;
        }
        match templates.env() {
            Ok(vars) => *env.lock().unwrap_or_else(PoisonError::into_inner) = vars,
            Err(e) => {
                let _ = actions.send(TemplateAction::Fail(e.to_string()));
                return;
            }
        }
        let splay = templates.splay(&report.changed);
        if !splay.is_zero() {
            tokio::time::sleep(splay.mul_f64(jitter.next_fraction())).await;
        }
        let modes: Vec<ChangeMode> = report
            .changed
            .iter()
            .map(|i| templates.change_mode(*i))
            .collect();
        for action in actions_for(&modes) {
            if actions.send(action).is_err() {
                return;
            }
        }
    }
}

/// Waits until no change came for `min`, or `max` has passed since the first.
async fn quiesce(changes: &mut TemplateChanges, min: Duration, max: Duration) {
    let deadline = tokio::time::Instant::now() + max;
    loop {
        let quiet = tokio::time::sleep(min);
        tokio::select! {
            () = quiet => return,
            () = tokio::time::sleep_until(deadline) => return,
            open = changes.changed() => {
                if !open {
                    return;
                }
            }
        }
    }
}

/// What the changed templates' modes ask for, in Nomad's precedence.
fn actions_for(modes: &[ChangeMode]) -> Vec<TemplateAction> {
    if modes.contains(&ChangeMode::Restart) {
        return vec![TemplateAction::Restart];
    }
    let mut actions: Vec<TemplateAction> = Vec::new();
    for mode in modes {
        let action = match mode {
            ChangeMode::Signal(signal) => TemplateAction::Signal(signal.clone()),
            ChangeMode::Script(script) => TemplateAction::Script(script.clone()),
            ChangeMode::Noop | ChangeMode::Restart => continue,
        };
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_wins_and_signals_are_sent_once() {
        let hup = ChangeMode::Signal("SIGHUP".into());
        let usr1 = ChangeMode::Signal("SIGUSR1".into());
        assert_eq!(
            actions_for(&[hup.clone(), ChangeMode::Restart, usr1.clone()]),
            [TemplateAction::Restart]
        );
        assert_eq!(
            actions_for(&[hup.clone(), ChangeMode::Noop, usr1, hup]),
            [
                TemplateAction::Signal("SIGHUP".into()),
                TemplateAction::Signal("SIGUSR1".into())
            ]
        );
        assert!(actions_for(&[ChangeMode::Noop]).is_empty());
    }
}
