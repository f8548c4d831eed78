//! `nomadService`, `nomadServices`, `service`, `services` and `byTag`.

use std::collections::BTreeMap;

use gotmpl::{TemplateError, Value};

use super::args::{FnResult, arity, arity_between, empty_list, fail, integer, items, text};
use crate::exchange::{Answer, SharedExchange};
use crate::service_query::{is_region_char, valid};
use crate::{ConsulServiceQuery, Dependency, QueryError, ServiceQuery, value};

/// The instances or listing behind `dep`, or the empty list until it arrives.
fn data(ex: &SharedExchange, dep: Dependency) -> Value {
    match ex.with(|x| x.request(dep)) {
        Some(Answer::Value(v)) => v,
        _ => empty_list(),
    }
}

fn query_error(e: QueryError) -> TemplateError {
    TemplateError::Exec(e.to_string())
}

/// `nomadService "[tag.]name[@region]"` or `nomadService <count> "<key>" "<service>"`.
pub(super) fn nomad_service(ex: &SharedExchange, args: &[Value]) -> FnResult {
    const NAME: &str = "nomadService";
    let query = match args {
        [service] => ServiceQuery::parse(&text(NAME, service)?).map_err(query_error)?,
        [count, key, service] => {
            let count = integer(NAME, count)?;
            let count = u32::try_from(count)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| fail(NAME, format!("<count> must be positive, got {count}")))?;
            ServiceQuery::parse(&text(NAME, service)?)
                .map_err(query_error)?
                .with_choose(count, text(NAME, key)?)
        }
        _ => {
            return Err(fail(
                NAME,
                format!(
                    "expected arguments <service> or <count> <key> <service>, got {} arguments",
                    args.len()
                ),
            ));
        }
    };
    Ok(data(ex, Dependency::NomadService(query)))
}

/// Reads the optional `"@region"` / `"@dc"` argument of the listings.
fn scope(function: &'static str, args: &[Value]) -> Result<Option<String>, TemplateError> {
    arity_between(function, args, 0, 1)?;
    let Some(arg) = args.first() else {
        return Ok(None);
    };
    let s = text(function, arg)?;
    if s.is_empty() {
        return Ok(None);
    }
    match s.strip_prefix('@') {
        Some(scope) if valid(scope, is_region_char) => Ok(Some(scope.to_string())),
        _ => Err(query_error(QueryError::new(
            function,
            &s,
            "expected \"@<region>\" (query parameters are not supported)",
        ))),
    }
}

/// `nomadServices ["@region"]`.
pub(super) fn nomad_services(ex: &SharedExchange, args: &[Value]) -> FnResult {
    let region = scope("nomadServices", args)?;
    Ok(data(ex, Dependency::NomadServices { region }))
}

/// `service "[tag.]name[?..][@dc][~near][|filter]"`, or the older two-argument
/// form `service "name" "passing,warning"`.
pub(super) fn service(ex: &SharedExchange, args: &[Value]) -> FnResult {
    const NAME: &str = "service";
    arity_between(NAME, args, 1, 2)?;
    let parts = args
        .iter()
        .map(|a| text(NAME, a))
        .collect::<Result<Vec<_>, _>>()?;
    if parts.first().is_none_or(String::is_empty) {
        return Ok(empty_list());
    }
    let query = ConsulServiceQuery::parse(&parts.join("|")).map_err(query_error)?;
    Ok(data(ex, Dependency::ConsulService(query)))
}

/// `services ["@dc"]`.
pub(super) fn services(ex: &SharedExchange, args: &[Value]) -> FnResult {
    let datacenter = scope("services", args)?;
    Ok(data(ex, Dependency::ConsulServices { datacenter }))
}

/// `byTag <services>`: a map from each tag to the services carrying it, in their
/// original order.
pub(super) fn by_tag(args: &[Value]) -> FnResult {
    const NAME: &str = "byTag";
    arity(NAME, args, 1)?;
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for service in items(NAME, &args[0])? {
        let tags = match service.field("Tags") {
            Some(tags) => items(NAME, tags)?,
            None => return Err(fail(NAME, format!("{} has no Tags", service.type_name()))),
        };
        for tag in tags {
            groups
                .entry(text(NAME, tag)?)
                .or_default()
                .push(service.clone());
        }
    }
    Ok(value::map(
        groups
            .into_iter()
            .map(|(tag, services)| (tag, value::list(services))),
    ))
}
