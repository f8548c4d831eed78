//! Blocked evaluations: jobs that could not be fully placed, retried when capacity
//! may have appeared (a node joined or became eligible, allocations stopped).

use std::collections::BTreeMap;
use std::sync::Mutex;

use caravan_model::{Evaluation, JobId};

/// At most one blocked evaluation per job: a newer one replaces the older.
#[derive(Debug, Default)]
pub(crate) struct BlockedEvals {
    by_job: Mutex<BTreeMap<(String, JobId), Evaluation>>,
}

impl BlockedEvals {
    /// Tracks `eval`; returns the evaluation it replaces, which should be canceled.
    pub fn block(&self, eval: Evaluation) -> Option<Evaluation> {
        let key = (eval.namespace.clone(), eval.job_id.clone());
        let id = eval.id.clone();
        let mut map = self.by_job.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, eval).filter(|old| old.id != id)
    }

    /// Everything blocked, to be retried now.
    pub fn unblock_all(&self) -> Vec<Evaluation> {
        let mut map = self.by_job.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *map).into_values().collect()
    }

    /// Forgets the job's blocked evaluation (the job was stopped or re-registered).
    pub fn remove_job(&self, namespace: &str, job_id: &JobId) -> Option<Evaluation> {
        let mut map = self.by_job.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&(namespace.to_owned(), job_id.clone()))
    }

    pub fn len(&self) -> usize {
        self.by_job.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(id: &str, job: &str) -> Evaluation {
        Evaluation {
            id: id.into(),
            namespace: "default".into(),
            job_id: job.into(),
            ..Default::default()
        }
    }

    #[test]
    fn newer_blocked_eval_replaces_older() {
        let blocked = BlockedEvals::default();
        assert!(blocked.block(eval("a", "j")).is_none());
        let replaced = blocked.block(eval("b", "j")).expect("a is replaced");
        assert_eq!(replaced.id.as_str(), "a");
        assert_eq!(blocked.len(), 1);
        let all = blocked.unblock_all();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].id.as_str(), "b");
        assert_eq!(blocked.len(), 0);
    }
}
