//! The pause container: it holds a bridge-mode allocation's network namespace so
//! that the group's docker tasks can join it (`network_mode = "container:<id>"`), as
//! Kubernetes' pause container does. It runs `caravan/pause:latest` with docker's
//! `none` network: docker leaves its namespace alone, and caravan-net wires it
//! (veth, address, routes, port mappings) through `/proc/<pid>/ns/net`.
//!
//! It carries the same `caravan.alloc_id` and `caravan.node_id` labels as task
//! containers, so [`DockerDriver::reconcile`] removes the pause containers of
//! allocations that are gone along with their tasks' containers.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::CreateContainerOptions;
use caravan_model::{AllocId, DnsConfig};

use super::options::DockerOptions;
use super::{DockerDriver, LABEL_ALLOC_ID, LABEL_NODE_ID, api};
use crate::DriverError;

/// The image of every pause container (built by `scripts/build-images`).
pub const PAUSE_IMAGE: &str = "caravan/pause:latest";
/// The label that marks a pause container (its value is `"true"`).
pub const LABEL_PAUSE: &str = "caravan.pause";

/// A running pause container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseContainer {
    /// The container's id: what tasks join (`container:<id>`).
    pub id: String,
    /// Its process in the host's pid namespace.
    pub pid: u32,
}

impl PauseContainer {
    /// The network namespace the container holds.
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }
}

/// `pause-<alloc id>`, with what docker does not accept in a name replaced.
pub fn pause_name(alloc: &AllocId) -> String {
    let id: String = alloc
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("pause-{id}")
}

/// The create request for an allocation's pause container: no network of docker's,
/// no restart, labelled as the allocation's, with the group's `dns` block as its
/// `Dns`, `DnsSearch` and `DnsOptions`. Docker gives a container that joins another's
/// network that container's resolv.conf, so the group's docker tasks see these; what
/// the block leaves out Docker fills from the host's file, as caravan-net does for
/// the resolv.conf of raw_exec tasks.
pub(crate) fn pause_body(
    alloc: &AllocId,
    options: &DockerOptions,
    dns: Option<&DnsConfig>,
) -> ContainerCreateBody {
    let mut labels = HashMap::from([
        (LABEL_ALLOC_ID.to_owned(), alloc.as_str().to_owned()),
        (LABEL_PAUSE.to_owned(), "true".to_owned()),
    ]);
    if let Some(node) = &options.node_id {
        labels.insert(LABEL_NODE_ID.to_owned(), node.clone());
    }
    ContainerCreateBody {
        image: Some(PAUSE_IMAGE.to_owned()),
        labels: Some(labels),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        open_stdin: Some(false),
        host_config: Some(HostConfig {
            network_mode: Some("none".to_owned()),
            // It only sleeps: a few MB at most, and the smallest CPU share.
            memory: Some(32 * 1024 * 1024),
            cpu_shares: Some(2),
            dns: dns.and_then(|d| non_empty(&d.servers)),
            dns_search: dns.and_then(|d| non_empty(&d.searches)),
            dns_options: dns.and_then(|d| non_empty(&d.options)),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

/// `None` for an empty list: docker then uses the host's values.
fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

impl DockerDriver {
    /// Starts the allocation's pause container, or finds the one that already runs
    /// (the hook ran again, or the agent restarted): idempotent. A stopped one of the
    /// same name is replaced. `dns` is the group's `network { dns { ... } }`.
    pub async fn start_pause(
        &self,
        alloc: &AllocId,
        dns: Option<&DnsConfig>,
    ) -> Result<PauseContainer, DriverError> {
        let docker = self.daemon("reach the Docker Engine").await?;
        let name = pause_name(alloc);
        if let Some(running) = running_pause(&docker, &name, alloc).await? {
            return Ok(running);
        }
        api::remove_container(&docker, &name)
            .await
            .map_err(|e| daemon_error("remove a stopped pause container", &e))?;
        self.ensure_image(&docker, &name, PAUSE_IMAGE, false)
            .await
            .map_err(|e| DriverError::DockerDaemon {
                action: "find the pause image caravan/pause:latest (scripts/build-images makes it)",
                reason: e.to_string(),
            })?;
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..CreateContainerOptions::default()
        };
        let body = pause_body(alloc, &self.options, dns);
        let id = match docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Ok(created) => created.id,
            // Another start of the same allocation won the race: use its container.
            Err(e) if api::is_conflict(&e) => {
                return running_pause(&docker, &name, alloc)
                    .await?
                    .ok_or_else(|| daemon_error("create the pause container", &e));
            }
            Err(e) => return Err(daemon_error("create the pause container", &e)),
        };
        if let Err(e) = docker.start_container(&id, None).await {
            let _ = api::remove_container(&docker, &id).await;
            return Err(daemon_error("start the pause container", &e));
        }
        match running_pause(&docker, &id, alloc).await {
            Ok(Some(pause)) => Ok(pause),
            Ok(None) => {
                let _ = api::remove_container(&docker, &id).await;
                Err(DriverError::DockerDaemon {
                    action: "start the pause container",
                    reason: format!("container {name} exited right after its start"),
                })
            }
            Err(e) => {
                let _ = api::remove_container(&docker, &id).await;
                Err(e)
            }
        }
    }

    /// Removes the allocation's pause container; one that is not there is fine.
    pub async fn remove_pause(&self, alloc: &AllocId) -> Result<(), DriverError> {
        let docker = self.daemon("reach the Docker Engine").await?;
        api::remove_container(&docker, &pause_name(alloc))
            .await
            .map_err(|e| daemon_error("remove the pause container", &e))
    }

    async fn daemon(&self, action: &'static str) -> Result<Docker, DriverError> {
        self.engine
            .client()
            .await
            .map_err(|reason| DriverError::DockerDaemon { action, reason })
    }
}

/// The pause container `container` (a name or an id) if it runs and belongs to
/// `alloc`; `None` if it is absent or stopped. One of another allocation is an error:
/// it is never touched.
async fn running_pause(
    docker: &Docker,
    container: &str,
    alloc: &AllocId,
) -> Result<Option<PauseContainer>, DriverError> {
    let inspected = match docker.inspect_container(container, None).await {
        Ok(c) => c,
        Err(e) if api::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(daemon_error("inspect the pause container", &e)),
    };
    let owner = inspected
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(LABEL_ALLOC_ID))
        .cloned();
    if owner.as_deref() != Some(alloc.as_str()) {
        return Err(DriverError::DockerDaemon {
            action: "start the pause container",
            reason: format!(
                "container {container} exists and is not allocation {alloc}'s (its label {LABEL_ALLOC_ID} is {owner:?})"
            ),
        });
    }
    let state = inspected.state.unwrap_or_default();
    let pid = state
        .pid
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0);
    match (state.running, pid, inspected.id) {
        (Some(true), Some(pid), Some(id)) => Ok(Some(PauseContainer { id, pid })),
        _ => Ok(None),
    }
}

fn daemon_error(action: &'static str, e: &bollard::errors::Error) -> DriverError {
    DriverError::DockerDaemon {
        action,
        reason: api::reason(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_netns_path() {
        assert_eq!(
            pause_name(&AllocId::new("6b1f2c3d-aaaa")),
            "pause-6b1f2c3d-aaaa"
        );
        assert_eq!(pause_name(&AllocId::new("a/b c")), "pause-a_b_c");
        let pause = PauseContainer {
            id: "abc".into(),
            pid: 4242,
        };
        assert_eq!(pause.netns_path(), PathBuf::from("/proc/4242/ns/net"));
    }

    #[test]
    fn the_body_has_no_network_and_the_allocation_labels() {
        let options = DockerOptions {
            node_id: Some("node-1".into()),
            ..DockerOptions::default()
        };
        let body = pause_body(&AllocId::new("a1"), &options, None);
        assert_eq!(body.image.as_deref(), Some(PAUSE_IMAGE));
        let labels = body.labels.unwrap_or_default();
        assert_eq!(labels.get(LABEL_ALLOC_ID).map(String::as_str), Some("a1"));
        assert_eq!(
            labels.get(LABEL_NODE_ID).map(String::as_str),
            Some("node-1")
        );
        assert_eq!(labels.get(LABEL_PAUSE).map(String::as_str), Some("true"));
        let host = body.host_config.unwrap_or_default();
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert!(host.port_bindings.is_none());
        // Without a dns block docker uses the host's resolv.conf.
        assert_eq!(
            (host.dns, host.dns_search, host.dns_options),
            (None, None, None)
        );
    }

    #[test]
    fn the_groups_dns_block_becomes_the_pause_containers() {
        let dns = DnsConfig {
            servers: vec!["192.0.2.53".into(), "192.0.2.54".into()],
            searches: vec!["svc.example".into()],
            options: vec![],
        };
        let body = pause_body(&AllocId::new("a1"), &DockerOptions::default(), Some(&dns));
        let host = body.host_config.unwrap_or_default();
        assert_eq!(
            host.dns,
            Some(vec!["192.0.2.53".to_owned(), "192.0.2.54".to_owned()])
        );
        assert_eq!(host.dns_search, Some(vec!["svc.example".to_owned()]));
        // What the block leaves out stays docker's to fill from the host.
        assert_eq!(host.dns_options, None);
    }

    /// Against the local Docker Engine: skipped (with a line saying so) when none
    /// answers or the pause image was not built.
    #[tokio::test]
    async fn a_pause_container_is_reused_holds_a_netns_and_is_reconciled_away() {
        let node = format!("pausetest-node-{}", std::process::id());
        let driver = DockerDriver::new(DockerOptions {
            node_id: Some(node),
            ..DockerOptions::default()
        });
        let Ok(docker) = driver.engine.client().await else {
            eprintln!("skipped: no Docker Engine answers here");
            return;
        };
        if docker.inspect_image(PAUSE_IMAGE).await.is_err() {
            eprintln!("skipped: {PAUSE_IMAGE} is missing (scripts/build-images makes it)");
            return;
        }
        let alloc = AllocId::new(format!("pausetest-{}", std::process::id()));

        // Phase 1: started once; a second start finds the same container.
        let first = driver
            .start_pause(&alloc, None)
            .await
            .expect("start the pause");
        assert!(first.netns_path().exists(), "{first:?}");
        let again = driver.start_pause(&alloc, None).await.expect("start again");
        assert_eq!(first, again);

        // Phase 2: reconcile keeps it while its allocation exists, then removes it.
        let kept = driver
            .reconcile(|id| id == &alloc)
            .await
            .expect("reconcile");
        assert!(kept.is_empty(), "{kept:?}");
        let removed = driver.reconcile(|_| false).await.expect("reconcile");
        assert_eq!(removed, vec![first.id.clone()]);
        assert!(api::is_not_found(
            &docker
                .inspect_container(&first.id, None)
                .await
                .expect_err("removed")
        ));

        // Phase 3: removing what is gone is fine; a new start makes a new one.
        driver
            .remove_pause(&alloc)
            .await
            .expect("remove, none there");
        let fresh = driver.start_pause(&alloc, None).await.expect("start anew");
        assert_ne!(fresh.id, first.id);
        driver.remove_pause(&alloc).await.expect("remove");
        let left = driver.reconcile(|_| false).await.expect("reconcile");
        assert!(left.is_empty(), "{left:?}");
    }
}
