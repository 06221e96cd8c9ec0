//! Iterators over the tree's links: a node's children, and a subtree in preorder.
//!
//! Both walk the intrusive links and hold no stack, so they need no storage; each is
//! bounded by the node count so a corrupted link can never loop forever.

use super::index::name_of;
use super::node::{unlink, Link, Node, NodeId, NONE};
use crate::arena::ByteArena;

/// The children of one node with their names, in creation order.
pub struct Children<'t, 's> {
    pub(super) nodes: &'t [Node],
    pub(super) arena: &'t ByteArena<'s>,
    pub(super) next: Link,
    pub(super) steps: u32,
}

impl<'t, 's> Iterator for Children<'t, 's> {
    type Item = (NodeId, &'t [u8]);

    fn next(&mut self) -> Option<(NodeId, &'t [u8])> {
        let index = unlink(self.next)?;
        self.steps = self.steps.checked_sub(1)?;
        let node = self.nodes.get(index as usize)?;
        self.next = node.next_sibling;
        Some((NodeId(index), name_of(node, self.arena)))
    }
}

/// A subtree in preorder: every parent before its children, siblings in creation order.
pub struct Preorder<'t> {
    pub(super) nodes: &'t [Node],
    /// The subtree's root: the walk climbs no higher.
    pub(super) top: u32,
    pub(super) next: Option<u32>,
    /// Nodes left to yield, at most.
    pub(super) steps: u32,
    /// Live nodes in the tree: no climb is longer.
    pub(super) depth_max: u32,
}

impl<'t> Preorder<'t> {
    fn link_of(&self, index: u32, pick: fn(&Node) -> Link) -> Option<u32> {
        unlink(self.nodes.get(index as usize).map_or(NONE, pick))
    }

    /// The node after `at`: its first child, else the next sibling of the nearest
    /// ancestor (itself included) below `top` that has one.
    fn successor(&self, at: u32) -> Option<u32> {
        if let Some(child) = self.link_of(at, |n| n.first_child) {
            return Some(child);
        }
        let mut x = at;
        for _ in 0..self.depth_max {
            if x == self.top {
                return None;
            }
            if let Some(sibling) = self.link_of(x, |n| n.next_sibling) {
                return Some(sibling);
            }
            x = self.link_of(x, |n| n.parent)?;
        }
        None
    }
}

impl<'t> Iterator for Preorder<'t> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let at = self.next?;
        self.steps = self.steps.checked_sub(1)?;
        self.next = self.successor(at);
        Some(NodeId(at))
    }
}
