//! The state one render shares with the template functions.
//!
//! gotmpl's functions are `'static` closures, so they cannot borrow the caller's
//! `&dyn Context`. Instead they read answers from an [`Exchange`] and note what they
//! asked for; [`render`](crate::render) runs the template, asks the context the
//! questions left unanswered, and runs it again until no question is left.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use gotmpl::Value;

use crate::{Context, Dependency, KeyPair, Missing, value};

/// One answer of the context, already in the shape the function returns.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// The data has not arrived yet.
    Missing,
    /// A listing or a set of instances, filtered and sorted.
    Value(Value),
    /// One KV entry (`None`: it does not exist).
    Key(Option<String>),
    /// The entries under a prefix.
    Pairs(Vec<KeyPair>),
}

/// Answers collected during one render, and the questions of the current pass.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    answers: BTreeMap<Dependency, Answer>,
    env: BTreeMap<String, Option<String>>,
    pending: BTreeSet<Dependency>,
    pending_env: BTreeSet<String>,
    touched: BTreeSet<Dependency>,
    missing: BTreeSet<Dependency>,
}

/// What a pass left: the touched and missing dependencies of its execution.
#[derive(Debug)]
pub(crate) struct PassOutcome {
    pub(crate) touched: BTreeSet<Dependency>,
    pub(crate) missing: BTreeSet<Dependency>,
}

impl Exchange {
    /// Forgets what the previous pass touched, keeping the answers.
    pub(crate) fn begin_pass(&mut self) {
        self.pending.clear();
        self.pending_env.clear();
        self.touched.clear();
        self.missing.clear();
    }

    /// A function needs `dep`: its answer if the context gave one, or `None` after
    /// noting the question. A `Missing` answer marks the render incomplete.
    pub(crate) fn request(&mut self, dep: Dependency) -> Option<Answer> {
        match self.answers.get(&dep) {
            Some(answer) => {
                let answer = answer.clone();
                if matches!(answer, Answer::Missing) {
                    self.missing.insert(dep.clone());
                }
                self.touched.insert(dep);
                Some(answer)
            }
            None => {
                self.pending.insert(dep.clone());
                self.touched.insert(dep);
                None
            }
        }
    }

    /// The data arrived but does not satisfy the function (`key` on an absent key
    /// waits for it to exist).
    pub(crate) fn block_on(&mut self, dep: Dependency) {
        self.missing.insert(dep);
    }

    /// An environment variable, or `None` after noting the question.
    pub(crate) fn env(&mut self, name: &str) -> Option<Option<String>> {
        match self.env.get(name) {
            Some(v) => Some(v.clone()),
            None => {
                self.pending_env.insert(name.to_string());
                None
            }
        }
    }

    pub(crate) fn has_questions(&self) -> bool {
        !self.pending.is_empty() || !self.pending_env.is_empty()
    }

    /// Asks the context this pass's questions. Environment variables go first and
    /// alone: a query is often built from one (`nomadService 1 (env "NOMAD_ALLOC_ID")
    /// "redis"`), and asking it with the placeholder "" would be a wasted question.
    pub(crate) fn answer_questions(&mut self, ctx: &dyn Context) {
        if !self.pending_env.is_empty() {
            for name in std::mem::take(&mut self.pending_env) {
                let v = ctx.env(&name);
                self.env.insert(name, v);
            }
            return;
        }
        for dep in std::mem::take(&mut self.pending) {
            let answer = fetch(&dep, ctx);
            self.answers.insert(dep, answer);
        }
    }

    pub(crate) fn finish_pass(&mut self) -> PassOutcome {
        PassOutcome {
            touched: std::mem::take(&mut self.touched),
            missing: std::mem::take(&mut self.missing),
        }
    }
}

/// Asks the context for one dependency and shapes the answer as the function
/// returns it.
fn fetch(dep: &Dependency, ctx: &dyn Context) -> Answer {
    let answer = match dep {
        Dependency::NomadService(q) => ctx.nomad_service(q).map(|mut instances| {
            if let Some(tag) = &q.tag {
                instances.retain(|i| i.tags.contains(tag));
            }
            // The server's order is its index order (by id); with `choose` it is the
            // rendezvous order, which must be kept.
            if q.choose.is_none() {
                instances.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
            }
            Answer::Value(value::list(instances.iter().map(|i| i.nomad_value())))
        }),
        Dependency::NomadServices { region } => ctx
            .nomad_services(region.as_deref())
            .map(|s| Answer::Value(summaries(s))),
        Dependency::ConsulService(q) => ctx.consul_service(q).map(|mut instances| {
            instances.retain(|i| {
                q.filter.admits(i.health) && q.tag.as_ref().is_none_or(|t| i.tags.contains(t))
            });
            instances.sort_by(|a, b| (a.consul_node(), &a.id).cmp(&(b.consul_node(), &b.id)));
            Answer::Value(value::list(instances.iter().map(|i| i.consul_value())))
        }),
        Dependency::ConsulServices { datacenter } => ctx
            .consul_services(datacenter.as_deref())
            .map(|s| Answer::Value(summaries(s))),
        Dependency::Key(q) => ctx.key(q).map(Answer::Key),
        Dependency::KeyList(q) => ctx.ls(q).map(Answer::Pairs),
    };
    answer.unwrap_or_else(|Missing| Answer::Missing)
}

fn summaries(mut services: Vec<crate::ServiceSummary>) -> Value {
    services.sort_by(|a, b| a.name.cmp(&b.name));
    value::list(services.iter().map(|s| s.value()))
}

/// The exchange as the functions hold it. Only one render uses it at a time
/// ([`Template`](crate::Template) serializes renders), so the lock is never
/// contended; a poisoned lock only means a function panicked, which gotmpl already
/// reports as an error.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedExchange(Arc<Mutex<Exchange>>);

impl SharedExchange {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Exchange) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    pub(crate) fn put(&self, exchange: Exchange) {
        self.with(|slot| *slot = exchange);
    }

    pub(crate) fn take(&self) -> Exchange {
        self.with(std::mem::take)
    }
}
