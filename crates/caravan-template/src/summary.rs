//! A service name with its tags, what `nomadServices` and `services` list.

use std::collections::BTreeSet;

use gotmpl::Value;

use crate::value;

/// One service of a catalog listing: its name and the union of its instances' tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSummary {
    /// The service name.
    pub name: String,
    /// Tags, in any order and possibly repeated: templates see them sorted and unique.
    pub tags: Vec<String>,
}

impl ServiceSummary {
    /// `{.Name, .Tags}`.
    pub(crate) fn value(&self) -> Value {
        let tags: BTreeSet<&String> = self.tags.iter().collect();
        value::map([
            ("Name", value::string(&self.name)),
            ("Tags", value::strings(tags)),
        ])
    }
}
