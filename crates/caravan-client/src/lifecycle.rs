//! The task lifecycle of one allocation as a pure state machine: given the tasks'
//! roles and current states, which tasks to start, kill or give up on.
//!
//! Order, as in Nomad:
//! 1. prestart tasks start first; main tasks start once every prestart task that is
//!    not a sidecar has completed successfully and every prestart sidecar runs;
//! 2. poststart tasks start once every main task has started;
//! 3. when every main task is dead, the remaining (sidecar, poststart) tasks are
//!    killed; a failed task or a dead leader kills all the others; so does a stop;
//! 4. killing goes in reverse lifecycle order, one layer at a time: the leader,
//!    poststart tasks, main tasks, prestart tasks (sidecars last);
//! 5. poststop tasks run once everything else is dead; then the allocation is done.

use std::collections::{BTreeMap, BTreeSet};

use caravan_model::{Task, TaskState};

/// A task's place in the allocation's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskRole {
    PrestartEphemeral,
    PrestartSidecar,
    Main,
    PoststartEphemeral,
    PoststartSidecar,
    Poststop,
}

impl TaskRole {
    pub fn of(task: &Task) -> Self {
        match task.lifecycle.as_ref() {
            None => Self::Main,
            Some(l) => match (l.hook.as_str(), l.sidecar) {
                ("prestart", false) => Self::PrestartEphemeral,
                ("prestart", true) => Self::PrestartSidecar,
                ("poststart", false) => Self::PoststartEphemeral,
                ("poststart", true) => Self::PoststartSidecar,
                ("poststop", _) => Self::Poststop,
                _ => Self::Main,
            },
        }
    }
}

/// Why the allocation's tasks are being brought down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownReason {
    /// The allocation was asked to stop.
    Stop,
    /// A task failed for good.
    SiblingFailed { task: String },
    /// The leader task is dead.
    LeaderDead { task: String },
    /// Every main task is dead: sidecars and poststart tasks are no longer needed.
    MainTasksDone,
}

impl ShutdownReason {
    /// The task event recorded on each killed task, if the reason calls for one.
    pub fn event(&self) -> Option<(String, String)> {
        match self {
            Self::Stop | Self::MainTasksDone => None,
            Self::SiblingFailed { task } => Some((
                "Sibling Task Failed".to_owned(),
                format!("Task's sibling {task:?} failed"),
            )),
            Self::LeaderDead { .. } => Some((
                "Leader Task Dead".to_owned(),
                "Leader Task in Group dead".to_owned(),
            )),
        }
    }
}

/// What the allocation runner should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleAction {
    Start {
        task: String,
    },
    Kill {
        task: String,
        reason: ShutdownReason,
    },
    /// The task will never start: mark it dead.
    Skip {
        task: String,
        reason: ShutdownReason,
    },
    /// Every task is dead, poststop included.
    Done,
}

/// Decides the next lifecycle actions from the tasks' states.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    roles: BTreeMap<String, TaskRole>,
    leader: Option<String>,
    started: BTreeSet<String>,
    skipped: BTreeSet<String>,
    killed: BTreeSet<String>,
    shutdown: Option<ShutdownReason>,
    stop_requested: bool,
    done: bool,
}

impl Lifecycle {
    pub fn new<'t>(tasks: impl IntoIterator<Item = &'t Task>) -> Self {
        let mut roles = BTreeMap::new();
        let mut leader = None;
        for task in tasks {
            roles.insert(task.name.clone(), TaskRole::of(task));
            if task.leader && leader.is_none() {
                leader = Some(task.name.clone());
            }
        }
        Self {
            roles,
            leader,
            started: BTreeSet::new(),
            skipped: BTreeSet::new(),
            killed: BTreeSet::new(),
            shutdown: None,
            stop_requested: false,
            done: false,
        }
    }

    /// Records that `task` was started by an earlier run of the agent (an allocation
    /// restored after a restart): it is never started again here, and its state
    /// counts as a started task's.
    pub fn resume(&mut self, task: &str) {
        if self.roles.contains_key(task) {
            self.started.insert(task.to_owned());
        }
    }

    /// Asks for every task to be stopped (then poststop runs).
    pub fn request_stop(&mut self) {
        self.stop_requested = true;
    }

    pub fn shutdown_reason(&self) -> Option<&ShutdownReason> {
        self.shutdown.as_ref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The actions the current states call for. Each start, kill and skip is
    /// returned once; call again after every state change.
    pub fn step(&mut self, states: &BTreeMap<String, TaskState>) -> Vec<LifecycleAction> {
        if self.done {
            return Vec::new();
        }
        if self.shutdown.is_none() {
            self.shutdown = self.shutdown_trigger(states);
        }
        let mut actions = match self.shutdown.clone() {
            None => self.progress(states),
            Some(reason) => self.wind_down(states, reason),
        };
        let waiting = actions.iter().any(|a| {
            matches!(
                a,
                LifecycleAction::Start { .. } | LifecycleAction::Kill { .. }
            )
        });
        if self.shutdown.is_some() && !waiting && self.all_settled(states) {
            self.done = true;
            actions.push(LifecycleAction::Done);
        }
        actions
    }

    fn state<'s>(states: &'s BTreeMap<String, TaskState>, task: &str) -> Option<&'s TaskState> {
        states.get(task)
    }

    fn is_dead(states: &BTreeMap<String, TaskState>, task: &str) -> bool {
        Self::state(states, task).is_some_and(|s| s.state == "dead")
    }

    fn is_failed(states: &BTreeMap<String, TaskState>, task: &str) -> bool {
        Self::state(states, task).is_some_and(|s| s.state == "dead" && s.failed)
    }

    /// Started and not yet dead.
    fn is_live(&self, states: &BTreeMap<String, TaskState>, task: &str) -> bool {
        self.started.contains(task) && !Self::is_dead(states, task)
    }

    fn tasks_with(&self, pred: impl Fn(TaskRole) -> bool) -> Vec<String> {
        self.roles
            .iter()
            .filter(|(_, r)| pred(**r))
            .map(|(t, _)| t.clone())
            .collect()
    }

    fn shutdown_trigger(&self, states: &BTreeMap<String, TaskState>) -> Option<ShutdownReason> {
        let failed = self.roles.iter().find(|(t, r)| {
            **r != TaskRole::Poststop && self.started.contains(*t) && Self::is_failed(states, t)
        });
        if let Some((task, _)) = failed {
            return Some(ShutdownReason::SiblingFailed { task: task.clone() });
        }
        if let Some(leader) = &self.leader
            && self.started.contains(leader)
            && Self::is_dead(states, leader)
        {
            return Some(ShutdownReason::LeaderDead {
                task: leader.clone(),
            });
        }
        if self.stop_requested {
            return Some(ShutdownReason::Stop);
        }
        // The work is done when every main task is dead; a group without main tasks
        // is done when its ephemeral tasks are.
        let mut work = self.tasks_with(|r| r == TaskRole::Main);
        if work.is_empty() {
            work = self.tasks_with(|r| {
                matches!(
                    r,
                    TaskRole::PrestartEphemeral | TaskRole::PoststartEphemeral
                )
            });
        }
        if work
            .iter()
            .all(|t| self.started.contains(t) && Self::is_dead(states, t))
        {
            return Some(ShutdownReason::MainTasksDone);
        }
        None
    }

    fn start_all(&mut self, tasks: Vec<String>, actions: &mut Vec<LifecycleAction>) {
        for task in tasks {
            if self.started.insert(task.clone()) {
                actions.push(LifecycleAction::Start { task });
            }
        }
    }

    fn progress(&mut self, states: &BTreeMap<String, TaskState>) -> Vec<LifecycleAction> {
        let mut actions = Vec::new();
        let prestart = self
            .tasks_with(|r| matches!(r, TaskRole::PrestartEphemeral | TaskRole::PrestartSidecar));
        self.start_all(prestart, &mut actions);

        let ephemeral_done = self
            .tasks_with(|r| r == TaskRole::PrestartEphemeral)
            .iter()
            .all(|t| Self::is_dead(states, t) && !Self::is_failed(states, t));
        let sidecars_up = self
            .tasks_with(|r| r == TaskRole::PrestartSidecar)
            .iter()
            .all(|t| {
                Self::state(states, t)
                    .is_some_and(|s| s.state == "running" || (s.state == "dead" && !s.failed))
            });
        if !(ephemeral_done && sidecars_up) {
            return actions;
        }
        let main = self.tasks_with(|r| r == TaskRole::Main);
        self.start_all(main.clone(), &mut actions);

        let main_started = main.iter().all(|t| {
            Self::state(states, t).is_some_and(|s| s.started_at.is_some() || s.state == "running")
        });
        if main_started {
            let poststart = self.tasks_with(|r| {
                matches!(r, TaskRole::PoststartEphemeral | TaskRole::PoststartSidecar)
            });
            self.start_all(poststart, &mut actions);
        }
        actions
    }

    fn wind_down(
        &mut self,
        states: &BTreeMap<String, TaskState>,
        reason: ShutdownReason,
    ) -> Vec<LifecycleAction> {
        let mut actions = Vec::new();
        // Tasks that never started never will (poststop aside).
        for (task, role) in &self.roles {
            if *role != TaskRole::Poststop
                && !self.started.contains(task)
                && self.skipped.insert(task.clone())
            {
                actions.push(LifecycleAction::Skip {
                    task: task.clone(),
                    reason: reason.clone(),
                });
            }
        }
        let leader_layer: Vec<String> = self.leader.iter().cloned().collect();
        let layers = [
            leader_layer,
            self.tasks_with(|r| {
                matches!(r, TaskRole::PoststartEphemeral | TaskRole::PoststartSidecar)
            }),
            self.tasks_with(|r| r == TaskRole::Main),
            self.tasks_with(|r| r == TaskRole::PrestartEphemeral),
            self.tasks_with(|r| r == TaskRole::PrestartSidecar),
        ];
        for layer in layers {
            let live: Vec<String> = layer
                .into_iter()
                .filter(|t| self.is_live(states, t))
                .collect();
            if live.is_empty() {
                continue;
            }
            for task in live {
                if self.killed.insert(task.clone()) {
                    actions.push(LifecycleAction::Kill {
                        task,
                        reason: reason.clone(),
                    });
                }
            }
            // Wait for this layer to die before the next one.
            return actions;
        }
        let poststop = self.tasks_with(|r| r == TaskRole::Poststop);
        self.start_all(poststop, &mut actions);
        actions
    }

    /// Every task is dead or skipped, poststop tasks included.
    fn all_settled(&self, states: &BTreeMap<String, TaskState>) -> bool {
        self.roles.keys().all(|t| {
            self.skipped.contains(t) || (self.started.contains(t) && Self::is_dead(states, t))
        })
    }
}

#[cfg(test)]
mod tests {
    use caravan_model::Lifecycle as LifecycleBlock;

    use super::*;

    #[test]
    fn resumed_tasks_are_not_started_again() {
        let tasks = [
            task("init", Some(("prestart", false))),
            task("app", None),
            task("log", Some(("poststart", true))),
        ];
        let state = |s: &str, started: bool| TaskState {
            state: s.into(),
            started_at: started.then(|| "t".to_owned()),
            ..TaskState::default()
        };
        // The agent restarted after init completed and app started.
        let states = BTreeMap::from([
            ("init".to_owned(), state("dead", true)),
            ("app".to_owned(), state("running", true)),
            ("log".to_owned(), state("pending", false)),
        ]);
        let mut lc = Lifecycle::new(&tasks);
        lc.resume("init");
        lc.resume("app");
        lc.resume("ghost");
        assert_eq!(
            lc.step(&states),
            vec![LifecycleAction::Start { task: "log".into() }]
        );
        assert!(lc.step(&states).is_empty());
    }

    fn task(name: &str, hook: Option<(&str, bool)>) -> Task {
        Task {
            name: name.into(),
            lifecycle: hook.map(|(hook, sidecar)| LifecycleBlock {
                hook: hook.into(),
                sidecar,
            }),
            ..Task::default()
        }
    }

    /// A test harness: applies the actions to a state map the way a runner would.
    struct Sim {
        lc: Lifecycle,
        states: BTreeMap<String, TaskState>,
        log: Vec<String>,
    }

    impl Sim {
        fn new(tasks: &[Task]) -> Self {
            let states = tasks
                .iter()
                .map(|t| {
                    (
                        t.name.clone(),
                        TaskState {
                            state: "pending".into(),
                            ..TaskState::default()
                        },
                    )
                })
                .collect();
            Self {
                lc: Lifecycle::new(tasks),
                states,
                log: Vec::new(),
            }
        }

        /// Steps and records actions; kills and skips take effect at once.
        fn step(&mut self) -> Vec<LifecycleAction> {
            let actions = self.lc.step(&self.states);
            for a in &actions {
                match a {
                    LifecycleAction::Start { task } => self.log.push(format!("start {task}")),
                    LifecycleAction::Kill { task, .. } => self.log.push(format!("kill {task}")),
                    LifecycleAction::Skip { task, .. } => {
                        self.log.push(format!("skip {task}"));
                        self.set(task, "dead", false);
                    }
                    LifecycleAction::Done => self.log.push("done".into()),
                }
            }
            actions
        }

        fn set(&mut self, task: &str, state: &str, failed: bool) {
            let s = self.states.entry(task.into()).or_default();
            s.state = state.into();
            s.failed = failed;
            if state == "running" {
                s.started_at = Some("t".into());
            }
        }

        fn take_log(&mut self) -> Vec<String> {
            std::mem::take(&mut self.log)
        }
    }

    #[test]
    fn prestart_then_main_then_poststart_then_poststop() {
        let tasks = [
            task("init", Some(("prestart", false))),
            task("proxy", Some(("prestart", true))),
            task("app", None),
            task("announce", Some(("poststart", false))),
            task("cleanup", Some(("poststop", false))),
        ];
        let mut sim = Sim::new(&tasks);

        // Phase 1: only prestart tasks start.
        sim.step();
        assert_eq!(sim.take_log(), ["start init", "start proxy"]);
        sim.set("proxy", "running", false);
        assert!(sim.step().is_empty(), "main waits for init to complete");
        sim.set("init", "running", false);
        assert!(sim.step().is_empty());

        // Phase 2: init completes, so the main task starts; poststart waits for it.
        sim.set("init", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["start app"]);
        sim.set("app", "running", false);
        sim.step();
        assert_eq!(sim.take_log(), ["start announce"]);
        sim.set("announce", "running", false);
        sim.set("announce", "dead", false);
        assert!(
            sim.step().is_empty(),
            "an ephemeral poststart ending changes nothing"
        );

        // Phase 3: the main task ends: the sidecar is killed, then poststop runs.
        sim.set("app", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["kill proxy"]);
        assert_eq!(
            sim.lc.shutdown_reason(),
            Some(&ShutdownReason::MainTasksDone)
        );
        sim.set("proxy", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["start cleanup"]);
        sim.set("cleanup", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["done"]);
        assert!(sim.step().is_empty());
    }

    #[test]
    fn failed_prestart_skips_main_and_still_runs_poststop() {
        let tasks = [
            task("init", Some(("prestart", false))),
            task("app", None),
            task("cleanup", Some(("poststop", false))),
        ];
        let mut sim = Sim::new(&tasks);
        sim.step();
        sim.set("init", "dead", true);
        sim.step();
        assert_eq!(sim.take_log(), ["start init", "skip app", "start cleanup"]);
        assert_eq!(
            sim.lc.shutdown_reason(),
            Some(&ShutdownReason::SiblingFailed {
                task: "init".into()
            })
        );
        sim.set("cleanup", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["done"]);
    }

    #[test]
    fn stop_kills_in_reverse_lifecycle_order_one_layer_at_a_time() {
        let tasks = [
            task("proxy", Some(("prestart", true))),
            task("app", None),
            task("web", None),
            task("metrics", Some(("poststart", true))),
            task("cleanup", Some(("poststop", false))),
        ];
        let mut sim = Sim::new(&tasks);
        sim.step();
        sim.set("proxy", "running", false);
        sim.step();
        sim.set("app", "running", false);
        sim.set("web", "running", false);
        sim.step();
        sim.set("metrics", "running", false);
        assert_eq!(
            sim.take_log(),
            ["start proxy", "start app", "start web", "start metrics"]
        );

        sim.lc.request_stop();
        sim.step();
        assert_eq!(sim.take_log(), ["kill metrics"]);
        assert!(
            sim.step().is_empty(),
            "no repeated kill while metrics is dying"
        );
        sim.set("metrics", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["kill app", "kill web"]);
        sim.set("app", "dead", false);
        assert!(sim.step().is_empty(), "web is still dying");
        sim.set("web", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["kill proxy"]);
        sim.set("proxy", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["start cleanup"]);
        sim.set("cleanup", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["done"]);
    }

    #[test]
    fn leader_death_kills_the_others() {
        let mut leader = task("main", None);
        leader.leader = true;
        let tasks = [leader, task("helper", None)];
        let mut sim = Sim::new(&tasks);
        sim.step();
        sim.set("main", "running", false);
        sim.set("helper", "running", false);
        sim.step();
        sim.set("main", "dead", false);
        let actions = sim.step();
        assert_eq!(
            actions,
            [LifecycleAction::Kill {
                task: "helper".into(),
                reason: ShutdownReason::LeaderDead {
                    task: "main".into()
                }
            }]
        );
        sim.set("helper", "dead", false);
        sim.step();
        assert_eq!(
            sim.take_log(),
            ["start helper", "start main", "kill helper", "done"]
        );
    }

    #[test]
    fn stop_kills_the_leader_first() {
        let mut leader = task("b-leader", None);
        leader.leader = true;
        let tasks = [task("a", None), leader];
        let mut sim = Sim::new(&tasks);
        sim.step();
        sim.set("a", "running", false);
        sim.set("b-leader", "running", false);
        sim.lc.request_stop();
        sim.step();
        assert_eq!(
            sim.take_log(),
            ["start a", "start b-leader", "kill b-leader"]
        );
        sim.set("b-leader", "dead", false);
        sim.step();
        assert_eq!(sim.take_log(), ["kill a"]);
    }

    #[test]
    fn a_failed_main_task_kills_its_siblings() {
        let tasks = [task("a", None), task("b", None)];
        let mut sim = Sim::new(&tasks);
        sim.step();
        sim.set("a", "running", false);
        sim.set("b", "dead", true);
        sim.step();
        assert_eq!(sim.take_log(), ["start a", "start b", "kill a"]);
        let reason = sim.lc.shutdown_reason().and_then(ShutdownReason::event);
        assert_eq!(reason.map(|e| e.0), Some("Sibling Task Failed".to_owned()));
    }

    #[test]
    fn stop_before_anything_started_skips_everything() {
        let tasks = [task("init", Some(("prestart", false))), task("app", None)];
        let mut sim = Sim::new(&tasks);
        sim.lc.request_stop();
        sim.step();
        assert_eq!(sim.take_log(), ["skip app", "skip init", "done"]);
    }

    #[test]
    fn roles() {
        assert_eq!(TaskRole::of(&task("t", None)), TaskRole::Main);
        assert_eq!(
            TaskRole::of(&task("t", Some(("prestart", true)))),
            TaskRole::PrestartSidecar
        );
        assert_eq!(
            TaskRole::of(&task("t", Some(("poststop", false)))),
            TaskRole::Poststop
        );
        assert_eq!(
            TaskRole::of(&task("t", Some(("poststart", false)))),
            TaskRole::PoststartEphemeral
        );
    }
}
