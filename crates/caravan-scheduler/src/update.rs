//! Whether a job change can update an allocation in place or must replace it.
//!
//! The rule, kept simple on purpose: an allocation is updated in place when its group
//! differs from the new version only in fields that do not change what runs or how it
//! is reached: `count`, `update`, `migrate`, `reschedule`, `restart`, `meta`, `scaling`,
//! constraints, affinities, spreads, shutdown and disconnect timings, and per task
//! `meta`, `kill_timeout`, `restart`, `shutdown_delay`, constraints and affinities (and
//! job-level fields outside the group). Anything else (driver, config, env, resources,
//! templates, artifacts, ports and networks, services, volumes, the set of tasks, ...)
//! is destructive: the allocation is stopped and a new one placed.

use std::collections::BTreeMap;

use caravan_model::{Allocation, Job, Task, TaskGroup};

/// How an allocation relates to the job's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateKind {
    /// It runs the current version.
    Current,
    InPlace,
    Destructive,
}

/// Classifies allocations against one job version, remembering each old version's
/// answer per group.
#[derive(Debug)]
pub(crate) struct UpdateCheck<'a> {
    job: &'a Job,
    cache: BTreeMap<(u64, u64, String), bool>,
}

impl<'a> UpdateCheck<'a> {
    pub fn new(job: &'a Job) -> Self {
        Self {
            job,
            cache: BTreeMap::new(),
        }
    }

    pub fn kind(&mut self, alloc: &Allocation) -> UpdateKind {
        let Some(old) = alloc.job.as_deref() else {
            return UpdateKind::Destructive;
        };
        if old.job_modify_index == self.job.job_modify_index && old.version == self.job.version {
            return UpdateKind::Current;
        }
        let key = (
            old.job_modify_index.unwrap_or(0),
            old.version.unwrap_or(0),
            alloc.task_group.clone(),
        );
        let job = self.job;
        let destructive = *self.cache.entry(key).or_insert_with(|| {
            match (old.group(&alloc.task_group), job.group(&alloc.task_group)) {
                (Some(before), Some(after)) => destructive_view(before) != destructive_view(after),
                _ => true,
            }
        });
        if destructive {
            UpdateKind::Destructive
        } else {
            UpdateKind::InPlace
        }
    }
}

/// The group with every in-place-updatable field blanked.
fn destructive_view(group: &TaskGroup) -> TaskGroup {
    TaskGroup {
        count: None,
        update: None,
        migrate: None,
        reschedule_policy: None,
        restart_policy: None,
        meta: BTreeMap::new(),
        scaling: None,
        constraints: Vec::new(),
        affinities: Vec::new(),
        spreads: Vec::new(),
        shutdown_delay: None,
        stop_after_client_disconnect: None,
        max_client_disconnect: None,
        prevent_reschedule_on_lost: None,
        disconnect: None,
        tasks: group
            .tasks
            .iter()
            .map(|t| Task {
                meta: BTreeMap::new(),
                kill_timeout: None,
                restart_policy: None,
                shutdown_delay: Default::default(),
                constraints: Vec::new(),
                affinities: Vec::new(),
                ..t.clone()
            })
            .collect(),
        ..group.clone()
    }
}

#[cfg(test)]
mod tests {
    use caravan_model::{NetworkResource, Port, Resources};

    use super::*;

    fn job(version: u64) -> Job {
        Job {
            version: Some(version),
            job_modify_index: Some(version + 10),
            task_groups: vec![TaskGroup {
                name: "g".into(),
                count: Some(1),
                tasks: vec![Task {
                    name: "t".into(),
                    driver: "raw_exec".into(),
                    ..Task::default()
                }],
                ..TaskGroup::default()
            }],
            ..Job::default()
        }
    }

    fn alloc_of(job: &Job) -> Allocation {
        Allocation {
            task_group: "g".into(),
            job: Some(Box::new(job.clone())),
            ..Allocation::default()
        }
    }

    fn kind(old: &Job, new: &Job) -> UpdateKind {
        UpdateCheck::new(new).kind(&alloc_of(old))
    }

    #[test]
    fn same_version_is_current() {
        assert_eq!(kind(&job(0), &job(0)), UpdateKind::Current);
    }

    #[test]
    fn count_and_meta_are_in_place() {
        let old = job(0);
        let mut new = job(1);
        new.task_groups[0].count = Some(5);
        new.task_groups[0].meta.insert("a".into(), "b".into());
        new.task_groups[0].tasks[0]
            .meta
            .insert("c".into(), "d".into());
        new.meta.insert("owner".into(), "me".into());
        assert_eq!(kind(&old, &new), UpdateKind::InPlace);
    }

    #[test]
    fn config_env_resources_ports_are_destructive() {
        let old = job(0);
        let mut env = job(1);
        env.task_groups[0].tasks[0]
            .env
            .insert("A".into(), "1".into());
        assert_eq!(kind(&old, &env), UpdateKind::Destructive);
        let mut config = job(1);
        config.task_groups[0].tasks[0]
            .config
            .insert("command".into(), "/bin/true".into());
        assert_eq!(kind(&old, &config), UpdateKind::Destructive);
        let mut res = job(1);
        res.task_groups[0].tasks[0].resources = Some(Resources {
            cpu: Some(500),
            ..Resources::default()
        });
        assert_eq!(kind(&old, &res), UpdateKind::Destructive);
        let mut ports = job(1);
        ports.task_groups[0].networks = vec![NetworkResource {
            dynamic_ports: vec![Port {
                label: "http".into(),
                ..Port::default()
            }],
            ..NetworkResource::default()
        }];
        assert_eq!(kind(&old, &ports), UpdateKind::Destructive);
        let mut gone = job(1);
        gone.task_groups[0].name = "other".into();
        assert_eq!(kind(&old, &gone), UpdateKind::Destructive);
    }

    #[test]
    fn missing_job_is_destructive() {
        let a = Allocation {
            task_group: "g".into(),
            ..Allocation::default()
        };
        assert_eq!(UpdateCheck::new(&job(0)).kind(&a), UpdateKind::Destructive);
    }
}
