//! Job validation: every problem at once, each with the path of the block it is in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::RangeInclusive;

use crate::{
    Affinity, CONSTRAINT_OPERANDS, Connect, Constraint, Duration, Job, JobType, MigrateStrategy,
    NetworkResource, ReschedulePolicy, Resources, RestartPolicy, Service, ServiceCheck, Spread,
    Task, TaskGroup, Template, UpdateStrategy, canonicalize::Layer,
};

/// One step of a path into a job, named as in the job file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A labeled block: `group "app"`, `task "redis"`, `port "http"`, `service "web"`.
    Labeled(&'static str, String),
    /// The n-th (0-based) unlabeled block of a kind: `template`, `check`, `constraint`.
    Indexed(&'static str, usize),
    /// An unlabeled block or an attribute: `network`, `resources`, `static`.
    Field(&'static str),
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Labeled(kind, label) => write!(f, "{kind} {label:?}"),
            Segment::Indexed(kind, index) => write!(f, "{kind} #{}", index + 1),
            Segment::Field(name) => f.write_str(name),
        }
    }
}

/// One problem with a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// From the job block down; empty for the job itself.
    pub path: Vec<Segment>,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.path.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            write!(f, "{segment}")?;
        }
        if !self.path.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} error{} occurred:", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            write!(f, "\n\t* {e}")?;
        }
        Ok(())
    }
}

impl ValidationError {
    pub fn new(path: Vec<Segment>, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }
}

impl ValidationErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a ValidationError;
    type IntoIter = std::slice::Iter<'a, ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Job {
    /// Checks a canonicalized job. Returns every problem, not just the first.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut report = Report::default();
        validate_job(&mut report, self);
        if report.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(report.0))
        }
    }
}

/// A path into the job under construction; each block extends a copy of its parent's.
#[derive(Debug, Clone, Default)]
struct Path(Vec<Segment>);

impl Path {
    fn with(&self, segment: Segment) -> Path {
        let mut path = self.clone();
        path.0.push(segment);
        path
    }

    fn labeled(&self, kind: &'static str, label: &str) -> Path {
        self.with(Segment::Labeled(kind, label.to_owned()))
    }

    fn indexed(&self, kind: &'static str, index: usize) -> Path {
        self.with(Segment::Indexed(kind, index))
    }

    fn field(&self, name: &'static str) -> Path {
        self.with(Segment::Field(name))
    }
}

/// The problems found so far, in the order the walk met them.
#[derive(Debug, Default)]
struct Report(Vec<ValidationError>);

impl Report {
    fn add(&mut self, at: &Path, message: impl Into<String>) {
        self.0.push(ValidationError::new(at.0.clone(), message));
    }

    /// `block.field` is a duration that must not be negative.
    fn non_negative(&mut self, block: &Path, field: &'static str, value: Option<Duration>) {
        if let Some(d) = value.filter(|d| d.is_negative()) {
            self.add(
                &block.field(field),
                format!("{field} {d} must not be negative"),
            );
        }
    }

    /// `block.field` is a count that must not be negative.
    fn non_negative_int(&mut self, block: &Path, field: &'static str, value: Option<i64>) {
        if let Some(n) = value.filter(|n| *n < 0) {
            self.add(
                &block.field(field),
                format!("{field} {n} must not be negative"),
            );
        }
    }

    /// `block.field`, when set, is one of `allowed`.
    fn one_of(
        &mut self,
        block: &Path,
        field: &'static str,
        what: &str,
        value: Option<&str>,
        allowed: &[&str],
    ) {
        if let Some(value) = value.filter(|v| !allowed.contains(v)) {
            self.add(
                &block.field(field),
                format!(
                    "unknown {what} {value:?}; expected one of {}",
                    allowed.join(", ")
                ),
            );
        }
    }

    fn in_range(&mut self, at: &Path, what: &str, value: i64, range: RangeInclusive<i64>) {
        if !range.contains(&value) {
            let (lo, hi) = range.into_inner();
            self.add(at, format!("{what} {value} is out of range {lo}..={hi}"));
        }
    }
}

const MAX_ID_LEN: usize = 128;
const NETWORK_MODES: &str = "host, bridge, none or cni/<name>";
const PORT_RANGE: RangeInclusive<i64> = 0..=65535;

fn validate_job(r: &mut Report, job: &Job) {
    let root = Path::default();
    if job.id.is_empty() {
        r.add(&root, "missing job id");
    } else {
        validate_identifier(r, &root, "job id", job.id.as_str());
    }
    validate_identifier(r, &root.field("name"), "job name", &job.name);
    let allowed: Vec<&str> = JobType::ALL.iter().map(|t| t.as_str()).collect();
    r.one_of(&root, "type", "job type", job.job_type.as_deref(), &allowed);
    if let Some(priority) = job.priority {
        r.in_range(&root.field("priority"), "priority", priority, 1..=100);
    }
    validate_placement(r, &root, &job.constraints, &job.affinities, &job.spreads);
    if let Some(update) = &job.update {
        validate_update(r, &root.field("update"), update, None);
    }
    if let Some(reschedule) = &job.reschedule {
        validate_reschedule(r, &root.field("reschedule"), reschedule, None);
    }
    if let Some(migrate) = &job.migrate {
        validate_migrate(r, &root.field("migrate"), migrate, None);
    }
    validate_periodic(r, job);
    validate_parameterized(r, job);

    if job.task_groups.is_empty() {
        r.add(
            &root,
            "job has no groups; a job needs at least one group block",
        );
    }
    let mut seen = BTreeSet::new();
    for group in &job.task_groups {
        let at = root.labeled("group", &group.name);
        if !seen.insert(group.name.as_str()) {
            r.add(&at, format!("duplicate group name {:?}", group.name));
        }
        validate_group(r, &at, group, job);
    }
}

/// Job ids and names: no spaces, at most 128 characters.
fn validate_identifier(r: &mut Report, at: &Path, what: &str, value: &str) {
    if value.contains(' ') {
        r.add(at, format!("{what} {value:?} contains a space"));
    }
    let len = value.chars().count();
    if len > MAX_ID_LEN {
        r.add(
            at,
            format!("{what} {value:?} is {len} characters long, above {MAX_ID_LEN}"),
        );
    }
}

fn validate_periodic(r: &mut Report, job: &Job) {
    let Some(periodic) = &job.periodic else {
        return;
    };
    let at = Path::default().field("periodic");
    if periodic.enabled != Some(false) && !job.kind().is_batch_like() {
        r.add(
            &at,
            format!(
                "a periodic job must be batch or sysbatch, not {:?}",
                job.kind().as_str()
            ),
        );
    }
    let specs: Vec<&str> = if periodic.specs.is_empty() {
        periodic.spec.iter().map(String::as_str).collect()
    } else {
        periodic.specs.iter().map(String::as_str).collect()
    };
    if specs.is_empty() || specs.iter().any(|s| s.trim().is_empty()) {
        r.add(&at.field("crons"), "periodic block has an empty cron spec");
    }
}

fn validate_parameterized(r: &mut Report, job: &Job) {
    let Some(parameterized) = &job.parameterized else {
        return;
    };
    let at = Path::default().field("parameterized");
    if !job.kind().is_batch_like() {
        r.add(
            &at,
            format!(
                "a parameterized job must be batch or sysbatch, not {:?}",
                job.kind().as_str()
            ),
        );
    }
    let payload = Some(parameterized.payload.as_str()).filter(|p| !p.is_empty());
    r.one_of(
        &at,
        "payload",
        "payload requirement",
        payload,
        &["optional", "required", "forbidden"],
    );
}

fn validate_placement(
    r: &mut Report,
    at: &Path,
    constraints: &[Constraint],
    affinities: &[Affinity],
    spreads: &[Spread],
) {
    validate_constraints(r, at, constraints);
    for (i, affinity) in affinities.iter().enumerate() {
        validate_affinity(r, &at.indexed("affinity", i), affinity);
    }
    for (i, spread) in spreads.iter().enumerate() {
        validate_spread(r, &at.indexed("spread", i), spread);
    }
}

fn validate_constraints(r: &mut Report, at: &Path, constraints: &[Constraint]) {
    for (i, constraint) in constraints.iter().enumerate() {
        validate_constraint(r, &at.indexed("constraint", i), constraint);
    }
}

/// What a constraint operator needs on its right-hand side.
enum ValueRule {
    Required,
    Forbidden,
    /// `distinct_property`: an optional limit, a positive integer.
    OptionalCount,
    Any,
}

fn value_rule(operand: &str) -> ValueRule {
    match operand {
        "is_set" | "is_not_set" => ValueRule::Forbidden,
        "distinct_property" => ValueRule::OptionalCount,
        "distinct_hosts" => ValueRule::Any,
        _ => ValueRule::Required,
    }
}

fn validate_constraint(r: &mut Report, at: &Path, c: &Constraint) {
    let operand = c.operand.as_str();
    if !CONSTRAINT_OPERANDS.contains(&operand) {
        r.one_of(
            at,
            "operator",
            "operator",
            Some(operand),
            CONSTRAINT_OPERANDS,
        );
        return;
    }
    if operand != "distinct_hosts" && c.l_target.is_empty() {
        r.add(
            &at.field("attribute"),
            format!("operator {operand:?} needs an attribute"),
        );
    }
    let value = &at.field("value");
    match value_rule(operand) {
        ValueRule::Required if c.r_target.is_empty() => {
            r.add(value, format!("operator {operand:?} needs a value"));
        }
        ValueRule::Forbidden if !c.r_target.is_empty() => {
            r.add(
                value,
                format!("operator {operand:?} takes no value, got {:?}", c.r_target),
            );
        }
        ValueRule::OptionalCount
            if !c.r_target.is_empty() && !c.r_target.parse::<u64>().is_ok_and(|n| n > 0) =>
        {
            r.add(
                value,
                format!(
                    "distinct_property limit {:?} is not a positive integer",
                    c.r_target
                ),
            );
        }
        _ => {}
    }
}

fn validate_affinity(r: &mut Report, at: &Path, a: &Affinity) {
    let operands: Vec<&str> = CONSTRAINT_OPERANDS
        .iter()
        .copied()
        .filter(|o| !o.starts_with("distinct_"))
        .collect();
    r.one_of(
        at,
        "operator",
        "operator",
        Some(a.operand.as_str()),
        &operands,
    );
    if a.l_target.is_empty() {
        r.add(&at.field("attribute"), "affinity needs an attribute");
    }
    if let Some(weight) = a.weight.filter(|w| *w == 0 || !(-100..=100).contains(w)) {
        r.add(
            &at.field("weight"),
            format!("weight {weight} must be non-zero and within -100..=100"),
        );
    }
}

fn validate_spread(r: &mut Report, at: &Path, s: &Spread) {
    if s.attribute.is_empty() {
        r.add(&at.field("attribute"), "spread needs an attribute");
    }
    if let Some(weight) = s.weight {
        r.in_range(&at.field("weight"), "weight", weight, 0..=100);
    }
    let total: u32 = s.spread_target.iter().map(|t| u32::from(t.percent)).sum();
    if total > 100 {
        r.add(
            at,
            format!("spread target percents sum to {total}, above 100"),
        );
    }
}

/// Single fields are checked where they are written (`inherited` is the block this one was
/// merged over); the orderings between fields read the merged block.
fn validate_update(
    r: &mut Report,
    at: &Path,
    merged: &UpdateStrategy,
    inherited: Option<&UpdateStrategy>,
) {
    let u = own(merged, inherited);
    r.one_of(
        at,
        "health_check",
        "health_check",
        u.health_check.as_deref(),
        &["checks", "task_states", "manual"],
    );
    r.non_negative_int(at, "max_parallel", u.max_parallel);
    r.non_negative_int(at, "canary", u.canary);
    r.non_negative(at, "stagger", u.stagger);
    r.non_negative(at, "min_healthy_time", u.min_healthy_time);
    r.non_negative(at, "healthy_deadline", u.healthy_deadline);
    r.non_negative(at, "progress_deadline", u.progress_deadline);
    let ordered = |own_a: bool, own_b: bool, a: Option<Duration>, b: Option<Duration>| {
        (own_a || own_b) && matches!((a, b), (Some(a), Some(b)) if b > Duration::ZERO && a >= b)
    };
    let (min, deadline, progress) = (
        merged.min_healthy_time,
        merged.healthy_deadline,
        merged.progress_deadline,
    );
    if ordered(
        u.min_healthy_time.is_some(),
        u.healthy_deadline.is_some(),
        min,
        deadline,
    ) {
        r.add(
            &at.field("min_healthy_time"),
            format!(
                "min_healthy_time {} must be below healthy_deadline {}",
                show(min),
                show(deadline)
            ),
        );
    }
    if ordered(
        u.healthy_deadline.is_some(),
        u.progress_deadline.is_some(),
        deadline,
        progress,
    ) {
        r.add(
            &at.field("healthy_deadline"),
            format!(
                "healthy_deadline {} must be below progress_deadline {}",
                show(deadline),
                show(progress)
            ),
        );
    }
}

fn show(d: Option<Duration>) -> String {
    d.unwrap_or_default().to_string()
}

fn validate_reschedule(
    r: &mut Report,
    at: &Path,
    merged: &ReschedulePolicy,
    inherited: Option<&ReschedulePolicy>,
) {
    let p = own(merged, inherited);
    r.one_of(
        at,
        "delay_function",
        "delay_function",
        p.delay_function.as_deref(),
        &["constant", "exponential", "fibonacci"],
    );
    r.non_negative_int(at, "attempts", p.attempts);
    r.non_negative(at, "interval", p.interval);
    r.non_negative(at, "delay", p.delay);
    r.non_negative(at, "max_delay", p.max_delay);
}

fn validate_migrate(
    r: &mut Report,
    at: &Path,
    merged: &MigrateStrategy,
    inherited: Option<&MigrateStrategy>,
) {
    let m = own(merged, inherited);
    r.one_of(
        at,
        "health_check",
        "health_check",
        m.health_check.as_deref(),
        &["checks", "task_states"],
    );
    r.non_negative_int(at, "max_parallel", m.max_parallel);
    r.non_negative(at, "min_healthy_time", m.min_healthy_time);
    r.non_negative(at, "healthy_deadline", m.healthy_deadline);
}

fn validate_restart(
    r: &mut Report,
    at: &Path,
    merged: &RestartPolicy,
    inherited: Option<&RestartPolicy>,
) {
    let p = own(merged, inherited);
    r.one_of(
        at,
        "mode",
        "restart mode",
        p.mode.as_deref(),
        &["fail", "delay"],
    );
    r.non_negative_int(at, "attempts", p.attempts);
    r.non_negative(at, "interval", p.interval);
    r.non_negative(at, "delay", p.delay);
}

/// What a policy block sets itself, beside what it inherited from `parent`: an inherited
/// value is reported once, at the block that wrote it.
fn own<T: Layer>(block: &T, parent: Option<&T>) -> T {
    parent.map_or_else(|| block.clone(), |parent| block.own_fields(parent))
}

fn validate_group(r: &mut Report, at: &Path, g: &TaskGroup, job: &Job) {
    if g.tasks.is_empty() {
        r.add(at, format!("group {:?} has no tasks", g.name));
    }
    validate_count(r, at, g);
    validate_placement(r, at, &g.constraints, &g.affinities, &g.spreads);
    validate_group_policies(r, at, g, job);
    validate_networks(r, at, &g.networks);
    let group_ports = port_labels(&g.networks);
    for (i, service) in g.services.iter().enumerate() {
        let service_at = service_path(at, i, service);
        validate_service(r, &service_at, service, &group_ports, Scope::Group);
    }
    validate_providers(r, at, g);
    validate_tasks(r, at, g);
}

/// The group's policies, each checked for what the group itself sets over the job's block.
fn validate_group_policies(r: &mut Report, at: &Path, g: &TaskGroup, job: &Job) {
    if let Some(update) = &g.update {
        validate_update(r, &at.field("update"), update, job.update.as_ref());
    }
    if let Some(reschedule) = &g.reschedule_policy {
        validate_reschedule(
            r,
            &at.field("reschedule"),
            reschedule,
            job.reschedule.as_ref(),
        );
    }
    if let Some(migrate) = &g.migrate {
        validate_migrate(r, &at.field("migrate"), migrate, job.migrate.as_ref());
    }
    if let Some(restart) = &g.restart_policy {
        validate_restart(r, &at.field("restart"), restart, None);
    }
    r.non_negative(at, "shutdown_delay", g.shutdown_delay);
    r.non_negative(
        at,
        "stop_after_client_disconnect",
        g.stop_after_client_disconnect,
    );
    r.non_negative(at, "max_client_disconnect", g.max_client_disconnect);
    if let Some(disk) = &g.ephemeral_disk {
        r.non_negative_int(&at.field("ephemeral_disk"), "size", disk.size_mb);
    }
}

/// Task names are unique in a group, and at most one task leads.
fn validate_tasks(r: &mut Report, at: &Path, g: &TaskGroup) {
    let mut seen = BTreeSet::new();
    let mut leader: Option<&str> = None;
    for task in &g.tasks {
        let task_at = at.labeled("task", &task.name);
        if !seen.insert(task.name.as_str()) {
            let message = format!("duplicate task name {:?} in group {:?}", task.name, g.name);
            r.add(&task_at, message);
        }
        if task.leader {
            match leader {
                Some(first) => r.add(
                    &task_at.field("leader"),
                    format!("only one task in a group may be leader; task {first:?} already is"),
                ),
                None => leader = Some(&task.name),
            }
        }
        validate_task(r, &task_at, task, g);
    }
}

fn validate_count(r: &mut Report, at: &Path, g: &TaskGroup) {
    let Some(count) = g.count else { return };
    let count_at = at.field("count");
    if count < 0 {
        r.add(&count_at, format!("count {count} must not be negative"));
    }
    let Some(scaling) = &g.scaling else { return };
    if let Some(max) = scaling.max.filter(|max| count > *max) {
        r.add(
            &count_at,
            format!("count {count} is above scaling max {max}"),
        );
    }
    if let Some(min) = scaling.min.filter(|min| count < *min) {
        r.add(
            &count_at,
            format!("count {count} is below scaling min {min}"),
        );
    }
    if let (Some(min), Some(max)) = (scaling.min, scaling.max)
        && min > max
    {
        r.add(
            &at.field("scaling").field("min"),
            format!("scaling min {min} is above max {max}"),
        );
    }
}

/// The first network is `network`; any extra one (an error) is numbered.
fn network_path(at: &Path, index: usize) -> Path {
    if index == 0 {
        at.field("network")
    } else {
        at.indexed("network", index)
    }
}

/// A service is named by its `name`; an unnamed one (not canonicalized) by its position.
fn service_path(at: &Path, index: usize, service: &Service) -> Path {
    if service.name.is_empty() {
        at.indexed("service", index)
    } else {
        at.labeled("service", &service.name)
    }
}

fn port_labels(networks: &[NetworkResource]) -> BTreeSet<&str> {
    networks
        .iter()
        .flat_map(NetworkResource::ports)
        .map(|p| p.label.as_str())
        .collect()
}

fn validate_networks(r: &mut Report, at: &Path, networks: &[NetworkResource]) {
    for (i, network) in networks.iter().enumerate() {
        let net_at = network_path(at, i);
        if i == 1 {
            let message = format!(
                "a group may have at most one network block, found {}",
                networks.len()
            );
            r.add(&net_at, message);
        }
        validate_network(r, &net_at, network);
    }
    validate_group_ports(r, at, networks);
}

fn validate_network(r: &mut Report, at: &Path, n: &NetworkResource) {
    let mode = n.mode();
    let known = matches!(mode, "host" | "bridge" | "none")
        || mode
            .strip_prefix("cni/")
            .is_some_and(|name| !name.is_empty());
    if !known {
        r.add(
            &at.field("mode"),
            format!("unknown network mode {mode:?}; expected {NETWORK_MODES}"),
        );
    }
    for port in n.ports() {
        let port_at = at.labeled("port", &port.label);
        r.in_range(
            &port_at.field("static"),
            "static port",
            port.value,
            PORT_RANGE,
        );
        r.in_range(&port_at.field("to"), "port to", port.to, -1..=65535);
    }
}

/// Port labels and static ports are unique across a group's networks.
fn validate_group_ports(r: &mut Report, at: &Path, networks: &[NetworkResource]) {
    let mut labels = BTreeSet::new();
    let mut statics: BTreeMap<i64, &str> = BTreeMap::new();
    for (i, network) in networks.iter().enumerate() {
        for port in network.ports() {
            let port_at = network_path(at, i).labeled("port", &port.label);
            if !labels.insert(port.label.as_str()) {
                r.add(&port_at, format!("duplicate port label {:?}", port.label));
            }
            if port.value > 0 {
                if let Some(other) = statics.get(&port.value) {
                    r.add(
                        &port_at.field("static"),
                        format!("static port {} is also used by port {other:?}", port.value),
                    );
                } else {
                    statics.insert(port.value, &port.label);
                }
            }
        }
    }
}

/// Every service of a group, its tasks' included, uses one provider.
fn validate_providers(r: &mut Report, at: &Path, g: &TaskGroup) {
    let group_services = g
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (service_path(at, i, s), s));
    let task_services = g.tasks.iter().flat_map(|t| {
        let task_at = at.labeled("task", &t.name);
        t.services
            .iter()
            .enumerate()
            .map(move |(i, s)| (service_path(&task_at, i, s), s))
    });
    let mut first: Option<&Service> = None;
    for (service_at, service) in group_services.chain(task_services) {
        match first {
            None => first = Some(service),
            Some(first) if first.provider() != service.provider() => r.add(
                &service_at.field("provider"),
                format!(
                    "provider {:?} differs from {:?} used by service {:?}; \
                     all services in a group must use one provider",
                    service.provider(),
                    first.provider(),
                    first.name
                ),
            ),
            Some(_) => {}
        }
    }
}

fn validate_task(r: &mut Report, at: &Path, t: &Task, g: &TaskGroup) {
    if t.driver.is_empty() {
        r.add(&at.field("driver"), "missing driver");
    }
    let ports = task_port_labels(t, g);
    validate_config_ports(r, at, t, &ports);
    r.non_negative(at, "kill_timeout", t.kill_timeout);
    r.non_negative(at, "shutdown_delay", Some(t.shutdown_delay));
    if let Some(lifecycle) = &t.lifecycle {
        r.one_of(
            &at.field("lifecycle"),
            "hook",
            "lifecycle hook",
            Some(&lifecycle.hook),
            &["prestart", "poststart", "poststop"],
        );
    }
    if let Some(restart) = &t.restart_policy {
        validate_restart(r, &at.field("restart"), restart, g.restart_policy.as_ref());
    }
    if let Some(resources) = &t.resources {
        validate_resources(r, &at.field("resources"), resources);
    }
    validate_constraints(r, at, &t.constraints);
    for (i, affinity) in t.affinities.iter().enumerate() {
        validate_affinity(r, &at.indexed("affinity", i), affinity);
    }
    for (i, template) in t.templates.iter().enumerate() {
        validate_template(r, &at.indexed("template", i), template);
    }
    for (i, service) in t.services.iter().enumerate() {
        validate_service(
            r,
            &service_path(at, i, service),
            service,
            &ports,
            Scope::Task,
        );
    }
}

/// The port labels a task can name: its group's, plus those of its deprecated task networks.
fn task_port_labels<'a>(t: &'a Task, g: &'a TaskGroup) -> BTreeSet<&'a str> {
    let mut ports = port_labels(&g.networks);
    if let Some(resources) = &t.resources {
        ports.extend(port_labels(&resources.networks));
    }
    ports
}

/// The driver config's `ports` publish group ports, so each must be defined.
fn validate_config_ports(r: &mut Report, at: &Path, t: &Task, ports: &BTreeSet<&str>) {
    for label in t.config_ports() {
        if !ports.contains(label) && !label.contains("${") {
            r.add(
                &at.field("config").field("ports"),
                format!("port label {label:?} is not defined in the group network"),
            );
        }
    }
}

fn validate_resources(r: &mut Report, at: &Path, res: &Resources) {
    let cores = res.cores.unwrap_or(0);
    let cpu = res.cpu.unwrap_or(0);
    if cores > 0 && cpu > 0 {
        r.add(
            &at.field("cores"),
            format!("cores {cores} and cpu {cpu} are exclusive; set one"),
        );
    }
    r.non_negative_int(at, "cores", res.cores);
    r.non_negative_int(at, "cpu", res.cpu);
    if let Some(memory) = res.memory_mb.filter(|m| *m < 10) {
        r.add(
            &at.field("memory"),
            format!("memory {memory} MB is below the 10 MB minimum"),
        );
    }
    if let (Some(max), Some(memory)) = (res.memory_max_mb, res.memory_mb)
        && max != 0
        && max < memory
    {
        r.add(
            &at.field("memory_max"),
            format!("memory_max {max} MB is below memory {memory} MB"),
        );
    }
}

const TEMPLATE_CHANGE_MODES: &[&str] = &["noop", "restart", "signal", "script"];

fn validate_template(r: &mut Report, at: &Path, t: &Template) {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    match (set(&t.embedded_tmpl), set(&t.source_path)) {
        (false, false) => r.add(at, "template needs data or source"),
        (true, true) => r.add(at, "template has both data and source; use one"),
        _ => {}
    }
    match t.dest_path.as_deref().filter(|d| !d.is_empty()) {
        None => r.add(&at.field("destination"), "missing destination"),
        Some(dest) => validate_task_path(r, &at.field("destination"), "destination", dest),
    }
    if let Some(source) = t.source_path.as_deref().filter(|s| !s.is_empty()) {
        validate_task_path(r, &at.field("source"), "source", source);
    }

    let mode = t.change_mode.as_deref();
    r.one_of(
        at,
        "change_mode",
        "change_mode",
        mode,
        TEMPLATE_CHANGE_MODES,
    );
    if mode == Some("signal") {
        if t.envvars == Some(true) {
            r.add(
                &at.field("env"),
                "env = true cannot be used with change_mode \"signal\"",
            );
        }
        if t.change_signal.as_deref().is_none_or(str::is_empty) {
            r.add(
                &at.field("change_signal"),
                "change_mode \"signal\" needs a change_signal",
            );
        }
    }
    if mode == Some("script") {
        let command = t.change_script.as_ref().and_then(|s| s.command.as_deref());
        if command.is_none_or(str::is_empty) {
            r.add(
                &at.field("change_script"),
                "change_mode \"script\" needs a change_script with a command",
            );
        }
    }
    if let Some(perms) = t.perms.as_deref().filter(|p| !is_octal_mode(p)) {
        r.add(
            &at.field("perms"),
            format!("perms {perms:?} is not an octal file mode like \"0644\""),
        );
    }
    r.non_negative(at, "splay", t.splay);
    r.non_negative(at, "vault_grace", t.vault_grace);
    if let Some(script) = &t.change_script {
        r.non_negative(&at.field("change_script"), "timeout", script.timeout);
    }
    if let Some(wait) = &t.wait {
        r.non_negative(&at.field("wait"), "min", wait.min);
        r.non_negative(&at.field("wait"), "max", wait.max);
    }
}

fn validate_task_path(r: &mut Report, at: &Path, what: &str, path: &str) {
    if escapes_task_dir(path) == Some(true) {
        r.add(
            at,
            format!(
                "{what} {path:?} escapes the task directory; \
                 use a path under local/, secrets/ or ../alloc/"
            ),
        );
    }
}

/// Up to 0o7777, as `chmod` takes it: "644", "0644", "0755".
fn is_octal_mode(perms: &str) -> bool {
    !perms.is_empty()
        && perms.bytes().all(|b| (b'0'..=b'7').contains(&b))
        && u32::from_str_radix(perms, 8).is_ok_and(|mode| mode <= 0o7777)
}

/// Whether a path given relative to the task directory leaves it, read lexically.
///
/// Inside are the task directory (`local/`, `secrets/`, ...) and the allocation's shared
/// directory reached as `../alloc/`; an absolute path counts as the task sees it in a
/// container, so `/local`, `/secrets` and `/alloc` are inside and any other is out.
/// `${NOMAD_TASK_DIR}`, `${NOMAD_SECRETS_DIR}` and `${NOMAD_ALLOC_DIR}` are read as those
/// directories; `None` when another runtime variable makes the answer unknowable.
fn escapes_task_dir(path: &str) -> Option<bool> {
    let path = path
        .replace("${NOMAD_TASK_DIR}", "local")
        .replace("${NOMAD_SECRETS_DIR}", "secrets")
        .replace("${NOMAD_ALLOC_DIR}", "../alloc");
    if path.contains("${") {
        return None;
    }
    let relative = match path.strip_prefix('/') {
        None => path,
        Some(absolute) => match absolute.split('/').next() {
            Some("local" | "secrets") => absolute.to_owned(),
            Some("alloc") => format!("../{absolute}"),
            _ => return Some(true),
        },
    };
    // From the allocation directory: `None` is the task directory, `Some` anything beside it.
    let mut stack: Vec<Option<&str>> = vec![None];
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if stack.pop().is_none() {
                    return Some(true);
                }
            }
            name => stack.push(Some(name)),
        }
    }
    Some(!matches!(stack.first(), Some(None | Some("alloc"))))
}

/// Where a service is declared: some rules differ between group and task services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Group,
    Task,
}

const CHECK_TYPES: &[&str] = &["http", "tcp", "script", "grpc"];

fn validate_service(r: &mut Report, at: &Path, s: &Service, ports: &BTreeSet<&str>, scope: Scope) {
    if !s.name.is_empty() && !s.name.contains("${") && !is_rfc1123_label(&s.name) {
        r.add(
            &at.field("name"),
            format!(
                "service name {:?} is not valid: use at most 63 letters, digits and dashes, \
                 starting and ending with a letter or digit",
                s.name
            ),
        );
    }
    let provider = Some(s.provider.as_str()).filter(|p| !p.is_empty());
    r.one_of(
        at,
        "provider",
        "service provider",
        provider,
        &["consul", "nomad"],
    );
    let mode = Some(s.address_mode.as_str()).filter(|m| !m.is_empty());
    r.one_of(
        at,
        "address_mode",
        "address_mode",
        mode,
        &["auto", "host", "driver", "alloc", "alloc_ipv6"],
    );
    let on_update = Some(s.on_update.as_str()).filter(|m| !m.is_empty());
    r.one_of(
        at,
        "on_update",
        "on_update",
        on_update,
        &["require_healthy", "ignore_warnings", "ignore"],
    );
    validate_port_ref(r, &at.field("port"), &s.port_label, ports);
    if let Some(check_restart) = &s.check_restart {
        r.non_negative(&at.field("check_restart"), "grace", check_restart.grace);
    }
    for (i, check) in s.checks.iter().enumerate() {
        validate_check(r, &at.indexed("check", i), check, s, ports);
    }
    if let Some(connect) = &s.connect {
        match scope {
            Scope::Task => r.add(
                &at.field("connect"),
                "connect is only allowed on group services",
            ),
            Scope::Group => validate_connect(r, &at.field("connect"), connect),
        }
    }
}

/// A service or check `port`: a label of the group network, or a number.
fn validate_port_ref(r: &mut Report, at: &Path, port: &str, labels: &BTreeSet<&str>) {
    if port.is_empty() || port.contains("${") || labels.contains(port) {
        return;
    }
    if port.parse::<u16>().is_err() {
        r.add(
            at,
            format!("port {port:?} is neither a port label of the group network nor a number"),
        );
    }
}

/// An RFC 1123 DNS label, case-insensitive.
fn is_rfc1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn validate_check(
    r: &mut Report,
    at: &Path,
    c: &ServiceCheck,
    service: &Service,
    ports: &BTreeSet<&str>,
) {
    let kind = c.check_type.as_str();
    if !CHECK_TYPES.contains(&kind) {
        r.one_of(at, "type", "check type", Some(kind), CHECK_TYPES);
    } else if service.provider() == "nomad" && !matches!(kind, "http" | "tcp") {
        r.add(
            &at.field("type"),
            format!("check type {kind:?} is not supported by the nomad provider; use http or tcp"),
        );
    }
    if kind == "http" {
        if c.path.is_empty() {
            r.add(&at.field("path"), "http check needs a path");
        }
        let protocol = Some(c.protocol.as_str()).filter(|p| !p.is_empty());
        r.one_of(
            at,
            "protocol",
            "check protocol",
            protocol,
            &["http", "https"],
        );
    }
    if kind == "script" && c.command.is_empty() {
        r.add(&at.field("command"), "script check needs a command");
    }
    for (field, value) in [("interval", c.interval), ("timeout", c.timeout)] {
        if value < Duration::from_secs(1) {
            r.add(
                &at.field(field),
                format!("{field} {value} is below the 1s minimum"),
            );
        }
    }
    let mode = Some(c.address_mode.as_str()).filter(|m| !m.is_empty());
    r.one_of(
        at,
        "address_mode",
        "check address_mode",
        mode,
        &["host", "driver", "alloc", "alloc_ipv6"],
    );
    validate_port_ref(r, &at.field("port"), &c.port_label, ports);
    if let Some(check_restart) = &c.check_restart {
        r.non_negative(&at.field("check_restart"), "grace", check_restart.grace);
    }
}

fn validate_connect(r: &mut Report, at: &Path, connect: &Connect) {
    if let Some(task) = &connect.sidecar_task {
        let task_at = at.field("sidecar_task");
        r.non_negative(&task_at, "kill_timeout", task.kill_timeout);
        r.non_negative(&task_at, "shutdown_delay", task.shutdown_delay);
    }
    let Some(proxy) = connect
        .sidecar_service
        .as_ref()
        .and_then(|s| s.proxy.as_ref())
    else {
        return;
    };
    let proxy_at = at.field("sidecar_service").field("proxy");
    let mut bound: BTreeMap<i64, &str> = BTreeMap::new();
    for (i, upstream) in proxy.upstreams.iter().enumerate() {
        let up_at = proxy_at.indexed("upstreams", i);
        if upstream.destination_name.is_empty() {
            r.add(&up_at.field("destination_name"), "missing destination_name");
        }
        if !upstream.local_bind_socket_path.is_empty() {
            continue;
        }
        let port = upstream.local_bind_port;
        let port_at = up_at.field("local_bind_port");
        if !(1..=65535).contains(&port) {
            r.in_range(&port_at, "local_bind_port", port, 1..=65535);
        } else if let Some(other) = bound.get(&port) {
            r.add(
                &port_at,
                format!("local_bind_port {port} is already bound by upstream {other:?}"),
            );
        } else {
            bound.insert(port, &upstream.destination_name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_paths_read_lexically() {
        let inside = [
            "local/x",
            "secrets/x",
            "x",
            "./local/../secrets/x",
            "alloc/x",
            "../alloc/x",
            "../alloc",
            "/local/x",
            "/secrets",
            "/alloc/data/x",
            "local//x",
            "${NOMAD_TASK_DIR}/x",
            "${NOMAD_SECRETS_DIR}/x",
            "${NOMAD_ALLOC_DIR}/x",
        ];
        for path in inside {
            assert_eq!(escapes_task_dir(path), Some(false), "{path}");
        }
        let outside = [
            "..",
            "../x",
            "../../alloc/x",
            "../sibling/local/x",
            "local/../../x",
            "/etc/passwd",
            "/",
            "/alloc/../../x",
            "${NOMAD_ALLOC_DIR}/../../x",
        ];
        for path in outside {
            assert_eq!(escapes_task_dir(path), Some(true), "{path}");
        }
        assert_eq!(escapes_task_dir("${NOMAD_META_dir}/x"), None);
    }

    #[test]
    fn octal_modes() {
        for good in ["0", "644", "0644", "00644", "7777"] {
            assert!(is_octal_mode(good), "{good}");
        }
        for bad in [
            "",
            "+644",
            "0o644",
            "648",
            "17777",
            "rw-r--r--",
            "999999999999999999999",
        ] {
            assert!(!is_octal_mode(bad), "{bad}");
        }
    }

    #[test]
    fn dns_labels() {
        for good in ["a", "web", "Web-1", "1web", &"x".repeat(63)] {
            assert!(is_rfc1123_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a_b", "a.b", "ä", &"x".repeat(64)] {
            assert!(!is_rfc1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn segments_display_as_in_a_job_file() {
        let error = ValidationError::new(
            vec![
                Segment::Labeled("group", "app".into()),
                Segment::Indexed("template", 0),
                Segment::Field("destination"),
            ],
            "missing destination",
        );
        assert_eq!(
            error.to_string(),
            "group \"app\" -> template #1 -> destination: missing destination"
        );
        assert_eq!(
            ValidationError::new(vec![], "missing job id").to_string(),
            "missing job id"
        );
    }
}
