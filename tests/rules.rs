//! The rules of each backend are asked of the backend (`Switch::rules`):
//! the topology validator says the backend's own words for each refusal
//! (a namespace, an option of another backend, a wiring, an access VLAN,
//! a trunk), and the planner refuses the same things in the same words.
//! Pure: runs anywhere.

use swctl::lab::topology::{TopologyError, parse};
use swctl::model::Backend;
use swctl::plan::backend;

/// Every problem of `text` as one string.
fn problems(text: &str) -> String {
    match parse(text, false, "t.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(TopologyError::Invalid { problems, .. }) => problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_validator_says_each_backends_own_rule() {
    let ovs = backend(Backend::Ovs).rules();
    let ovn = backend(Backend::Ovn).rules();
    let bridge = backend(Backend::Bridge).rules();
    let cases = [
        (
            "name = \"r\"\n[switches.s]\nbackend = \"ovs\"\nnamespace = \"n\"\n",
            ovs.no_namespace.unwrap().to_string(),
        ),
        (
            "name = \"r\"\n[switches.s]\nbackend = \"bridge\"\ndatapath = \"netdev\"\n",
            "switches.s.datapath: only an OVS bridge has datapath".to_string(),
        ),
        (
            "name = \"r\"\n[switches.s]\n[hosts.h]\n[[hosts.h.ports]]\nswitch = \"s\"\nvia = \"internal\"\n",
            "a bridge switch has no internal ports; it attaches by veth".to_string(),
        ),
        (
            "name = \"r\"\n[switches.s]\n[hosts.h]\n[[hosts.h.ports]]\nswitch = \"s\"\nvlan = 10\n",
            bridge.no_vlans.unwrap().to_string(),
        ),
        (
            "name = \"r\"\n[switches.a]\n[switches.b]\nbackend = \"ovn\"\n[[trunks]]\na = \"a\"\nb = \"b\"\n",
            ovn.no_trunks.unwrap().to_string(),
        ),
    ];
    for (text, want) in cases {
        let all = problems(text);
        assert!(all.contains(&want), "{want:?} not in:\n{all}");
    }
    // options a backend does not declare are unknown keys
    let all = problems("name = \"r\"\n[switches.s]\ncolour = \"red\"\n");
    assert!(all.contains("colour"), "{all}");
    // an option's value comes as the file gives it: a type is checked too
    let all = problems("name = \"r\"\n[switches.s]\nbackend = \"ovs\"\ndatapath = 5\n");
    assert!(
        all.contains("switches.s.datapath") && all.contains("expected a string, found 5"),
        "{all}"
    );
    // an OVS option is checked by the OVS backend's own check
    let all = problems("name = \"r\"\n[switches.s]\nbackend = \"ovs\"\novsdb = \"nowhere\"\n");
    assert!(all.contains("switches.s.ovsdb"), "{all}");
    let ok = parse(
        "name = \"r\"\n[switches.s]\nbackend = \"ovs\"\ndatapath = \"netdev\"\n",
        false,
        "t.toml",
    )
    .unwrap();
    let s = ok.desired.switches.values().next().unwrap();
    assert_eq!(s.datapath.as_deref(), Some("netdev"));
}

#[test]
fn every_backend_declares_its_rules_and_refusals_have_words() {
    for b in swctl::plan::backends() {
        let r = b.rules();
        for why in [r.no_namespace, r.no_vlans, r.no_trunks, r.no_tunnels]
            .into_iter()
            .flatten()
        {
            assert!(why.len() > 20, "{}: {why:?}", b.backend());
        }
        let mut keys: Vec<&str> = r.options.iter().map(|o| o.key).collect();
        keys.dedup();
        assert_eq!(keys.len(), r.options.len(), "{}", b.backend());
    }
}
