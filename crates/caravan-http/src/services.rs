//! Catalog routes: the service list, one service's instances (with rendezvous
//! `choose` and, beyond Nomad, a health filter), deleting an instance, and a job's or an
//! allocation's instances and checks. Every read blocks on the services table.
//!
//! Nomad's routes show Nomad-provider registrations only, as Nomad does; `?provider=`
//! (`nomad`, `consul` or `*`) picks others.

use axum::extract::{Path, State};
use axum::response::Response;
use caravan_model::{Choose, HealthStatus, JobId, ServiceProvider, ServiceRegistration};
use caravan_state::Table;

use crate::blocking::{self, WriteMeta};
use crate::query::QueryOptions;
use crate::service_shapes::{alloc_checks, by_namespace};
use crate::{Api, ApiError, lookup};

/// `GET /v1/services[?namespace=*][&prefix=]`: each namespace's services (whose name
/// starts with the prefix) with their tags.
pub(crate) async fn list(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    let provider = ProviderFilter::from_query(&q)?;
    let snap = blocking::snapshot(&api, Table::Services, &q).await;
    let summaries = snap.services_where(|r| {
        q.in_namespace(&r.namespace) && provider.admits(r) && r.service_name.starts_with(&q.prefix)
    });
    blocking::json(
        &api,
        snap.index(Table::Services),
        &by_namespace(summaries),
        &q,
    )
}

/// `GET /v1/service/:name[?choose=N|key][&healthy=true|&health=passing,warning]`: the
/// instances of a service, sorted by id; `[]` for an unknown name. The health filter
/// applies before `choose`, so a caller chooses among the instances it would use.
pub(crate) async fn read(
    State(api): State<Api>,
    Path(name): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let provider = ProviderFilter::from_query(&q)?;
    let health = health_filter(&q)?;
    let choose = match q.get("choose") {
        None | Some("") => None,
        Some(value) => Some(
            value
                .parse::<Choose>()
                .map_err(|e| ApiError::bad_request(format!("failed to choose services: {e}")))?,
        ),
    };
    let snap = blocking::snapshot(&api, Table::Services, &q).await;
    let mut instances: Vec<&ServiceRegistration> = snap
        .service(ns, &name)
        .filter(|r| provider.admits(r))
        .filter(|r| health.as_ref().is_none_or(|h| r.health_in(h)))
        .collect();
    if let Some(choose) = choose {
        instances = choose.select(instances);
    }
    blocking::json(&api, snap.index(Table::Services), &instances, &q)
}

/// `GET /v1/service/` (no name): Nomad's 400.
pub(crate) async fn missing_name() -> ApiError {
    ApiError::bad_request("missing service name")
}

/// `DELETE /v1/service/:name/` (no id): Nomad's 400.
pub(crate) async fn missing_id() -> ApiError {
    ApiError::bad_request("missing service id")
}

/// `DELETE /v1/service/:name/:id`: removes one instance (an operator cleaning up; a
/// running client registers it again on its next change).
pub(crate) async fn delete(
    State(api): State<Api>,
    Path((name, id)): Path<(String, String)>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let index = api.server.delete_service(ns, &name, &id).await?;
    blocking::json(&api, index, &WriteMeta::new(index), &q)
}

/// `GET /v1/job/:id/services`: the instances of a job's allocations (`[]` for an unknown
/// job, as its allocations are).
pub(crate) async fn by_job(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let provider = ProviderFilter::from_query(&q)?;
    let snap = blocking::snapshot(&api, Table::Services, &q).await;
    let instances: Vec<&ServiceRegistration> = snap
        .services_by_job(ns, &JobId::from(id))
        .filter(|r| provider.admits(r))
        .collect();
    blocking::json(&api, snap.index(Table::Services), &instances, &q)
}

/// `GET /v1/allocation/:id/services`: an allocation's instances.
pub(crate) async fn by_alloc(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let provider = ProviderFilter::from_query(&q)?;
    let snap = blocking::snapshot(&api, Table::Services, &q).await;
    let alloc = lookup::alloc(&snap, &id)?;
    let instances: Vec<&ServiceRegistration> = snap
        .services_by_alloc(&alloc.id)
        .filter(|r| provider.admits(r))
        .collect();
    blocking::json(&api, snap.index(Table::Services), &instances, &q)
}

/// `GET /v1/allocation/:id/checks` (and `/v1/client/allocation/:id/checks`): the latest
/// result of each check of the allocation's instances, keyed by check id, in Nomad's
/// shape. The server answers it from the catalog, so any agent can.
pub(crate) async fn checks(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let provider = ProviderFilter::from_query(&q)?;
    let snap = blocking::snapshot(&api, Table::Services, &q).await;
    let alloc = lookup::alloc(&snap, &id)?;
    let checks = alloc_checks(
        alloc,
        snap.services_by_alloc(&alloc.id)
            .filter(|r| provider.admits(r)),
    );
    blocking::json(&api, snap.index(Table::Services), &checks, &q)
}

/// `?provider=`: `nomad` unless given; `*` admits every provider.
#[derive(Debug, Clone, Copy)]
struct ProviderFilter(Option<ServiceProvider>);

impl ProviderFilter {
    fn from_query(q: &QueryOptions) -> Result<Self, ApiError> {
        match q.get("provider") {
            None | Some("" | "nomad") => Ok(Self(Some(ServiceProvider::Nomad))),
            Some("consul") => Ok(Self(Some(ServiceProvider::Consul))),
            Some("*") => Ok(Self(None)),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid provider {other:?}: expected nomad, consul or *"
            ))),
        }
    }

    fn admits(self, reg: &ServiceRegistration) -> bool {
        self.0.is_none_or(|p| p == reg.provider)
    }
}

/// `?healthy=true` (passing only) or `?health=passing,warning`; `None` keeps every
/// instance, as Nomad does.
fn health_filter(q: &QueryOptions) -> Result<Option<Vec<HealthStatus>>, ApiError> {
    let healthy = q.flag("healthy")?;
    match q.get("health") {
        None | Some("") => Ok(healthy.then(|| vec![HealthStatus::Passing])),
        Some(_) if healthy => Err(ApiError::bad_request(
            "give healthy=true or health=..., not both",
        )),
        Some(list) => list
            .split(',')
            .map(|word| {
                word.trim()
                    .parse::<HealthStatus>()
                    .map_err(|e| ApiError::bad_request(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> QueryOptions {
        QueryOptions::from_params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        )
        .expect("valid query")
    }

    #[test]
    fn health_filters() {
        use HealthStatus::*;
        assert_eq!(health_filter(&query(&[])), Ok(None));
        assert_eq!(health_filter(&query(&[("healthy", "false")])), Ok(None));
        assert_eq!(
            health_filter(&query(&[("healthy", "true")])),
            Ok(Some(vec![Passing]))
        );
        assert_eq!(
            health_filter(&query(&[("health", "passing, warning")])),
            Ok(Some(vec![Passing, Warning]))
        );
        assert!(health_filter(&query(&[("health", "ok")])).is_err());
        assert!(health_filter(&query(&[("health", "critical"), ("healthy", "")])).is_err());
    }

    #[test]
    fn provider_filters() {
        let consul = ServiceRegistration {
            provider: ServiceProvider::Consul,
            ..ServiceRegistration::default()
        };
        let nomad = ServiceRegistration::default();
        let default = ProviderFilter::from_query(&query(&[])).expect("default");
        assert!(default.admits(&nomad) && !default.admits(&consul));
        let all = ProviderFilter::from_query(&query(&[("provider", "*")])).expect("all");
        assert!(all.admits(&nomad) && all.admits(&consul));
        let only = ProviderFilter::from_query(&query(&[("provider", "consul")])).expect("consul");
        assert!(!only.admits(&nomad) && only.admits(&consul));
        assert!(ProviderFilter::from_query(&query(&[("provider", "k8s")])).is_err());
    }
}
