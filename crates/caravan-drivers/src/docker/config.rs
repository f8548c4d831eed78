//! The docker driver's `config { ... }`, with the keys and shapes of Nomad's.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fields::Fields;
use super::mount::MountConfig;
use crate::DriverError;

/// The keys the docker driver reads from a task's driver config; unknown keys are
/// ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    /// The image to run, e.g. `redis:7`.
    pub image: String,
    /// Pull the image even when it is present.
    pub force_pull: bool,
    /// The program to run instead of the image's `CMD`; `args` follow it.
    pub command: Option<String>,
    pub args: Vec<String>,
    /// Replaces the image's `ENTRYPOINT`.
    pub entrypoint: Option<Vec<String>>,
    /// Port labels of the group's network to publish.
    pub ports: Vec<String>,
    /// `host`, `bridge`, `none`, `container:<id>` or a user-defined network.
    pub network_mode: Option<String>,
    /// `host:container[:mode]`.
    pub volumes: Vec<String>,
    pub mounts: Vec<MountConfig>,
    pub labels: BTreeMap<String, String>,
    pub work_dir: Option<String>,
    pub hostname: Option<String>,
    pub dns_servers: Vec<String>,
    pub dns_search_domains: Vec<String>,
    pub dns_options: Vec<String>,
    /// `host:ip` entries for `/etc/hosts`.
    pub extra_hosts: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// Runs docker's init (tini) as pid 1, which forwards signals and reaps zombies.
    pub init: bool,
    /// Resource limits by name (`nofile`), as `soft:hard` or one number for both.
    pub ulimits: BTreeMap<String, (i64, i64)>,
}

impl DockerConfig {
    /// Reads the config of `task`.
    pub fn parse(task: &str, config: &BTreeMap<String, Value>) -> Result<Self, DriverError> {
        let map: Map<String, Value> = config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let f = Fields::new(task, "", &map);
        let image = f
            .string("image")?
            .ok_or_else(|| DriverError::MissingConfig {
                task: task.to_owned(),
                key: "image",
            })?;
        if image.trim() != image || image.contains(char::is_whitespace) {
            return Err(f.invalid("image", format!("{image:?} is not an image name")));
        }
        let entrypoint = if f.has("entrypoint") {
            Some(f.strings("entrypoint")?)
        } else {
            None
        };
        let network_mode = f.string("network_mode")?;
        if let Some(mode) = &network_mode
            && mode.strip_prefix("container:").is_some_and(str::is_empty)
        {
            return Err(f.invalid("network_mode", "container: needs a container id or name"));
        }
        let mounts = f
            .blocks("mount")?
            .into_iter()
            .enumerate()
            .map(|(i, block)| MountConfig::parse(task, i, block))
            .collect::<Result<_, _>>()?;
        let mut ulimits = BTreeMap::new();
        for (name, value) in f.string_map("ulimit")? {
            let limits = parse_ulimit(&value).ok_or_else(|| {
                f.invalid("ulimit", format!("{name} = {value:?} is not \"soft:hard\""))
            })?;
            ulimits.insert(name, limits);
        }
        Ok(Self {
            image,
            force_pull: f.bool("force_pull")?,
            command: f.string("command")?,
            args: f.strings("args")?,
            entrypoint,
            ports: f.strings("ports")?,
            network_mode,
            volumes: f.strings("volumes")?,
            mounts,
            labels: f.string_map("labels")?,
            work_dir: f.string("work_dir")?,
            hostname: f.string("hostname")?,
            dns_servers: f.strings("dns_servers")?,
            dns_search_domains: f.strings("dns_search_domains")?,
            dns_options: f.strings("dns_options")?,
            extra_hosts: f.strings("extra_hosts")?,
            cap_add: f.strings("cap_add")?,
            cap_drop: f.strings("cap_drop")?,
            privileged: f.bool("privileged")?,
            init: f.bool("init")?,
            ulimits,
        })
    }

    /// The container's `Cmd`: `command` then `args`, or `args` alone, or the image's.
    pub fn cmd(&self) -> Option<Vec<String>> {
        match &self.command {
            Some(command) => Some(
                std::iter::once(command.clone())
                    .chain(self.args.iter().cloned())
                    .collect(),
            ),
            None if !self.args.is_empty() => Some(self.args.clone()),
            None => None,
        }
    }
}

/// `"1024"` or `"1024:2048"`.
fn parse_ulimit(value: &str) -> Option<(i64, i64)> {
    let (soft, hard) = value.split_once(':').unwrap_or((value, value));
    let soft: i64 = soft.trim().parse().ok()?;
    let hard: i64 = hard.trim().parse().ok()?;
    (soft >= 0 && soft <= hard).then_some((soft, hard))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).expect("config object")
    }

    #[test]
    fn reads_a_seed_config() -> Result<(), DriverError> {
        let c = DockerConfig::parse(
            "redis",
            &config(json!({"image": "redis:7", "ports": ["redis"], "network_mode": "host"})),
        )?;
        assert_eq!(c.image, "redis:7");
        assert_eq!(c.ports, ["redis"]);
        assert_eq!(c.network_mode.as_deref(), Some("host"));
        assert_eq!(c.cmd(), None);
        assert_eq!(c.entrypoint, None);
        Ok(())
    }

    #[test]
    fn reads_every_key() -> Result<(), DriverError> {
        let c = DockerConfig::parse(
            "t",
            &config(json!({
                "image": "app:1", "command": "/bin/app", "args": ["-p", 80],
                "entrypoint": [], "volumes": ["local/a:/a:ro"],
                "mount": {"type": "tmpfs", "target": "/t"},
                "labels": [{"team": "x"}], "work_dir": "/w", "hostname": "h",
                "dns_servers": ["1.1.1.1"], "extra_hosts": ["db:10.0.0.1"],
                "cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"], "privileged": "false",
                "init": true, "force_pull": false,
                "ulimit": {"nofile": "1024:2048", "nproc": 64},
                "unknown_key": {"ignored": true},
            })),
        )?;
        assert_eq!(
            c.cmd(),
            Some(vec!["/bin/app".into(), "-p".into(), "80".into()])
        );
        assert_eq!(c.entrypoint, Some(vec![]));
        assert_eq!(c.mounts.len(), 1);
        assert_eq!(c.labels.get("team").map(String::as_str), Some("x"));
        assert_eq!(
            c.ulimits,
            BTreeMap::from([("nofile".into(), (1024, 2048)), ("nproc".into(), (64, 64))])
        );
        assert!(c.init && !c.privileged);
        Ok(())
    }

    #[test]
    fn two_mount_blocks_are_an_array() -> Result<(), DriverError> {
        let c = DockerConfig::parse(
            "t",
            &config(json!({"image": "x", "mount": [
                {"type": "tmpfs", "target": "/a"}, {"type": "volume", "source": "v", "target": "/b"},
            ]})),
        )?;
        assert_eq!(c.mounts.len(), 2);
        Ok(())
    }

    #[test]
    fn args_without_command_replace_cmd() -> Result<(), DriverError> {
        let c = DockerConfig::parse("t", &config(json!({"image": "x", "args": ["--flag"]})))?;
        assert_eq!(c.cmd(), Some(vec!["--flag".into()]));
        Ok(())
    }

    #[test]
    fn a_missing_image_names_the_task() {
        let err = DockerConfig::parse("web", &config(json!({"command": "x"}))).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("task \"web\": driver config is missing the required key `image`")
        );
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        for bad in [
            json!({"image": 3.5, "ports": "redis"}),
            json!({"image": "x", "ports": "redis"}),
            json!({"image": "a b"}),
            json!({"image": "x", "network_mode": "container:"}),
            json!({"image": "x", "ulimit": {"nofile": "a:b"}}),
            json!({"image": "x", "ulimit": {"nofile": "10:5"}}),
            json!({"image": "x", "privileged": "maybe"}),
            json!({"image": "x", "mount": ["x"]}),
        ] {
            assert!(
                DockerConfig::parse("t", &config(bad.clone())).is_err(),
                "{bad}"
            );
        }
    }
}
