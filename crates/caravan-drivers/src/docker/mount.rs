//! One `mount { ... }` block of a docker task's config, as Nomad's docker driver
//! reads it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fields::Fields;
use crate::DriverError;

/// What a mount brings into the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A host path (relative paths are in the task directory).
    Bind,
    /// A named docker volume.
    Volume,
    /// A fresh tmpfs.
    Tmpfs,
}

/// A `mount` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountConfig {
    pub kind: MountKind,
    /// The path inside the container.
    pub target: String,
    /// The host path (bind) or volume name (volume); empty for tmpfs.
    pub source: String,
    pub readonly: bool,
    /// `bind_options { propagation }`.
    pub propagation: Option<String>,
    /// `volume_options { no_copy }`.
    pub no_copy: bool,
    /// `volume_options { labels }`.
    pub volume_labels: BTreeMap<String, String>,
    /// `volume_options { driver_config { name options } }`.
    pub volume_driver: Option<String>,
    pub volume_driver_options: BTreeMap<String, String>,
    /// `tmpfs_options { size }`, in bytes.
    pub tmpfs_size: Option<i64>,
    /// `tmpfs_options { mode }`, the permission bits.
    pub tmpfs_mode: Option<i64>,
}

impl MountConfig {
    /// Reads the `index`th mount block of `task`.
    pub fn parse(
        task: &str,
        index: usize,
        block: &Map<String, Value>,
    ) -> Result<Self, DriverError> {
        let path = format!("mount[{index}].");
        let f = Fields::new(task, &path, block);
        let kind = match f.string("type")?.as_deref() {
            // Nomad's default.
            None | Some("volume") => MountKind::Volume,
            Some("bind") => MountKind::Bind,
            Some("tmpfs") => MountKind::Tmpfs,
            Some(other) => {
                return Err(f.invalid("type", format!("{other:?} is not bind, volume or tmpfs")));
            }
        };
        let target = f
            .string("target")?
            .ok_or_else(|| f.invalid("target", "is required"))?;
        if !target.starts_with('/') {
            return Err(f.invalid("target", format!("{target:?} is not an absolute path")));
        }
        let source = f.string("source")?.unwrap_or_default();
        if source.is_empty() && kind == MountKind::Bind {
            return Err(f.invalid("source", "is required for a bind mount"));
        }
        let mut mount = Self {
            kind,
            target,
            source,
            readonly: f.bool("readonly")?,
            propagation: None,
            no_copy: false,
            volume_labels: BTreeMap::new(),
            volume_driver: None,
            volume_driver_options: BTreeMap::new(),
            tmpfs_size: None,
            tmpfs_mode: None,
        };
        if let Some(bind) = f.block("bind_options")? {
            let path = format!("{path}bind_options.");
            mount.propagation = Fields::new(task, &path, bind).string("propagation")?;
        }
        if let Some(volume) = f.block("volume_options")? {
            let path = format!("{path}volume_options.");
            let v = Fields::new(task, &path, volume);
            mount.no_copy = v.bool("no_copy")?;
            mount.volume_labels = v.string_map("labels")?;
            if let Some(driver) = v.block("driver_config")? {
                let path = format!("{path}driver_config.");
                let d = Fields::new(task, &path, driver);
                mount.volume_driver = d.string("name")?;
                mount.volume_driver_options = d.string_map("options")?;
            }
        }
        if let Some(tmpfs) = f.block("tmpfs_options")? {
            let path = format!("{path}tmpfs_options.");
            let t = Fields::new(task, &path, tmpfs);
            mount.tmpfs_size = t.int("size")?;
            mount.tmpfs_mode = t.int("mode")?;
        }
        Ok(mount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<MountConfig, DriverError> {
        match v {
            Value::Object(m) => MountConfig::parse("t", 0, &m),
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn reads_every_kind_with_options() -> Result<(), DriverError> {
        let bind = parse(json!({
            "type": "bind", "source": "local/conf", "target": "/etc/app", "readonly": true,
            "bind_options": [{"propagation": "rshared"}],
        }))?;
        assert_eq!(bind.kind, MountKind::Bind);
        assert!(bind.readonly);
        assert_eq!(bind.propagation.as_deref(), Some("rshared"));

        let volume = parse(json!({
            "source": "data", "target": "/data",
            "volume_options": {"no_copy": "true", "labels": {"a": "b"},
                "driver_config": {"name": "local", "options": [{"type": "tmpfs"}]}},
        }))?;
        assert_eq!(volume.kind, MountKind::Volume);
        assert!(volume.no_copy);
        assert_eq!(volume.volume_driver.as_deref(), Some("local"));
        assert_eq!(volume.volume_driver_options.len(), 1);

        let tmpfs = parse(json!({
            "type": "tmpfs", "target": "/scratch",
            "tmpfs_options": {"size": 100000, "mode": "1023"},
        }))?;
        assert_eq!(
            (tmpfs.tmpfs_size, tmpfs.tmpfs_mode),
            (Some(100000), Some(1023))
        );
        Ok(())
    }

    #[test]
    fn refuses_incomplete_mounts() {
        assert!(parse(json!({"type": "bind", "target": "/x"})).is_err());
        assert!(parse(json!({"type": "tmpfs"})).is_err());
        assert!(parse(json!({"type": "tmpfs", "target": "rel"})).is_err());
        let err = parse(json!({"type": "nfs", "target": "/x"}))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "task \"t\": driver config key `mount[0].type` is invalid: \"nfs\" is not bind, volume or tmpfs"
            )
        );
    }
}
