//! Placement rules: `constraint`, `affinity` and `spread`, including the constraint
//! shorthands (`distinct_hosts = true`, `regexp = "..."`, ...).

use caravan_model::{Affinity, Constraint, Segment, Spread, SpreadTarget};
use hcl::Value;

use crate::body::Block;
use crate::reader::{Decoder, Reader};
use crate::value;

/// Shorthands whose value is the right-hand side: `regexp = "^linux$"`.
const VALUE_SHORTHANDS: [&str; 6] = [
    "regexp",
    "version",
    "semver",
    "set_contains",
    "set_contains_any",
    "set_contains_all",
];

pub(super) fn constraints(d: &mut Decoder<'_>, parent: &mut Reader<'_>) -> Vec<Constraint> {
    let blocks = parent.blocks(d, "constraint", 0);
    blocks
        .iter()
        .enumerate()
        .filter_map(|(i, b)| constraint(d, parent, b, i))
        .collect()
}

pub(super) fn affinities(d: &mut Decoder<'_>, parent: &mut Reader<'_>) -> Vec<Affinity> {
    let blocks = parent.blocks(d, "affinity", 0);
    blocks
        .iter()
        .enumerate()
        .filter_map(|(i, b)| affinity(d, parent, b, i))
        .collect()
}

pub(super) fn spreads(d: &mut Decoder<'_>, parent: &mut Reader<'_>) -> Vec<Spread> {
    let blocks = parent.blocks(d, "spread", 0);
    blocks
        .iter()
        .enumerate()
        .map(|(i, b)| spread(d, parent, b, i))
        .collect()
}

/// `attribute`, `operator`, `value` and the shorthands, shared by constraints and
/// affinities. `None` when the rule is switched off (`distinct_hosts = false`).
struct Rule {
    l_target: String,
    r_target: String,
    operand: String,
}

fn rule(d: &mut Decoder<'_>, r: &mut Reader<'_>, distinct: bool) -> Option<Rule> {
    let mut rule = Rule {
        l_target: r.string(d, "attribute").unwrap_or_default(),
        operand: r.string(d, "operator").unwrap_or_default(),
        r_target: r.string(d, "value").unwrap_or_default(),
    };
    let explicit_operator = !rule.operand.is_empty();
    let mut shorthand: Option<&'static str> = None;
    let mut enabled = true;
    let mut set =
        |d: &mut Decoder<'_>, r: &Reader<'_>, name: &'static str, span: &crate::source::Span| {
            if let Some(previous) = shorthand {
                d.error(
                    span,
                    format!(
                        "`{name}` and `{previous}` both set the operator of {}; use one",
                        r.what
                    ),
                );
            } else if explicit_operator {
                d.error(
                    span,
                    format!(
                        "`{name}` sets the operator of {}; remove `operator`",
                        r.what
                    ),
                );
            }
            shorthand = Some(name);
        };
    for name in VALUE_SHORTHANDS {
        if let Some((v, span)) = r.value(d, name) {
            set(d, r, name, &span);
            match value::to_string(&v) {
                Ok(s) => {
                    rule.operand = name.to_owned();
                    rule.r_target = s;
                }
                Err(e) => d.error(&span, format!("`{name}` {e}")),
            }
        }
    }
    for name in ["is_set", "is_not_set"] {
        if let Some((v, span)) = r.value(d, name) {
            set(d, r, name, &span);
            rule.operand = name.to_owned();
            match v {
                Value::Bool(on) => enabled &= on,
                other => match value::to_string(&other) {
                    Ok(attribute) => rule.l_target = attribute,
                    Err(e) => d.error(&span, format!("`{name}` {e}")),
                },
            }
        }
    }
    if distinct {
        if let Some((v, span)) = r.value(d, "distinct_hosts") {
            set(d, r, "distinct_hosts", &span);
            match value::to_bool(&v) {
                Ok(on) => {
                    enabled &= on;
                    rule.operand = "distinct_hosts".to_owned();
                    rule.r_target = "true".to_owned();
                }
                Err(e) => d.error(&span, format!("`distinct_hosts` {e}")),
            }
        }
        if let Some((v, span)) = r.value(d, "distinct_property") {
            set(d, r, "distinct_property", &span);
            match value::to_string(&v) {
                Ok(property) => {
                    rule.operand = "distinct_property".to_owned();
                    rule.l_target = property;
                }
                Err(e) => d.error(&span, format!("`distinct_property` {e}")),
            }
        }
    }
    enabled.then_some(rule)
}

fn constraint(
    d: &mut Decoder<'_>,
    parent: &Reader<'_>,
    block: &Block<'_>,
    index: usize,
) -> Option<Constraint> {
    let mut r = parent.child(d, block, Segment::Indexed("constraint", index));
    let rule = rule(d, &mut r, true);
    r.finish(d);
    let rule = rule?;
    Some(Constraint {
        l_target: rule.l_target,
        r_target: rule.r_target,
        operand: rule.operand,
    })
}

fn affinity(
    d: &mut Decoder<'_>,
    parent: &Reader<'_>,
    block: &Block<'_>,
    index: usize,
) -> Option<Affinity> {
    let mut r = parent.child(d, block, Segment::Indexed("affinity", index));
    let weight = r.int(d, "weight");
    let rule = rule(d, &mut r, false);
    r.finish(d);
    let rule = rule?;
    Some(Affinity {
        l_target: rule.l_target,
        r_target: rule.r_target,
        operand: rule.operand,
        weight,
    })
}

fn spread(d: &mut Decoder<'_>, parent: &Reader<'_>, block: &Block<'_>, index: usize) -> Spread {
    let mut r = parent.child(d, block, Segment::Indexed("spread", index));
    let mut s = Spread {
        attribute: r.string(d, "attribute").unwrap_or_default(),
        weight: r.int(d, "weight"),
        spread_target: Vec::new(),
    };
    for block in r.blocks(d, "target", 1) {
        let label = block.labels.first().map_or("", |l| l.text).to_owned();
        let mut tr = r.child(d, &block, Segment::Labeled("target", label.clone()));
        let percent = tr.int_in(d, "percent", 0, 100).unwrap_or(0);
        tr.finish(d);
        s.spread_target.push(SpreadTarget {
            value: label,
            percent: u8::try_from(percent).unwrap_or(0),
        });
    }
    r.finish(d);
    s
}
