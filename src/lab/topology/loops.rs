//! Loops of trunks: switches joined in a ring (`a-b`, `b-c`, `c-a`) pass
//! every broadcast round forever unless each switch in the ring runs a
//! spanning tree (`stp = true` or `rstp = true` on an OVS bridge). A loop
//! without one is refused, naming its trunks; a Linux bridge in a loop is
//! refused too (swctl makes bridges without STP).

use std::collections::{BTreeMap, VecDeque};

use super::tree::{Pos, Reader};
use crate::model::names::IfName;
use crate::model::{Backend, Desired};

/// The switches from `from` to `to` over the trunks so far, if joined.
fn path(adj: &BTreeMap<&IfName, Vec<&IfName>>, from: &IfName, to: &IfName) -> Option<Vec<IfName>> {
    let mut prev: BTreeMap<&IfName, &IfName> = BTreeMap::new();
    let mut q = VecDeque::from([from]);
    prev.insert(from, from);
    while let Some(x) = q.pop_front() {
        if x == to {
            let mut out = vec![to.clone()];
            let mut y = to;
            while y != from {
                y = prev[y];
                out.push(y.clone());
            }
            out.reverse();
            return Some(out);
        }
        for n in adj.get(x).into_iter().flatten() {
            if !prev.contains_key(n) {
                prev.insert(n, x);
                q.push_back(n);
            }
        }
    }
    None
}

/// Report each trunk that closes a loop whose switches do not all run a
/// spanning tree (`at`: where the trunks are in the file).
pub(super) fn check(r: &mut Reader, d: &Desired, at: Option<Pos>) {
    let mut adj: BTreeMap<&IfName, Vec<&IfName>> = BTreeMap::new();
    for (i, t) in d.trunks.iter().enumerate() {
        if let Some(ring) = path(&adj, &t.b, &t.a) {
            // the ring: b .. a, closed by this trunk a-b
            let spanning = |sw: &IfName| {
                d.switches.get(sw).is_some_and(|s| {
                    s.backend == Backend::Ovs && s.spanning.is_some_and(|x| x.any())
                })
            };
            if !ring.iter().all(spanning) {
                let mut hops: Vec<String> = ring
                    .windows(2)
                    .map(|w| format!("{}-{}", w[0], w[1]))
                    .collect();
                hops.push(format!("{}-{}", t.a, t.b));
                let bridges: Vec<&IfName> = ring
                    .iter()
                    .filter(|sw| {
                        d.switches
                            .get(*sw)
                            .is_some_and(|s| s.backend != Backend::Ovs)
                    })
                    .collect();
                let how = if bridges.is_empty() {
                    "give each switch in it stp = true or rstp = true".to_string()
                } else {
                    format!(
                        "a Linux bridge here has no spanning tree ({}): join it by one trunk only",
                        bridges
                            .iter()
                            .map(|b| b.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                r.err(
                    &format!("trunks[{i}]"),
                    at,
                    format!(
                        "trunks {} make a loop: every broadcast would go round it for ever; {how}",
                        hops.join(", ")
                    ),
                );
            }
        }
        adj.entry(&t.a).or_default().push(&t.b);
        adj.entry(&t.b).or_default().push(&t.a);
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    fn ring(extra: &str) -> String {
        format!(
            "name = \"l\"\n[switches.s1]\nbackend = \"ovs\"\n{extra}\n[switches.s2]\nbackend = \"ovs\"\n{extra}\n[switches.s3]\nbackend = \"ovs\"\n{extra}\n\
             [[trunks]]\na = \"s1\"\nb = \"s2\"\n[[trunks]]\na = \"s2\"\nb = \"s3\"\n[[trunks]]\na = \"s3\"\nb = \"s1\"\n"
        )
    }

    #[test]
    fn a_ring_of_trunks_needs_a_spanning_tree_on_every_switch() {
        let e = parse(&ring(""), false, "l").unwrap_err().to_string();
        assert!(
            e.contains("trunks[2]: trunks s3-s2, s2-s1, s1-s3 make a loop"),
            "{e}"
        );
        assert!(e.contains("rstp = true"), "{e}");
        assert!(parse(&ring("rstp = true"), false, "l").is_ok());
        assert!(parse(&ring("stp = true"), false, "l").is_ok());
        // a chain is no loop
        let chain = "name = \"l\"\n[switches.s1]\nbackend = \"ovs\"\n[switches.s2]\nbackend = \"ovs\"\n[switches.s3]\n\
                     [[trunks]]\na = \"s1\"\nb = \"s2\"\n[[trunks]]\na = \"s2\"\nb = \"s3\"\n";
        assert!(parse(chain, false, "l").is_ok());
        // a Linux bridge in a ring: refused, said why
        let mixed = ring("rstp = true").replacen(
            "[switches.s3]\nbackend = \"ovs\"\nrstp = true",
            "[switches.s3]\nbackend = \"bridge\"",
            1,
        );
        let e = parse(&mixed, false, "l").unwrap_err().to_string();
        assert!(
            e.contains("a Linux bridge here has no spanning tree (s3)"),
            "{e}"
        );
    }
}
