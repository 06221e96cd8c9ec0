//! The scenarios, by area of the protocol. Every one runs against Apache ZooKeeper 3.8 first:
//! a scenario ZooKeeper fails is a wrong scenario.

mod acl;
mod crud;
mod edges;
mod ensemble;
mod ephemeral;
mod fourlw;
mod limits;
mod multi;
mod protocol;
mod session;
mod stat;
mod watch;

use super::scenario::Scenario;

/// Every scenario, in table order.
pub fn all() -> Vec<Scenario> {
    let mut v = Vec::new();
    v.extend(crud::scenarios());
    v.extend(stat::scenarios());
    v.extend(ephemeral::scenarios());
    v.extend(watch::scenarios());
    v.extend(multi::scenarios());
    v.extend(acl::scenarios());
    v.extend(session::scenarios());
    v.extend(limits::scenarios());
    v.extend(fourlw::scenarios());
    v.extend(edges::scenarios());
    v.extend(protocol::scenarios());
    v.extend(ensemble::scenarios());
    v
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    /// Names are the table's row keys and the filter's handle: unique per area.
    #[test]
    fn scenario_names_are_unique() {
        let all = super::all();
        let mut seen = HashSet::new();
        for s in &all {
            assert!(seen.insert((s.area, s.name)), "duplicate scenario {}/{}", s.area, s.name);
            assert!(!s.steps.is_empty(), "{}/{} has no steps", s.area, s.name);
        }
    }
}
