//! Where each block and attribute of the model came from, so that a validation error
//! (which names a path of blocks) can be shown at a line.
//!
//! A tree in an arena: decoders hold the [`NodeId`] of their block and add children as
//! they read, so recording a span costs a push, not a copy of the path.

use caravan_model::Segment;

use crate::source::Span;

/// A node of the map: a block or attribute.
pub(crate) type NodeId = usize;

/// A tree of spans keyed by path segments.
#[derive(Debug, Clone)]
pub(crate) struct SourceMap {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
struct Node {
    span: Span,
    /// Every name this node answers to: its segment, then any aliases.
    names: Vec<Segment>,
    children: Vec<NodeId>,
}

/// The kind of the segments [`SourceMap::key`] records.
const FREE_KEY: &str = "key";

impl SourceMap {
    pub const ROOT: NodeId = 0;

    pub fn new(root: Span) -> Self {
        Self {
            nodes: vec![Node {
                span: root,
                names: Vec::new(),
                children: Vec::new(),
            }],
        }
    }

    /// The child of `parent` named `segment`, created or given a new span.
    pub fn child(&mut self, parent: NodeId, segment: Segment, span: Span) -> NodeId {
        let existing = self.nodes.get(parent).and_then(|p| {
            p.children
                .iter()
                .copied()
                .find(|&c| self.nodes[c].names.first() == Some(&segment))
        });
        if let Some(id) = existing {
            self.nodes[id].span = span;
            return id;
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            span,
            names: vec![segment],
            children: Vec::new(),
        });
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.push(id);
        }
        id
    }

    /// Records a free-form attribute under `parent` (a key of a driver's `config`),
    /// found by a `Field` segment of the same name.
    pub fn key(&mut self, parent: NodeId, key: &str, span: Span) {
        self.child(parent, Segment::Labeled(FREE_KEY, key.to_owned()), span);
    }

    /// Lets `node` also be found as `alias` (a service by its name as well as by its
    /// index).
    pub fn alias(&mut self, node: NodeId, alias: Segment) {
        if let Some(n) = self.nodes.get_mut(node)
            && !n.names.contains(&alias)
        {
            n.names.push(alias);
        }
    }

    /// Records the span of a whole path from the root.
    pub fn insert(&mut self, path: &[Segment], span: Span) {
        let mut node = Self::ROOT;
        for segment in path {
            let inherited = self.nodes[node].span.clone();
            node = self.child(node, segment.clone(), inherited);
        }
        self.nodes[node].span = span;
    }

    /// The span of the deepest recorded prefix of `path`: the attribute if it was
    /// written, else the block it belongs in.
    pub fn lookup(&self, path: &[Segment]) -> Span {
        let mut node = &self.nodes[Self::ROOT];
        for segment in path {
            let children = node.children.iter().map(|&c| &self.nodes[c]);
            let found = children
                .clone()
                .find(|n| n.names.contains(segment))
                .or_else(|| {
                    children
                        .clone()
                        .find(|n| n.names.iter().any(|s| equivalent(s, segment)))
                });
            match found {
                Some(child) => node = child,
                None => break,
            }
        }
        node.span.clone()
    }
}

/// The same block under another spelling: the first of a repeatable block read as a
/// single one (`network` and `network #1`), a label matched case-insensitively, or a
/// free-form key.
fn equivalent(recorded: &Segment, wanted: &Segment) -> bool {
    use Segment::{Field, Indexed, Labeled};
    match (recorded, wanted) {
        (Indexed(a, 0), Field(b)) | (Field(a), Indexed(b, 0)) => a == b,
        (Labeled(a, x), Labeled(b, y)) => a == b && x.eq_ignore_ascii_case(y),
        (Labeled(FREE_KEY, key), Field(name)) => key == name,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{Field, Indexed, Labeled};

    #[test]
    fn finds_the_deepest_recorded_prefix() {
        let mut map = SourceMap::new(0..100);
        let group = Labeled("group", "app".into());
        let task = Labeled("task", "redis".into());
        let g = map.child(SourceMap::ROOT, group.clone(), 10..90);
        let t = map.child(g, task.clone(), 20..80);
        map.child(t, Field("driver"), 25..30);
        map.child(g, Indexed("network", 0), 40..50);
        assert_eq!(
            map.lookup(&[group.clone(), task.clone(), Field("driver")]),
            25..30
        );
        assert_eq!(
            map.lookup(&[group.clone(), task.clone(), Field("user")]),
            20..80
        );
        assert_eq!(
            map.lookup(&[group.clone(), Field("network"), Labeled("port", "x".into())]),
            40..50
        );
        assert_eq!(map.lookup(&[Labeled("group", "nope".into())]), 0..100);
        assert_eq!(map.lookup(&[]), 0..100);

        let s = map.child(g, Indexed("service", 0), 60..70);
        map.child(s, Field("port"), 62..64);
        map.alias(s, Labeled("service", "web".into()));
        assert_eq!(
            map.lookup(&[
                group.clone(),
                Labeled("service", "web".into()),
                Field("port")
            ]),
            62..64
        );

        let c = map.child(t, Field("config"), 30..40);
        map.key(c, "ports", 33..36);
        assert_eq!(
            map.lookup(&[group.clone(), task.clone(), Field("config"), Field("ports")]),
            33..36
        );

        map.insert(&[Labeled("group", "other".into()), task], 5..6);
        assert_eq!(
            map.lookup(&[
                Labeled("group", "other".into()),
                Labeled("task", "redis".into())
            ]),
            5..6
        );
    }
}
