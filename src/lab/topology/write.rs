//! A desired state written back as a topology file (TOML) that `parse`
//! reads into the same desired state: what `swctl bench --scale` hands to
//! `swctl apply` as a child process.

use std::fmt::Write as _;

use crate::model::impair::Impair;
use crate::model::{Backend, Desired, EndSpec, Reach, Via};

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("\"{x}\"")).collect();
    format!("[{}]", items.join(", "))
}

/// The topology file of `d` (name = its owner).
pub fn to_toml(d: &Desired) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "name = \"{}\"", d.owner);
    for (name, m) in &d.machines {
        let _ = writeln!(t, "\n[machines.{name}]\nvtep = \"{}\"", m.vtep);
        let _ = match &m.reach {
            Reach::Local => writeln!(t, "reach = \"local\""),
            Reach::Ssh(dest) => writeln!(t, "reach = \"ssh:{dest}\""),
            Reach::Netns(ns) => writeln!(t, "netns = \"{ns}\""),
        };
        if let Some(m) = m.mtu {
            let _ = writeln!(t, "mtu = {m}");
        }
    }
    if !d.names.is_empty() {
        let _ = writeln!(t, "\n[names]");
        for (n, addrs) in &d.names {
            let a: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
            let _ = writeln!(t, "\"{n}\" = [{}]", a.join(", "));
        }
    }
    if let Some(o) = &d.ovn {
        let _ = writeln!(t, "\n[ovn]\nnb = \"{}\"\nsb = \"{}\"", o.nb, o.sb);
    }
    for (name, s) in &d.switches {
        let _ = writeln!(t, "\n[switches.{name}]");
        let backend = match s.backend {
            Backend::Bridge => "bridge",
            Backend::Ovs => "ovs",
            Backend::Ovn => "ovn",
        };
        let _ = writeln!(t, "backend = \"{backend}\"");
        if !s.addrs.is_empty() {
            let _ = writeln!(t, "address = {}", list(&s.addrs));
        }
        if let Some(n) = s.loc.ns() {
            let _ = writeln!(t, "namespace = \"{n}\"");
        }
        // each backend's options, as they are kept (`Rules::options`)
        for o in crate::plan::switch::all_options() {
            // a JSON string, number, boolean or list is TOML as written
            if let Some(x) = (o.get)(s) {
                let _ = writeln!(t, "{} = {x}", o.key);
            }
        }
        if let Some(sp) = d.spans.get(name) {
            let _ = writeln!(t, "span = \"vxlan\"");
            if let Some(v) = sp.vni {
                let _ = writeln!(t, "vni = {v}");
            }
        }
    }
    for (name, r) in &d.routers {
        let _ = writeln!(t, "\n[routers.{name}]");
        for p in &r.ports {
            let _ = writeln!(
                t,
                "[[routers.{name}.ports]]\nswitch = \"{}\"\nip = {}",
                p.switch,
                list(&p.addrs)
            );
        }
    }
    for (ns, spec) in &d.namespaces {
        let _ = writeln!(t, "\n[hosts.{ns}]");
        if let Some(m) = d.placement.get(ns) {
            let _ = writeln!(t, "machine = \"{m}\"");
        }
        if let Some(f) = spec.forward {
            let _ = writeln!(t, "forward = {f}");
        }
        if !spec.routes.is_empty() {
            let routes: Vec<String> = spec
                .routes
                .iter()
                .map(|r| format!("{{ to = \"{}\", via = \"{}\" }}", r.dest, r.via))
                .collect();
            let _ = writeln!(t, "routes = [{}]", routes.join(", "));
        }
        for p in d.ports.iter().filter(|p| &p.ns == ns) {
            let _ = writeln!(t, "[[hosts.{ns}.ports]]\nswitch = \"{}\"", p.switch);
            end_keys(&mut t, &[("", &p.end)], &p.end);
            if p.via != Via::Auto {
                let _ = writeln!(t, "via = \"{}\"", p.via);
            }
            if let Some(i) = &p.ifname {
                let _ = writeln!(t, "ifname = \"{i}\"");
            }
            if let Some(v) = p.vlan {
                let _ = writeln!(t, "vlan = {v}");
            }
        }
    }
    for l in &d.links {
        let _ = writeln!(t, "\n[[links]]\na = \"{}\"\nb = \"{}\"", l.a, l.b);
        end_keys(&mut t, &[("a_", &l.a_end), ("b_", &l.b_end)], &l.a_end);
        if let Some(i) = &l.a_ifname {
            let _ = writeln!(t, "a_ifname = \"{i}\"");
        }
        if let Some(i) = &l.b_ifname {
            let _ = writeln!(t, "b_ifname = \"{i}\"");
        }
    }
    for e in &d.expect {
        let _ = writeln!(
            t,
            "\n[[expect]]\nfrom = \"{}\"\nto = \"{}\"\nreach = {}\nwithin = \"{}ms\"",
            e.from,
            e.to,
            e.reach,
            e.within.as_millis()
        );
    }
    for k in &d.trunks {
        let _ = writeln!(t, "\n[[trunks]]\na = \"{}\"\nb = \"{}\"", k.a, k.b);
        if !k.vlans.is_empty() {
            let v: Vec<String> = k.vlans.iter().map(|v| v.to_string()).collect();
            let _ = writeln!(t, "vlans = [{}]", v.join(", "));
        }
        if let Some(n) = k.native {
            let _ = writeln!(t, "native = {n}");
        }
        if let Some(b) = &k.bond {
            let _ = writeln!(t, "bond = {}", b.to_toml());
        }
        end_keys(&mut t, &[], &k.end);
    }
    t
}

/// A device's ends' keys (what the validator's `shared_end`/`own_end`
/// read): each end's own (`sides`: prefix and end), then those they share
/// (from `shared`); impairments shared when every end has the same, else
/// each end's under its prefix.
fn end_keys(t: &mut String, sides: &[(&str, &EndSpec)], shared: &EndSpec) {
    for (side, e) in sides {
        if !e.addrs.is_empty() {
            let _ = writeln!(t, "{side}ip = {}", list(&e.addrs));
        }
    }
    // every field named: a new one is written here or not at all
    let EndSpec {
        addrs: _,
        mtu,
        impair,
    } = shared;
    if let Some(m) = mtu {
        let _ = writeln!(t, "mtu = {m}");
    }
    let alike = sides.iter().all(|(_, e)| e.impair == *impair);
    let each: Vec<(&str, Option<Impair>)> = if alike {
        vec![("", *impair)]
    } else {
        sides.iter().map(|(side, e)| (*side, e.impair)).collect()
    };
    for (side, i) in each {
        for (k, v) in i.unwrap_or_default().values() {
            if k == "limit" {
                let _ = writeln!(t, "{side}{k} = {v}");
            } else {
                let _ = writeln!(t, "{side}{k} = \"{v}\"");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn a_written_file_reads_back_the_same() {
        let text = r#"
name = "lab"
[switches.sw0]
backend = "ovs"
address = ["198.18.0.254/24"]
datapath = "netdev"
ovsdb = "unix:/run/other/db.sock"
[switches.br1]
backend = "bridge"
namespace = "core"
[switches.br2]
backend = "bridge"
namespace = "core"
[hosts.core]
[hosts.h1]
forward = true
routes = [{ to = "default", via = "198.18.0.254" }]
[[hosts.h1.ports]]
switch = "sw0"
ip = ["198.18.0.1/24", "2001:db8::1/64"]
via = "veth"
ifname = "eth7"
vlan = 10
mtu = 9000
[[hosts.h1.ports]]
switch = "br1"
[hosts.h2]
[[links]]
a = "h1"
b = "h2"
a_ip = "198.19.0.1/30"
b_ip = "198.19.0.2/30"
b_ifname = "up"
[[trunks]]
a = "br2"
b = "br1"
mtu = 1400
"#;
        let d = parse(text, false, "t").unwrap().desired;
        let sw0 = &d.switches[&"sw0".parse().unwrap()];
        assert_eq!(sw0.datapath.as_deref(), Some("netdev"));
        assert_eq!(sw0.ovsdb.as_deref(), Some("unix:/run/other/db.sock"));
        let again = parse(&to_toml(&d), false, "w").unwrap().desired;
        assert_eq!(d, again);
    }
}
