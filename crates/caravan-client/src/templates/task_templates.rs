//! A task's templates, compiled once: rendered against the task's
//! [`CatalogContext`], written into the task directory when their output changes,
//! and tracked against the catalog and KV caches so that only the templates whose
//! services or keys changed are rendered again.
//!
//! A template is written once every dependency has returned once (consul-template's
//! rule); [`TaskTemplates::render`] reports what is still missing, and the task may
//! start when nothing is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::catalog_context::{CatalogContext, watched_kv, watched_name};
use super::changes::TemplateChanges;
use super::destination::{Destination, parse_perms};
use super::error::TemplateError;
use crate::{KvInterest, KvPath, KvWatcher, ServiceInterest, ServiceName, ServiceWatcher, TaskEnv};
use caravan_model::{ChangeScript, Template as TemplateBlock};
use caravan_template::{Dependency, Template, TemplateOptions, env_file, render};

/// What a task's templates are rendered with.
#[derive(Debug, Clone)]
pub struct TemplateInputs {
    /// `<alloc_dir>/<task>`: destinations and sources are relative to it.
    pub task_dir: PathBuf,
    /// The task environment (without the agent's own variables), with node values.
    pub env: TaskEnv,
    /// The job's namespace, and the node's region and datacenter.
    pub namespace: String,
    pub region: String,
    pub datacenter: String,
    /// The node's catalog cache; `None`: catalog reads never return.
    pub catalog: Option<Arc<ServiceWatcher>>,
    /// The node's KV cache; `None`: KV reads never return.
    pub kv: Option<Arc<KvWatcher>>,
}

/// What a template does once its file changed (`change_mode`).
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeMode {
    Noop,
    Restart,
    Signal(String),
    Script(ChangeScript),
}

/// One compiled template.
#[derive(Debug)]
struct Compiled {
    block: TemplateBlock,
    template: Template,
    destination: Destination,
    mode: u32,
    /// The text last written, if any.
    written: Option<String>,
    /// The catalog entries it read, with their generation at the last render (`None`
    /// while missing).
    seen: BTreeMap<ServiceName, Option<u64>>,
    /// The KV keys and prefixes it read, likewise.
    seen_kv: BTreeMap<KvPath, Option<u64>>,
    /// Whether its last render was complete.
    complete: bool,
}

/// What a render did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderReport {
    /// The templates whose file was (re)written, by index in the task's list.
    pub changed: Vec<usize>,
    /// What the incomplete templates still wait for.
    pub missing: BTreeSet<Dependency>,
}

/// The templates of one task.
#[derive(Debug)]
pub struct TaskTemplates {
    templates: Vec<Compiled>,
    inputs: TemplateInputs,
    interest: Option<ServiceInterest>,
    kv_interest: Option<KvInterest>,
}

impl TaskTemplates {
    /// Compiles `blocks`: a syntax error (with its line), a destination or source
    /// outside the task directory, or bad perms fail here, before anything is
    /// rendered.
    pub fn new(blocks: &[TemplateBlock], inputs: TemplateInputs) -> Result<Self, TemplateError> {
        let templates = blocks
            .iter()
            .map(|block| compile(block, &inputs.task_dir, &inputs.env))
            .collect::<Result<Vec<_>, _>>()?;
        let interest = inputs.catalog.as_ref().map(|c| c.interest());
        let kv_interest = inputs.kv.as_ref().map(|kv| kv.interest());
        Ok(Self {
            templates,
            inputs,
            interest,
            kv_interest,
        })
    }

    /// Takes the files already in place (written by an agent that has restarted
    /// since; the running task reads them) as what was last written, so the next
    /// render reports only the templates whose output differs from them.
    pub fn adopt_written(&mut self) {
        for t in &mut self.templates {
            t.written = std::fs::read_to_string(t.destination.path()).ok();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// Sees every change of the catalog and KV caches; `None` without either.
    pub fn subscribe(&self) -> Option<TemplateChanges> {
        TemplateChanges::new(
            self.inputs.catalog.as_ref().map(|c| c.subscribe()),
            self.inputs.kv.as_ref().map(|kv| kv.subscribe()),
        )
    }

    /// Whether some template must be rendered again: it is incomplete, or a
    /// catalog or KV entry it read changed since. `once` templates, once written,
    /// never are.
    pub fn stale(&self) -> Vec<usize> {
        (0..self.templates.len())
            .filter(|i| self.is_stale(*i))
            .collect()
    }

    fn is_stale(&self, i: usize) -> bool {
        let t = &self.templates[i];
        if !t.complete {
            return true;
        }
        if t.block.once == Some(true) {
            return false;
        }
        let catalog = self.inputs.catalog.as_deref();
        let kv = self.inputs.kv.as_deref();
        let services_moved = t
            .seen
            .iter()
            .any(|(name, generation)| catalog.is_some_and(|c| c.generation(name) != *generation));
        let keys_moved = t
            .seen_kv
            .iter()
            .any(|(path, generation)| kv.is_some_and(|kv| kv.generation(path) != *generation));
        services_moved || keys_moved
    }

    /// Renders the stale templates, writes the complete ones whose output changed,
    /// and watches what they read.
    pub fn render(&mut self) -> Result<RenderReport, TemplateError> {
        let mut report = RenderReport::default();
        let stale = self.stale();
        for i in stale {
            let ctx = CatalogContext {
                env: &self.inputs.env,
                namespace: &self.inputs.namespace,
                region: &self.inputs.region,
                datacenter: &self.inputs.datacenter,
                catalog: self.inputs.catalog.as_deref(),
                kv: self.inputs.kv.as_deref(),
            };
            let namespace = &self.inputs.namespace;
            let datacenter = &self.inputs.datacenter;
            let catalog = self.inputs.catalog.as_deref();
            let kv = self.inputs.kv.as_deref();
            let t = &mut self.templates[i];
            let rendered = render(&t.template, &ctx)?;
            t.seen = rendered
                .dependencies
                .iter()
                .filter_map(|d| watched_name(d, namespace))
                .map(|name| {
                    let generation = catalog.and_then(|c| c.generation(&name));
                    (name, generation)
                })
                .collect();
            t.seen_kv = rendered
                .dependencies
                .iter()
                .filter_map(|d| watched_kv(d, datacenter))
                .map(|path| {
                    let generation = kv.and_then(|kv| kv.generation(&path));
                    (path, generation)
                })
                .collect();
            t.complete = rendered.is_complete();
            if !t.complete {
                report.missing.extend(rendered.missing);
                continue;
            }
            if t.written.as_deref() != Some(rendered.text.as_str()) {
                t.destination.write(&rendered.text, t.mode)?;
                t.written = Some(rendered.text);
                report.changed.push(i);
            }
        }
        self.watch_what_is_read();
        Ok(report)
    }

    /// Keeps the catalog and KV caches watching exactly what the templates read.
    fn watch_what_is_read(&mut self) {
        if let Some(interest) = &mut self.interest {
            let names: BTreeSet<ServiceName> = self
                .templates
                .iter()
                .flat_map(|t| t.seen.keys().cloned())
                .collect();
            interest.set(names);
        }
        if let Some(interest) = &mut self.kv_interest {
            let paths: BTreeSet<KvPath> = self
                .templates
                .iter()
                .flat_map(|t| t.seen_kv.keys().cloned())
                .collect();
            interest.set(paths);
        }
    }

    /// The variables of the `env = true` templates, in the job's order (a later
    /// template wins).
    pub fn env(&self) -> Result<BTreeMap<String, String>, TemplateError> {
        let mut env = BTreeMap::new();
        for t in &self.templates {
            if t.block.envvars != Some(true) {
                continue;
            }
            let Some(text) = &t.written else {
                continue;
            };
            let vars = env_file::parse(text).map_err(|source| TemplateError::Env {
                destination: destination_of(&t.block).to_owned(),
                source,
            })?;
            env.extend(vars);
        }
        Ok(env)
    }

    /// The `change_mode` of template `i`.
    pub fn change_mode(&self, i: usize) -> ChangeMode {
        let block = &self.templates[i].block;
        match block.change_mode.as_deref() {
            Some("noop") => ChangeMode::Noop,
            Some("signal") => ChangeMode::Signal(
                block
                    .change_signal
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "SIGHUP".to_owned()),
            ),
            Some("script") => match &block.change_script {
                Some(script) => ChangeMode::Script(script.clone()),
                None => ChangeMode::Noop,
            },
            _ => ChangeMode::Restart,
        }
    }

    /// The longest `splay` of templates `changed`.
    pub fn splay(&self, changed: &[usize]) -> Duration {
        changed
            .iter()
            .filter_map(|i| self.templates[*i].block.splay)
            .map(|d| d.to_std())
            .max()
            .unwrap_or_default()
    }

    /// The quiescence bounds (`wait { min max }`) of templates `which`: the longest
    /// of each; a `max` below `min` is `min`.
    pub fn wait_bounds(&self, which: &[usize]) -> (Duration, Duration) {
        let mut min = Duration::ZERO;
        let mut max = Duration::ZERO;
        for i in which {
            if let Some(wait) = &self.templates[*i].block.wait {
                min = min.max(wait.min.map(|d| d.to_std()).unwrap_or_default());
                max = max.max(wait.max.map(|d| d.to_std()).unwrap_or_default());
            }
        }
        (min, max.max(min))
    }

    /// The destination of template `i`, as the job wrote it.
    pub fn destination(&self, i: usize) -> &str {
        destination_of(&self.templates[i].block)
    }

    /// The task directory the templates write into.
    pub fn task_dir(&self) -> &Path {
        &self.inputs.task_dir
    }
}

fn destination_of(block: &TemplateBlock) -> &str {
    block.dest_path.as_deref().unwrap_or_default()
}

/// A path of the job interpolated with the task environment, the directory
/// variables read as the directories they name (not as host paths).
fn interpolate_path(env: &TaskEnv, path: &str) -> String {
    env.interpolate(
        &path
            .replace("${NOMAD_TASK_DIR}", "local")
            .replace("${NOMAD_SECRETS_DIR}", "secrets")
            .replace("${NOMAD_ALLOC_DIR}", "../alloc"),
    )
}

fn compile(
    block: &TemplateBlock,
    task_dir: &Path,
    env: &TaskEnv,
) -> Result<Compiled, TemplateError> {
    let dest = block
        .dest_path
        .as_deref()
        .filter(|d| !d.is_empty())
        .ok_or(TemplateError::NoDestination)?;
    let destination = Destination::resolve(task_dir, &interpolate_path(env, dest), "destination")?;
    let text = match (
        block.embedded_tmpl.as_deref().filter(|t| !t.is_empty()),
        block.source_path.as_deref().filter(|s| !s.is_empty()),
    ) {
        (Some(data), _) => data.to_owned(),
        (None, Some(source)) => {
            let path = Destination::resolve(task_dir, &interpolate_path(env, source), "source")?;
            std::fs::read_to_string(path.path()).map_err(|e| TemplateError::Source {
                path: path.path().to_path_buf(),
                source: e,
            })?
        }
        // Nomad renders an empty template as an empty file.
        (None, None) if block.embedded_tmpl.is_some() => String::new(),
        (None, None) => return Err(TemplateError::NoContent),
    };
    let options = TemplateOptions::default()
        .delims(
            block.left_delim.as_deref().unwrap_or_default(),
            block.right_delim.as_deref().unwrap_or_default(),
        )
        .error_on_missing_key(block.err_missing_key == Some(true));
    let template = Template::parse_with(dest, &text, &options)?;
    let mode = parse_perms(block.perms.as_deref().unwrap_or("0644"))?;
    Ok(Compiled {
        block: block.clone(),
        template,
        destination,
        mode,
        written: None,
        seen: BTreeMap::new(),
        seen_kv: BTreeMap::new(),
        complete: false,
    })
}
