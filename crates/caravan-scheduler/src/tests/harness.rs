//! A tiny server around the scheduler: registers jobs with evaluations, runs the
//! scheduler, checks and commits plans, and reports client statuses.

use caravan_model::{
    AllocId, Allocation, DriverInfo, EvalId, Evaluation, Job, JobId, NetworkResource, Node, NodeId,
    NodeNetwork, Port, Resources, Task, TaskGroup,
};
use caravan_state::{AllocClientUpdate, Command, PlanResult, Snapshot, StateStore};

use crate::{Outcome, SchedContext, check_plan, process};

pub const SEC: i64 = 1_000_000_000;
pub const T0: i64 = 1_700_000_000 * SEC;

pub struct Harness {
    pub store: StateStore,
    index: u64,
    pub now: i64,
    seed: u64,
    evals: u64,
}

impl Harness {
    pub fn new() -> Self {
        Self {
            store: StateStore::new(),
            index: 0,
            now: T0,
            seed: 1,
            evals: 0,
        }
    }

    pub fn apply(&mut self, cmd: Command) {
        self.index += 1;
        self.store.apply(self.index, cmd).expect("command applies");
    }

    pub fn snap(&self) -> Snapshot {
        self.store.snapshot()
    }

    pub fn add_node(&mut self, node: Node) {
        self.apply(Command::UpsertNode {
            node: Box::new(node),
        });
    }

    pub fn add_nodes(&mut self, nodes: impl IntoIterator<Item = Node>) {
        nodes.into_iter().for_each(|n| self.add_node(n));
    }

    fn next_eval(&mut self, job_id: &str, job_type: &str, trigger: &str) -> Evaluation {
        self.evals += 1;
        Evaluation {
            id: EvalId::from(format!("eval-{:04}", self.evals)),
            namespace: "default".into(),
            priority: 50,
            eval_type: job_type.into(),
            triggered_by: trigger.into(),
            job_id: JobId::from(job_id),
            status: "pending".into(),
            create_time: self.now,
            modify_time: self.now,
            ..Evaluation::default()
        }
    }

    /// Registers (or updates) a job with a `job-register` evaluation and returns it.
    pub fn register(&mut self, job: Job) -> Evaluation {
        let eval = self.next_eval(job.id.as_str(), job.kind().as_str(), "job-register");
        let id = eval.id.clone();
        self.apply(Command::RegisterJob {
            job: Box::new(job),
            eval: Some(eval),
            submit_time: self.now,
        });
        self.snap().eval(&id).cloned().expect("eval stored")
    }

    /// Stores a fresh evaluation of the job (node-update, alloc-failure, ...).
    pub fn eval(&mut self, job_id: &str, trigger: &str) -> Evaluation {
        let job_type = self
            .snap()
            .job("default", &JobId::from(job_id))
            .map(|j| j.kind().as_str().to_owned())
            .unwrap_or_else(|| "service".to_owned());
        let eval = self.next_eval(job_id, &job_type, trigger);
        self.apply(Command::UpsertEvals {
            evals: vec![eval.clone()],
        });
        self.snap().eval(&eval.id).cloned().expect("eval stored")
    }

    pub fn stop_job(&mut self, job_id: &str, purge: bool) -> Evaluation {
        let eval = self.next_eval(job_id, "service", "job-deregister");
        let id = eval.id.clone();
        self.apply(Command::DeregisterJob {
            namespace: "default".into(),
            job_id: JobId::from(job_id),
            purge,
            eval: Some(eval),
            now: self.now,
        });
        self.snap().eval(&id).cloned().expect("eval stored")
    }

    pub fn process(&mut self, eval: &Evaluation) -> Outcome {
        self.seed += 1;
        process(&self.snap(), eval, &SchedContext::new(self.now, self.seed))
    }

    /// Plays the plan applier: the plan must pass the check, then it is committed.
    pub fn commit(&mut self, out: &Outcome) {
        let check = check_plan(&self.snap(), &out.plan);
        assert!(check.is_ok(), "plan check rejected: {:?}", check.rejected);
        let result = PlanResult::from_plan(out.plan.clone(), out.evals(), self.now);
        self.apply(Command::ApplyPlanResult(Box::new(result)));
    }

    /// Processes and commits.
    pub fn run(&mut self, eval: &Evaluation) -> Outcome {
        let out = self.process(eval);
        self.commit(&out);
        out
    }

    /// Stores an evaluation of the job, processes and commits it.
    pub fn trigger(&mut self, job_id: &str, trigger: &str) -> Outcome {
        let eval = self.eval(job_id, trigger);
        self.run(&eval)
    }

    /// Registers, processes, commits.
    pub fn run_job(&mut self, job: Job) -> Outcome {
        let eval = self.register(job);
        self.run(&eval)
    }

    pub fn client(&mut self, alloc_id: &AllocId, status: &str) {
        self.apply(Command::UpdateAllocsFromClient {
            updates: vec![AllocClientUpdate {
                alloc_id: alloc_id.clone(),
                client_status: status.into(),
                ..AllocClientUpdate::default()
            }],
            evals: vec![],
            now: self.now,
        });
    }

    /// Marks every live allocation of the job running, as clients would.
    pub fn all_running(&mut self, job_id: &str) {
        for a in self.live(job_id) {
            if a.client_status != "running" {
                self.client(&a.id, "running");
            }
        }
    }

    /// The job's allocations that want to run and have not finished, sorted by name.
    pub fn live(&self, job_id: &str) -> Vec<Allocation> {
        let mut allocs: Vec<Allocation> = self
            .snap()
            .allocs_by_job("default", &JobId::from(job_id))
            .filter(|a| a.desired_status == "run" && !a.is_terminal())
            .cloned()
            .collect();
        allocs.sort_by(|a, b| (a.index(), &a.name).cmp(&(b.index(), &b.name)));
        allocs
    }

    pub fn live_names(&self, job_id: &str) -> Vec<String> {
        self.live(job_id).into_iter().map(|a| a.name).collect()
    }

    pub fn node_status(&mut self, node: &str, status: &str) {
        self.apply(Command::UpdateNodeStatus {
            node_id: NodeId::from(node),
            status: status.into(),
            now: self.now,
            evals: vec![],
        });
    }
}

/// A ready node with raw_exec, 4000 MHz over 4 cores, 8192 MB, in dc1.
pub fn node(id: &str) -> Node {
    sized_node(id, 4000, 8192)
}

pub fn sized_node(id: &str, cpu: i64, memory_mb: i64) -> Node {
    let mut node = Node {
        id: NodeId::from(id),
        name: id.to_owned(),
        datacenter: "dc1".into(),
        status: "ready".into(),
        ..Node::default()
    };
    node.node_resources.cpu.cpu_shares = cpu;
    node.node_resources.cpu.total_cpu_cores = 4;
    node.node_resources.memory.memory_mb = memory_mb;
    node.node_resources.networks = vec![NodeNetwork {
        ip: format!(
            "10.0.0.{}",
            id.bytes().map(u32::from).sum::<u32>() % 250 + 1
        ),
        ..NodeNetwork::default()
    }];
    node.drivers.insert(
        "raw_exec".into(),
        DriverInfo {
            detected: true,
            healthy: true,
            ..DriverInfo::default()
        },
    );
    node.attributes.insert("kernel.name".into(), "linux".into());
    node
}

/// A service job with one group `web` of `count` raw_exec tasks (100 MHz, 256 MB).
pub fn job(id: &str, count: i64) -> Job {
    Job {
        id: JobId::from(id),
        name: id.to_owned(),
        job_type: Some("service".into()),
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count: Some(count),
            tasks: vec![Task {
                name: "app".into(),
                driver: "raw_exec".into(),
                resources: Some(Resources {
                    cpu: Some(100),
                    memory_mb: Some(256),
                    ..Resources::default()
                }),
                ..Task::default()
            }],
            ..TaskGroup::default()
        }],
        ..Job::default()
    }
}

pub fn with_type(mut job: Job, job_type: &str) -> Job {
    job.job_type = Some(job_type.into());
    job
}

/// Adds a group network with these dynamic port labels and static (label, port) pairs.
pub fn with_ports(mut job: Job, dynamic: &[&str], fixed: &[(&str, i64)]) -> Job {
    job.task_groups[0].networks = vec![NetworkResource {
        mode: "host".into(),
        dynamic_ports: dynamic
            .iter()
            .map(|l| Port {
                label: (*l).into(),
                to: 8080,
                ..Port::default()
            })
            .collect(),
        reserved_ports: fixed
            .iter()
            .map(|(l, p)| Port {
                label: (*l).into(),
                value: *p,
                ..Port::default()
            })
            .collect(),
        ..NetworkResource::default()
    }];
    job
}

pub fn resources(mut job: Job, cpu: i64, memory_mb: i64, cores: Option<i64>) -> Job {
    job.task_groups[0].tasks[0].resources = Some(Resources {
        cpu: Some(cpu),
        memory_mb: Some(memory_mb),
        cores,
        ..Resources::default()
    });
    job
}

/// Every allocation the plan places or updates.
pub fn placed(out: &Outcome) -> Vec<&Allocation> {
    out.plan.node_allocation.values().flatten().collect()
}

/// Every allocation id the plan stops.
pub fn stopped(out: &Outcome) -> Vec<&AllocId> {
    out.plan
        .node_update
        .values()
        .flatten()
        .map(|u| &u.alloc_id)
        .collect()
}
