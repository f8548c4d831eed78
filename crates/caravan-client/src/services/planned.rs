//! What an allocation advertises, worked out once its network is set up: one
//! [`PlannedService`] per `service` block (group and task level), with its
//! registration (id, interpolated name, tags and meta, address) and its checks (each
//! with the address it connects to). Pure: which of them are registered at a given
//! moment, and with what health, is the registrar's business.

use std::collections::BTreeMap;
use std::path::Path;

use caravan_model::{
    AllocNetworkStatus, Allocation, Job, Node, Service, ServiceCheck, ServiceProvider,
    ServiceRegistration, Task, TaskGroup,
};

use super::address::AddressInputs;
use crate::context::driver_isolates_fs;
use crate::taskenv::group_ports;
use crate::{TaskEnv, TaskEnvInputs};

/// What services are planned from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInputs<'a> {
    pub alloc: &'a Allocation,
    pub job: &'a Job,
    pub group: &'a TaskGroup,
    pub node: &'a Node,
    /// The agent's region.
    pub region: &'a str,
    /// The allocation directory on the host.
    pub alloc_dir: &'a Path,
    /// The allocation's own network, in bridge mode.
    pub network_status: Option<&'a AllocNetworkStatus>,
}

/// One check of a planned service.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCheck {
    /// Stable per registration and check name ([`ServiceRegistration::check_id`]).
    pub id: String,
    /// The check block, with its name filled in (Nomad's default when unset).
    pub check: ServiceCheck,
    /// The task it runs in or restarts; empty for a group service without `task`.
    pub task: String,
    /// Where it connects (http, tcp, grpc), or why that could not be worked out;
    /// `Ok(None)` for script checks.
    pub address: Result<Option<(String, u16)>, String>,
}

/// One `service` block of the allocation, ready to register.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedService {
    /// The registration, without health and check results.
    pub registration: ServiceRegistration,
    /// The task whose running makes it advertised; `None` for a group service,
    /// advertised while any task of the group runs.
    pub task: Option<String>,
    pub checks: Vec<PlannedCheck>,
}

impl PlannedService {
    /// Whether it is advertised while `running` tasks run.
    pub fn active(&self, running: &[&str]) -> bool {
        match &self.task {
            Some(task) => running.contains(&task.as_str()),
            None => !running.is_empty(),
        }
    }
}

/// Plans every service of the allocation; a service that cannot be advertised (a
/// port that is neither a label nor a number, `alloc` mode without a network of its
/// own) is left out, with the reason in the second list.
pub fn plan_services(inputs: &PlanInputs<'_>) -> (Vec<PlannedService>, Vec<String>) {
    let ports = group_ports(inputs.alloc, inputs.node);
    let node_address = inputs
        .node
        .node_resources
        .networks
        .first()
        .map_or("", |n| n.ip.as_str());
    let addresses = AddressInputs {
        ports: &ports,
        node_address,
        network_status: inputs.network_status,
    };
    let mut planned = Vec::new();
    let mut refused = Vec::new();
    let mut plan = |service: &Service, task: Option<&Task>, env: &TaskEnv| match plan_one(
        inputs, &addresses, service, task, env,
    ) {
        Ok(p) => planned.push(p),
        Err(reason) => refused.push(reason),
    };
    // A group service reads the environment of the group's first task, as the name
    // and tags of a group service rarely use a task's own variables.
    if let Some(first) = inputs.group.tasks.first() {
        let env = task_env(inputs, first);
        for service in &inputs.group.services {
            plan(service, None, &env);
        }
    }
    for task in &inputs.group.tasks {
        if task.services.is_empty() {
            continue;
        }
        let env = task_env(inputs, task);
        for service in &task.services {
            plan(service, Some(task), &env);
        }
    }
    (planned, refused)
}

/// The environment names and tags are interpolated with: the task's, without the
/// agent's own variables.
fn task_env(inputs: &PlanInputs<'_>, task: &Task) -> TaskEnv {
    let mut env = TaskEnvInputs::new(
        inputs.alloc,
        inputs.job,
        inputs.group,
        task,
        inputs.node,
        inputs.alloc_dir,
    );
    env.region = inputs.region;
    env.isolated = driver_isolates_fs(&task.driver);
    env.network_status = inputs.network_status;
    TaskEnv::build(&env)
}

fn plan_one(
    inputs: &PlanInputs<'_>,
    addresses: &AddressInputs<'_>,
    service: &Service,
    task: Option<&Task>,
    env: &TaskEnv,
) -> Result<PlannedService, String> {
    let alloc = inputs.alloc;
    let group = &inputs.group.name;
    let job = &inputs.job.id;
    let task_name = task.map_or("", |t| t.name.as_str());
    // Nomad's extra keys for service names: ${JOB}, ${TASKGROUP}, ${TASK}, ${BASE}.
    let base = format!("{job}-{group}-{task_name}");
    let name = env.interpolate(
        &service
            .name
            .replace("${JOB}", job.as_str())
            .replace("${TASKGROUP}", group)
            .replace("${TASK}", task_name)
            .replace("${BASE}", &base),
    );
    let label = env.interpolate(&service.port_label);
    let id = match task {
        Some(t) => ServiceRegistration::task_service_id(&alloc.id, &t.name, &name, &label),
        None => ServiceRegistration::group_service_id(&alloc.id, group, &name, &label),
    };
    let custom_address = env.interpolate(&service.address);
    let (address, port) = addresses
        .service(&service.address_mode, &custom_address, &label)
        .map_err(|e| format!("service {name:?}: {e}"))?;
    let namespace = if alloc.namespace.is_empty() {
        "default"
    } else {
        alloc.namespace.as_str()
    };
    let provider = if service.provider() == "nomad" {
        ServiceProvider::Nomad
    } else {
        ServiceProvider::Consul
    };
    let meta: BTreeMap<String, String> = service
        .meta
        .iter()
        .map(|(k, v)| (k.clone(), env.interpolate(v)))
        .collect();
    let registration = ServiceRegistration {
        id,
        service_name: name.clone(),
        namespace: namespace.to_owned(),
        node_id: inputs.node.id.clone(),
        datacenter: inputs.node.datacenter.clone(),
        job_id: alloc.job_id.clone(),
        alloc_id: alloc.id.clone(),
        tags: service.tags.iter().map(|t| env.interpolate(t)).collect(),
        address,
        port,
        provider,
        meta,
        ..ServiceRegistration::default()
    };
    let check_task = match task {
        Some(t) => t.name.clone(),
        None => service.task_name.clone(),
    };
    let checks = service
        .checks
        .iter()
        .map(|check| {
            let mut check = check.clone();
            if check.name.is_empty() {
                check.name = format!("service: {name:?} check");
            }
            check.name = env.interpolate(&check.name);
            check.path = env.interpolate(&check.path);
            let address = if check.check_type == "script" {
                Ok(None)
            } else {
                addresses
                    .check(
                        &check.address_mode,
                        &env.interpolate(&check.port_label),
                        &service.address_mode,
                        &custom_address,
                        &label,
                    )
                    .map(Some)
                    .map_err(|e| format!("check {:?} of service {name:?}: {e}", check.name))
            };
            let task = if check.task_name.is_empty() {
                check_task.clone()
            } else {
                check.task_name.clone()
            };
            PlannedCheck {
                id: registration.check_id(&check.name),
                check,
                task,
                address,
            }
        })
        .collect();
    Ok(PlannedService {
        registration,
        task: task.map(|t| t.name.clone()),
        checks,
    })
}

#[cfg(test)]
mod tests {
    use caravan_model::{AllocId, AllocatedPortMapping, NodeId, NodeNetwork};

    use super::*;

    fn service(name: &str, port: &str) -> Service {
        Service {
            name: name.into(),
            port_label: port.into(),
            provider: "nomad".into(),
            address_mode: "auto".into(),
            ..Service::default()
        }
    }

    struct Fixture {
        alloc: Allocation,
        job: Job,
        node: Node,
    }

    fn fixture() -> Fixture {
        let mut web = Task {
            name: "web".into(),
            driver: "raw_exec".into(),
            ..Task::default()
        };
        let mut api = service("api-${NOMAD_ALLOC_INDEX}", "http");
        api.tags = vec!["v1".into(), "${node.datacenter}".into()];
        web.services = vec![api];
        let group = TaskGroup {
            name: "app".into(),
            tasks: vec![web],
            services: vec![service("${JOB}-front", "http"), service("raw", "9000")],
            ..TaskGroup::default()
        };
        let job = Job {
            id: "shop".into(),
            name: "shop".into(),
            task_groups: vec![group],
            ..Job::default()
        };
        let mut alloc = Allocation {
            id: AllocId::new("a1b2"),
            name: "shop.app[3]".into(),
            job_id: "shop".into(),
            task_group: "app".into(),
            ..Allocation::default()
        };
        alloc.allocated_resources.shared.ports = vec![AllocatedPortMapping {
            label: "http".into(),
            value: 23456,
            to: 0,
            host_ip: "10.0.0.5".into(),
        }];
        let mut node = Node {
            id: NodeId::new("n1"),
            datacenter: "dc7".into(),
            ..Node::default()
        };
        node.node_resources.networks = vec![NodeNetwork {
            ip: "10.0.0.9".into(),
            ..NodeNetwork::default()
        }];
        Fixture { alloc, job, node }
    }

    fn plan(f: &Fixture) -> (Vec<PlannedService>, Vec<String>) {
        plan_services(&PlanInputs {
            alloc: &f.alloc,
            job: &f.job,
            group: &f.job.task_groups[0],
            node: &f.node,
            region: "global",
            alloc_dir: Path::new("/tmp/a1b2"),
            network_status: None,
        })
    }

    #[test]
    fn ids_names_tags_and_addresses() {
        let f = fixture();
        let (planned, refused) = plan(&f);
        assert!(refused.is_empty(), "{refused:?}");
        let regs: Vec<&ServiceRegistration> = planned.iter().map(|p| &p.registration).collect();
        assert_eq!(regs.len(), 3);
        assert_eq!(regs[0].id, "_nomad-task-a1b2-group-app-shop-front-http");
        assert_eq!(regs[0].service_name, "shop-front");
        assert_eq!(
            (regs[0].address.as_str(), regs[0].port),
            ("10.0.0.5", 23456)
        );
        assert_eq!(regs[1].id, "_nomad-task-a1b2-group-app-raw-9000");
        assert_eq!((regs[1].address.as_str(), regs[1].port), ("10.0.0.9", 9000));
        assert_eq!(regs[2].id, "_nomad-task-a1b2-web-api-3-http");
        assert_eq!(regs[2].tags, ["v1", "dc7"]);
        assert_eq!(regs[2].namespace, "default");
        assert_eq!(regs[2].node_id.as_str(), "n1");
        assert_eq!(regs[2].provider, ServiceProvider::Nomad);
        assert_eq!(planned[0].task, None);
        assert_eq!(planned[2].task.as_deref(), Some("web"));
        assert!(planned[2].active(&["web"]));
        assert!(!planned[2].active(&["other"]));
        assert!(planned[0].active(&["other"]));
        assert!(!planned[0].active(&[]));
    }

    #[test]
    fn a_service_without_an_address_is_refused_with_its_reason() {
        let mut f = fixture();
        f.job.task_groups[0].services[0].address_mode = "alloc".into();
        let (planned, refused) = plan(&f);
        assert_eq!(planned.len(), 2);
        assert_eq!(refused.len(), 1);
        assert!(refused[0].contains("shop-front"), "{refused:?}");
        assert!(refused[0].contains("address_mode \"alloc\""), "{refused:?}");
    }

    #[test]
    fn checks_get_a_default_name_an_address_and_a_stable_id() {
        let mut f = fixture();
        f.job.task_groups[0].tasks[0].services[0].checks = vec![
            ServiceCheck {
                check_type: "http".into(),
                path: "/health".into(),
                ..ServiceCheck::default()
            },
            ServiceCheck {
                name: "script".into(),
                check_type: "script".into(),
                command: "true".into(),
                ..ServiceCheck::default()
            },
        ];
        let (planned, _) = plan(&f);
        let checks = &planned[2].checks;
        assert_eq!(checks[0].check.name, "service: \"api-3\" check");
        assert_eq!(checks[0].address, Ok(Some(("10.0.0.5".into(), 23456))));
        assert_eq!(checks[0].task, "web");
        assert_eq!(checks[1].address, Ok(None));
        assert_eq!(
            checks[0].id,
            planned[2].registration.check_id("service: \"api-3\" check")
        );
        assert_ne!(checks[0].id, checks[1].id);
    }
}
