//! The catalog's answers in Nomad's shapes: the service list grouped by namespace, and
//! an allocation's checks keyed by check id.

use std::collections::BTreeMap;

use caravan_model::{Allocation, CheckStatus, HealthStatus, ServiceRegistration};
use caravan_state::ServiceSummary;
use serde::Serialize;

/// One namespace's services in `GET /v1/services`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceListStub {
    pub namespace: String,
    pub services: Vec<ServiceStub>,
}

/// One service in `GET /v1/services`: its name and every tag of its instances.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceStub {
    pub service_name: String,
    pub tags: Vec<String>,
}

/// Groups summaries (sorted by namespace, then name) into one entry per namespace.
pub(crate) fn by_namespace(summaries: Vec<ServiceSummary>) -> Vec<ServiceListStub> {
    let mut out: Vec<ServiceListStub> = Vec::new();
    for s in summaries {
        let stub = ServiceStub {
            service_name: s.service_name,
            tags: s.tags,
        };
        match out.last_mut() {
            Some(last) if last.namespace == s.namespace => last.services.push(stub),
            _ => out.push(ServiceListStub {
                namespace: s.namespace,
                services: vec![stub],
            }),
        }
    }
    out
}

/// One check in `GET /v1/allocation/:id/checks`, in the shape of Nomad's
/// `CheckQueryResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CheckQueryResult {
    #[serde(rename = "ID")]
    pub id: String,
    /// "healthiness" or "readiness".
    pub mode: &'static str,
    /// "success", "failure" or "pending" (no result yet).
    pub status: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    pub status_code: u16,
    pub output: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// The allocation's name, `<job>.<group>[<index>]`.
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub task: String,
    pub service: String,
    pub check: String,
}

impl CheckQueryResult {
    pub fn new(alloc: &Allocation, reg: &ServiceRegistration, check: &CheckStatus) -> Self {
        let status = if check.is_pending() {
            "pending"
        } else if check.status == HealthStatus::Critical {
            "failure"
        } else {
            "success"
        };
        Self {
            id: reg.check_id(&check.name),
            mode: check.mode.as_str(),
            status,
            status_code: check.status_code,
            output: check.output.clone(),
            timestamp: check.timestamp.div_euclid(1_000_000_000),
            group: alloc.name.clone(),
            task: check.task.clone(),
            service: reg.service_name.clone(),
            check: check.name.clone(),
        }
    }
}

/// Every check of an allocation's registrations, by check id.
pub(crate) fn alloc_checks<'a>(
    alloc: &Allocation,
    regs: impl Iterator<Item = &'a ServiceRegistration>,
) -> BTreeMap<String, CheckQueryResult> {
    regs.flat_map(|reg| reg.checks.iter().map(move |c| (reg, c)))
        .map(|(reg, check)| {
            let result = CheckQueryResult::new(alloc, reg, check);
            (result.id.clone(), result)
        })
        .collect()
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_group_by_namespace_in_order() {
        let summary = |ns: &str, name: &str| ServiceSummary {
            namespace: ns.into(),
            service_name: name.into(),
            tags: vec!["t".into()],
            instances: 1,
        };
        let grouped = by_namespace(vec![
            summary("default", "a"),
            summary("default", "b"),
            summary("prod", "a"),
        ]);
        assert_eq!(
            serde_json::to_value(&grouped).expect("json"),
            serde_json::json!([
                {"Namespace": "default", "Services": [
                    {"ServiceName": "a", "Tags": ["t"]}, {"ServiceName": "b", "Tags": ["t"]}]},
                {"Namespace": "prod", "Services": [{"ServiceName": "a", "Tags": ["t"]}]},
            ])
        );
        assert!(by_namespace(Vec::new()).is_empty());
    }

    #[test]
    fn check_statuses_in_nomads_words() {
        let alloc = Allocation {
            name: "web.app[0]".into(),
            ..Allocation::default()
        };
        let reg = ServiceRegistration {
            id: "_nomad-task-a1-app-web-http".into(),
            service_name: "web".into(),
            ..ServiceRegistration::default()
        };
        let check = |status, timestamp| CheckStatus {
            name: "alive".into(),
            status,
            timestamp,
            ..CheckStatus::default()
        };
        let status = |c: &CheckStatus| CheckQueryResult::new(&alloc, &reg, c).status;
        assert_eq!(status(&check(HealthStatus::Critical, 0)), "pending");
        assert_eq!(
            status(&check(HealthStatus::Critical, 2_000_000_000)),
            "failure"
        );
        assert_eq!(status(&check(HealthStatus::Warning, 1)), "success");
        let result =
            CheckQueryResult::new(&alloc, &reg, &check(HealthStatus::Passing, 2_500_000_000));
        assert_eq!(
            (result.timestamp, result.group.as_str(), result.mode),
            (2, "web.app[0]", "healthiness")
        );
    }
}
