//! The parts of `nft -j list table` this crate reads back.

use serde_json::Value;

use crate::NetError;

/// A table's chains, rules (with handles and comments) and verdict map elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TableListing {
    pub chains: Vec<ChainEntry>,
    pub rules: Vec<RuleEntry>,
    pub map_elements: Vec<MapElement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainEntry {
    pub name: String,
    /// Set for base chains.
    pub hook: Option<String>,
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleEntry {
    pub chain: String,
    pub handle: u64,
    pub comment: Option<String>,
}

/// `tcp . 8080 : goto alloc-<id>` in a map keyed by protocol and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MapElement {
    pub map: String,
    pub protocol: String,
    pub port: u16,
    pub target: String,
}

impl TableListing {
    pub fn parse(json: &str) -> Result<Self, NetError> {
        let root: Value =
            serde_json::from_str(json).map_err(|e| NetError::NftJson(e.to_string()))?;
        let items = root
            .get("nftables")
            .and_then(Value::as_array)
            .ok_or_else(|| NetError::NftJson("no \"nftables\" array".to_owned()))?;
        let mut listing = Self::default();
        for item in items {
            if let Some(chain) = item.get("chain") {
                listing.chains.push(ChainEntry {
                    name: str_field(chain, "name")?,
                    hook: chain.get("hook").and_then(Value::as_str).map(str::to_owned),
                    policy: chain
                        .get("policy")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            } else if let Some(rule) = item.get("rule") {
                listing.rules.push(RuleEntry {
                    chain: str_field(rule, "chain")?,
                    handle: rule
                        .get("handle")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| NetError::NftJson("rule without a handle".to_owned()))?,
                    comment: rule
                        .get("comment")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            } else if let Some(map) = item.get("map") {
                let name = str_field(map, "name")?;
                for elem in map
                    .get("elem")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(element) = parse_element(&name, elem) {
                        listing.map_elements.push(element);
                    }
                }
            }
        }
        Ok(listing)
    }

    pub fn has_chain(&self, name: &str) -> bool {
        self.chains.iter().any(|c| c.name == name)
    }

    pub fn chain(&self, name: &str) -> Option<&ChainEntry> {
        self.chains.iter().find(|c| c.name == name)
    }
}

fn str_field(value: &Value, key: &str) -> Result<String, NetError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| NetError::NftJson(format!("missing {key:?} in {value}")))
}

/// `[{"concat": ["tcp", 8080]}, {"goto": {"target": "alloc-x"}}]`; the key may be
/// wrapped in `{"elem": {"val": ...}}` when the element has a comment or timeout.
fn parse_element(map: &str, elem: &Value) -> Option<MapElement> {
    let pair = elem.as_array()?;
    let [key, verdict] = pair.as_slice() else {
        return None;
    };
    let key = key.get("elem").and_then(|e| e.get("val")).unwrap_or(key);
    let concat = key.get("concat")?.as_array()?;
    let [protocol, port] = concat.as_slice() else {
        return None;
    };
    let target = verdict
        .get("goto")
        .or_else(|| verdict.get("jump"))?
        .get("target")?
        .as_str()?;
    Some(MapElement {
        map: map.to_owned(),
        protocol: protocol.as_str()?.to_owned(),
        port: u16::try_from(port.as_u64()?).ok()?,
        target: target.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `nft -j list table ip caravan` (nftables 1.0.6).
    const LISTING: &str = r#"{"nftables": [
      {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
      {"table": {"family": "ip", "name": "cvx", "handle": 3}},
      {"map": {"family": "ip", "name": "hostports", "table": "cvx",
               "type": ["inet_proto", "inet_service"], "handle": 1, "map": "verdict",
               "elem": [[{"concat": ["tcp", 8080]}, {"goto": {"target": "alloc-a"}}],
                        [{"concat": ["udp", 8080]}, {"goto": {"target": "alloc-a"}}]]}},
      {"chain": {"family": "ip", "table": "cvx", "name": "prerouting", "handle": 2,
                 "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
      {"chain": {"family": "ip", "table": "cvx", "name": "alloc-a", "handle": 10}},
      {"rule": {"family": "ip", "table": "cvx", "chain": "alloc-a", "handle": 13,
                "comment": "http", "expr": []}}
    ]}"#;

    #[test]
    fn reads_chains_rules_and_map_elements() {
        let listing = TableListing::parse(LISTING).expect("parses");
        assert!(listing.has_chain("alloc-a"));
        assert_eq!(
            listing.chain("prerouting").and_then(|c| c.hook.as_deref()),
            Some("prerouting")
        );
        assert_eq!(
            listing.rules,
            vec![RuleEntry {
                chain: "alloc-a".into(),
                handle: 13,
                comment: Some("http".into())
            }]
        );
        assert_eq!(listing.map_elements.len(), 2);
        assert_eq!(listing.map_elements[1].protocol, "udp");
        assert_eq!(listing.map_elements[1].port, 8080);
        assert_eq!(listing.map_elements[1].target, "alloc-a");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(TableListing::parse("{}").is_err());
        assert!(TableListing::parse("nope").is_err());
    }
}
