//! Nomad's defaults, applied the way its API canonicalizes a job.
//!
//! Policies are layered: Nomad's defaults for the job type, under the job's block,
//! under the group's block, under the task's block. Every step only fills what is
//! unset, so running canonicalization twice changes nothing.

use crate::{
    Affinity, CheckRestart, Connect, Constraint, Duration, EphemeralDisk, Job, JobType, LogConfig,
    MigrateStrategy, NetworkResource, ParameterizedJobConfig, PeriodicConfig, ReschedulePolicy,
    Resources, RestartPolicy, Service, ServiceCheck, Spread, Task, TaskArtifact, TaskGroup,
    Template, UpdateStrategy,
};

/// A policy block whose unset fields can be taken from a lower layer.
pub(crate) trait Layer: Clone {
    /// Fills every unset field of `self` from `base`.
    fn fill_from(&mut self, base: &Self);

    /// `self` with the fields that equal `base`'s unset: what this layer says on its own.
    /// Validation uses it so that an inherited value is reported once, where it is written.
    fn own_fields(&self, base: &Self) -> Self;
}

/// Implements [`Layer`] for a block whose listed fields are all `Option`s.
macro_rules! layer_fields {
    ($ty:ty { $($field:ident),+ $(,)? }) => {
        impl Layer for $ty {
            fn fill_from(&mut self, base: &Self) {
                $(
                    if self.$field.is_none() {
                        self.$field.clone_from(&base.$field);
                    }
                )+
            }

            fn own_fields(&self, base: &Self) -> Self {
                let mut own = self.clone();
                $(
                    if own.$field == base.$field {
                        own.$field = None;
                    }
                )+
                own
            }
        }
    };
}

layer_fields!(RestartPolicy {
    attempts,
    interval,
    delay,
    mode,
    render_templates
});
layer_fields!(ReschedulePolicy {
    attempts,
    interval,
    delay,
    delay_function,
    max_delay,
    unlimited
});
layer_fields!(MigrateStrategy {
    max_parallel,
    health_check,
    min_healthy_time,
    healthy_deadline
});
layer_fields!(EphemeralDisk {
    sticky,
    migrate,
    size_mb
});
layer_fields!(LogConfig {
    max_files,
    max_file_size_mb,
    disabled
});
layer_fields!(UpdateStrategy {
    stagger,
    max_parallel,
    health_check,
    min_healthy_time,
    healthy_deadline,
    progress_deadline,
    canary,
    auto_revert,
    auto_promote,
});

/// `over` laid on `base`: what `over` sets wins, the rest comes from `base`.
fn layer<T: Layer>(base: Option<&T>, over: Option<T>) -> Option<T> {
    match (base, over) {
        (Some(base), Some(mut over)) => {
            over.fill_from(base);
            Some(over)
        }
        (Some(base), None) => Some(base.clone()),
        (None, over) => over,
    }
}

/// Sets an unset field.
fn fill<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// Sets an empty string field.
fn fill_str(slot: &mut String, value: impl Into<String>) {
    if slot.is_empty() {
        *slot = value.into();
    }
}

/// Sets an unset optional string field.
fn fill_opt_str(slot: &mut Option<String>, value: &str) {
    fill(slot, value.to_owned());
}

fn update_defaults() -> UpdateStrategy {
    UpdateStrategy {
        stagger: Some(Duration::from_secs(30)),
        max_parallel: Some(1),
        health_check: Some("checks".into()),
        min_healthy_time: Some(Duration::from_secs(10)),
        healthy_deadline: Some(Duration::from_mins(5)),
        progress_deadline: Some(Duration::from_mins(10)),
        canary: Some(0),
        auto_revert: Some(false),
        auto_promote: Some(false),
    }
}

fn restart_defaults(kind: JobType) -> RestartPolicy {
    let (attempts, interval) = if kind.is_batch_like() {
        (3, Duration::from_hours(24))
    } else {
        (2, Duration::from_mins(30))
    };
    RestartPolicy {
        attempts: Some(attempts),
        interval: Some(interval),
        delay: Some(Duration::from_secs(15)),
        mode: Some("fail".into()),
        render_templates: Some(false),
    }
}

/// System and sysbatch jobs are never rescheduled, so they get no default.
fn reschedule_defaults(kind: JobType) -> Option<ReschedulePolicy> {
    match kind {
        JobType::Service => Some(ReschedulePolicy {
            attempts: Some(0),
            interval: Some(Duration::ZERO),
            delay: Some(Duration::from_secs(30)),
            delay_function: Some("exponential".into()),
            max_delay: Some(Duration::from_hours(1)),
            unlimited: Some(true),
        }),
        JobType::Batch => Some(ReschedulePolicy {
            attempts: Some(1),
            interval: Some(Duration::from_hours(24)),
            delay: Some(Duration::from_secs(5)),
            delay_function: Some("constant".into()),
            max_delay: Some(Duration::ZERO),
            unlimited: Some(false),
        }),
        JobType::System | JobType::Sysbatch => None,
    }
}

fn migrate_defaults() -> MigrateStrategy {
    MigrateStrategy {
        max_parallel: Some(1),
        health_check: Some("checks".into()),
        min_healthy_time: Some(Duration::from_secs(10)),
        healthy_deadline: Some(Duration::from_mins(5)),
    }
}

fn ephemeral_disk_defaults() -> EphemeralDisk {
    EphemeralDisk {
        sticky: Some(false),
        migrate: Some(false),
        size_mb: Some(300),
    }
}

fn log_defaults() -> LogConfig {
    LogConfig {
        max_files: Some(10),
        max_file_size_mb: Some(10),
        disabled: Some(false),
    }
}

/// Only service and system jobs roll out with an update strategy.
fn has_update_strategy(kind: JobType) -> bool {
    matches!(kind, JobType::Service | JobType::System)
}

/// What a group inherits from its job, already canonicalized.
struct JobContext<'a> {
    name: &'a str,
    kind: JobType,
    update: Option<&'a UpdateStrategy>,
    reschedule: Option<&'a ReschedulePolicy>,
    migrate: Option<&'a MigrateStrategy>,
}

impl Job {
    /// Fills every unset field with Nomad's default for it. Idempotent.
    pub fn canonicalize(&mut self) {
        if self.name.is_empty() {
            self.name = self.id.to_string();
        }
        fill_opt_str(&mut self.namespace, "default");
        fill_opt_str(&mut self.region, "global");
        fill_opt_str(&mut self.job_type, JobType::Service.as_str());
        fill(&mut self.priority, 50);
        fill(&mut self.all_at_once, false);
        fill_opt_str(&mut self.node_pool, "default");
        if self.datacenters.is_empty() {
            self.datacenters = vec!["*".into()];
        }
        let kind = self.kind();
        if has_update_strategy(kind) {
            self.update = layer(Some(&update_defaults()), self.update.take());
        }
        canonicalize_placement(
            &mut self.constraints,
            &mut self.affinities,
            &mut self.spreads,
        );
        if let Some(periodic) = &mut self.periodic {
            periodic.canonicalize();
        }
        if let Some(parameterized) = &mut self.parameterized {
            parameterized.canonicalize();
        }

        let job = JobContext {
            name: &self.name,
            kind,
            update: self.update.as_ref(),
            reschedule: self.reschedule.as_ref(),
            migrate: self.migrate.as_ref(),
        };
        for group in &mut self.task_groups {
            group.canonicalize(&job);
        }
    }
}

impl PeriodicConfig {
    fn canonicalize(&mut self) {
        fill(&mut self.enabled, true);
        fill_opt_str(&mut self.spec_type, "cron");
        fill(&mut self.prohibit_overlap, false);
        fill_opt_str(&mut self.time_zone, "UTC");
        let spec_unset = self.spec.as_deref().is_none_or(str::is_empty);
        match (spec_unset, self.specs.first()) {
            (true, Some(first)) => self.spec = Some(first.clone()),
            (false, None) => self.specs = self.spec.iter().cloned().collect(),
            _ => {}
        }
    }
}

impl ParameterizedJobConfig {
    fn canonicalize(&mut self) {
        fill_str(&mut self.payload, "optional");
    }
}

fn canonicalize_constraints(constraints: &mut [Constraint]) {
    for c in constraints {
        fill_str(&mut c.operand, "=");
    }
}

fn canonicalize_affinities(affinities: &mut [Affinity]) {
    for a in affinities {
        fill_str(&mut a.operand, "=");
        fill(&mut a.weight, 50);
    }
}

fn canonicalize_placement(
    constraints: &mut [Constraint],
    affinities: &mut [Affinity],
    spreads: &mut [Spread],
) {
    canonicalize_constraints(constraints);
    canonicalize_affinities(affinities);
    for s in spreads {
        fill(&mut s.weight, 50);
    }
}

impl TaskGroup {
    fn canonicalize(&mut self, job: &JobContext<'_>) {
        let scaling_min = self.scaling.as_ref().and_then(|s| s.min);
        let count = *self.count.get_or_insert(scaling_min.unwrap_or(1));
        if let Some(scaling) = &mut self.scaling {
            fill(&mut scaling.enabled, true);
            fill(&mut scaling.min, count);
        }
        self.ephemeral_disk = layer(Some(&ephemeral_disk_defaults()), self.ephemeral_disk.take());
        if has_update_strategy(job.kind) {
            self.update = layer(job.update, self.update.take());
        }
        let migrate = layer(job.migrate, self.migrate.take());
        self.migrate = match job.kind {
            JobType::Service => layer(Some(&migrate_defaults()), migrate),
            _ => migrate,
        };
        let reschedule = layer(
            reschedule_defaults(job.kind).as_ref(),
            job.reschedule.cloned(),
        );
        self.reschedule_policy = layer(reschedule.as_ref(), self.reschedule_policy.take());
        self.restart_policy = layer(
            Some(&restart_defaults(job.kind)),
            self.restart_policy.take(),
        );

        canonicalize_placement(
            &mut self.constraints,
            &mut self.affinities,
            &mut self.spreads,
        );
        for network in &mut self.networks {
            network.canonicalize();
        }
        for service in &mut self.services {
            service.canonicalize(|| format!("{}-{}", job.name, self.name));
        }
        for task in &mut self.tasks {
            task.canonicalize(job.name, &self.name, self.restart_policy.as_ref());
        }
    }
}

impl NetworkResource {
    /// Defaults the mode and moves static ports to `reserved_ports`, as Nomad's parser does.
    fn canonicalize(&mut self) {
        fill_str(&mut self.mode, "host");
        let (fixed, dynamic) = std::mem::take(&mut self.dynamic_ports)
            .into_iter()
            .partition(|p| p.value > 0);
        self.dynamic_ports = dynamic;
        self.reserved_ports.extend::<Vec<_>>(fixed);
    }
}

impl Task {
    fn canonicalize(&mut self, job: &str, group: &str, group_restart: Option<&RestartPolicy>) {
        fill(&mut self.kill_timeout, Duration::from_secs(5));
        self.log_config = layer(Some(&log_defaults()), self.log_config.take());
        self.resources
            .get_or_insert_with(Resources::default)
            .canonicalize();
        self.restart_policy = layer(group_restart, self.restart_policy.take());
        if self
            .lifecycle
            .as_ref()
            .is_some_and(|l| l.hook.is_empty() && !l.sidecar)
        {
            self.lifecycle = None;
        }
        canonicalize_constraints(&mut self.constraints);
        canonicalize_affinities(&mut self.affinities);
        for template in &mut self.templates {
            template.canonicalize();
        }
        for artifact in &mut self.artifacts {
            artifact.canonicalize();
        }
        for service in &mut self.services {
            service.canonicalize(|| format!("{job}-{group}-{}", self.name));
        }
    }
}

impl Resources {
    fn canonicalize(&mut self) {
        // Cores and cpu are exclusive: a task that reserves cores asks for no MHz.
        let cores = *self.cores.get_or_insert(0);
        fill(&mut self.cpu, if cores > 0 { 0 } else { 100 });
        fill(&mut self.memory_mb, 300);
        for network in &mut self.networks {
            network.canonicalize();
        }
        for device in &mut self.devices {
            fill(&mut device.count, 1);
            canonicalize_constraints(&mut device.constraints);
            canonicalize_affinities(&mut device.affinities);
        }
    }
}

impl Template {
    fn canonicalize(&mut self) {
        fill_opt_str(&mut self.change_mode, "restart");
        match &mut self.change_signal {
            Some(signal) => *signal = signal.to_uppercase(),
            None if self.change_mode.as_deref() == Some("signal") => {
                self.change_signal = Some("SIGHUP".into());
            }
            None => {}
        }
        fill_opt_str(&mut self.perms, "0644");
        fill(&mut self.splay, Duration::from_secs(5));
        fill_opt_str(&mut self.left_delim, "{{");
        fill_opt_str(&mut self.right_delim, "}}");
        fill(&mut self.envvars, false);
        fill(&mut self.err_missing_key, false);
        fill(&mut self.once, false);
        if let Some(script) = &mut self.change_script {
            fill(&mut script.timeout, Duration::from_secs(5));
            fill(&mut script.fail_on_error, false);
        }
    }
}

impl TaskArtifact {
    fn canonicalize(&mut self) {
        fill_opt_str(&mut self.getter_mode, "any");
        if self.relative_dest.is_none() {
            // A single file lands as local/<its name>; anything else unpacks into local/.
            let file_name = (self.getter_mode.as_deref() == Some("file"))
                .then(|| self.getter_source.as_deref().unwrap_or_default())
                .map(|source| source.split(['?', '#']).next().unwrap_or_default())
                .and_then(|source| source.rsplit('/').next())
                .filter(|name| !name.is_empty());
            self.relative_dest = Some(match file_name {
                Some(name) => format!("local/{name}"),
                None => "local/".into(),
            });
        }
    }
}

impl Service {
    /// `default_name` is `<job>-<group>` for a group service, `<job>-<group>-<task>` for a task's.
    fn canonicalize(&mut self, default_name: impl FnOnce() -> String) {
        if self.name.is_empty() {
            self.name = default_name();
        }
        fill_str(&mut self.provider, "consul");
        fill_str(&mut self.address_mode, "auto");
        fill_str(&mut self.on_update, "require_healthy");
        // A custom address in auto mode is what an unset check address mode checks against,
        // so the check keeps its mode unset in that case.
        let custom_address = !self.address.is_empty() && self.address_mode == "auto";
        for check in &mut self.checks {
            check.check_restart =
                merge_check_restart(self.check_restart.as_ref(), check.check_restart.take());
            check.canonicalize(&self.name, &self.on_update, &self.task_name, custom_address);
        }
        if let Some(connect) = &mut self.connect {
            connect.canonicalize(&self.name);
        }
    }
}

/// A service's `check_restart` applies to each of its checks, under the check's own.
fn merge_check_restart(
    service: Option<&CheckRestart>,
    check: Option<CheckRestart>,
) -> Option<CheckRestart> {
    match (service, check) {
        (Some(base), Some(mut over)) => {
            if over.limit == 0 {
                over.limit = base.limit;
            }
            if over.grace.is_none() {
                over.grace = base.grace;
            }
            over.ignore_warnings |= base.ignore_warnings;
            Some(over)
        }
        (base, over) => over.or_else(|| base.cloned()),
    }
}

impl ServiceCheck {
    fn canonicalize(&mut self, service: &str, on_update: &str, task: &str, custom_address: bool) {
        if self.name.is_empty() {
            self.name = format!("service: {service:?} check");
        }
        fill_str(&mut self.on_update, on_update);
        fill_str(&mut self.task_name, task);
        if !custom_address {
            fill_str(&mut self.address_mode, "host");
        }
        if self.check_type == "http" {
            fill_str(&mut self.method, "GET");
            fill_str(&mut self.protocol, "http");
        }
    }
}

impl Connect {
    fn canonicalize(&mut self, service: &str) {
        let Some(sidecar) = &mut self.sidecar_service else {
            return;
        };
        if let Some(proxy) = &mut sidecar.proxy {
            fill_str(&mut proxy.local_service_address, "127.0.0.1");
        }
        let task = self.sidecar_task.get_or_insert_with(Default::default);
        fill_str(&mut task.name, format!("connect-proxy-{service}"));
        fill_str(&mut task.driver, "docker");
        fill(&mut task.kill_timeout, Duration::from_secs(5));
        fill(&mut task.shutdown_delay, Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_takes_unset_fields_from_base() {
        let base = RestartPolicy {
            attempts: Some(2),
            mode: Some("fail".into()),
            ..Default::default()
        };
        let over = RestartPolicy {
            mode: Some("delay".into()),
            ..Default::default()
        };
        let merged = layer(Some(&base), Some(over.clone())).expect("merged");
        assert_eq!(merged.attempts, Some(2));
        assert_eq!(merged.mode.as_deref(), Some("delay"));
        assert_eq!(layer(None, Some(over.clone())), Some(over.clone()));
        assert_eq!(layer(Some(&base), None), Some(base.clone()));
        assert_eq!(layer::<RestartPolicy>(None, None), None);
    }

    #[test]
    fn own_fields_drop_what_is_inherited() {
        let parent = restart_defaults(JobType::Service);
        let child = RestartPolicy {
            delay: Some(Duration::from_secs(1)),
            ..parent.clone()
        };
        assert_eq!(
            child.own_fields(&parent),
            RestartPolicy {
                delay: Some(Duration::from_secs(1)),
                ..Default::default()
            }
        );
    }
}
