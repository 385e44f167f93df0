//! A lab's OVN switches, run from the coordinator and the machines'
//! agents: the coordinator brings the Northbound rows to what the file says
//! (`plan::ovn_nb`, one transaction); each simulated machine's agent makes
//! its Open vSwitch a chassis of the lab's central (ovn-controller started
//! in the machine's namespace) before its part is applied, and afterwards
//! waits until ovn-controller has installed every port of the part
//! (`external_ids:ovn-installed`): traffic that starts earlier loses its
//! first ARP (measured: 1 s, the kernel's retry).

use std::time::{Duration, Instant};

use crate::effect::apply::apply;
use crate::effect::ovn::chassis;
use crate::effect::ovs::sandbox::{self, SandboxError};
use crate::effect::{Effects, OvsDb};
use crate::model::names::Owner;
use crate::model::ovn::{chassis_name, lsp_name};
use crate::model::{Backend, Desired, Reach};
use crate::ovsdb::OvsdbError;
use crate::plan::ovn_nb::plan_nb;
use crate::plan::{Plan, Step};

/// Why a lab's OVN part failed, in the user's words.
#[derive(Debug, thiserror::Error)]
pub enum OvnError {
    #[error("the lab has no OVN switch")]
    NoOvn,
    #[error("the Northbound database at {addr}: {error}")]
    Northbound { addr: String, error: OvsdbError },
    #[error("the Southbound database at {addr}: {error}")]
    Southbound { addr: String, error: OvsdbError },
    #[error("this machine's Open vSwitch: {0}")]
    LocalOvs(OvsdbError),
    #[error("cannot make this machine an OVN chassis: {0}")]
    Chassis(SandboxError),
    #[error("OVN chassis {} did not catch up with the Northbound database within {secs} s", .behind.join(", "))]
    Behind { behind: Vec<String>, secs: u64 },
    #[error(transparent)]
    Name(#[from] crate::model::names::InvalidInput),
    #[error("the Northbound changes failed: {0}")]
    Apply(#[from] crate::effect::apply::ApplyError),
}

/// The Northbound part of `verb` (apply, plan, status, destroy) for lab
/// `d` (whole, resolved): what changes (applied for apply and destroy), as
/// an agent's output would say it.
pub async fn northbound<S: Effects>(
    sys: &S,
    d: &Desired,
    verb: &str,
) -> Result<serde_json::Value, OvnError> {
    let Some(ovn) = &d.ovn else {
        return Err(OvnError::NoOvn);
    };
    let at_nb = |error| OvnError::Northbound {
        addr: ovn.nb.clone(),
        error,
    };
    let st = sys.nb_state(&ovn.nb).await.map_err(at_nb)?;
    let want = if verb == "destroy" {
        Desired::new(d.owner.clone())
    } else {
        d.clone()
    };
    let plan = nb_plan(&ovn.nb, plan_nb(&want, &st));
    if matches!(verb, "apply" | "destroy") {
        apply(sys, &plan, false).await?;
    }
    let drift = super::drift::drift(&plan);
    let steps: Vec<String> = plan.steps.iter().map(|c| c.to_string()).collect();
    Ok(serde_json::json!({
        "command": verb,
        "changes": steps.len(),
        "steps": steps,
        "in_sync": drift.in_sync,
        "drift": if verb == "status" {
            serde_json::json!({"differs": drift.differs, "missing": drift.missing, "leaked": drift.leaked})
        } else {
            serde_json::json!({})
        },
    }))
}

/// Northbound `changes` at `nb` as the steps of a plan, run by the one
/// executor (one Northbound transaction, as ovn-nbctl sends a batch).
fn nb_plan(nb: &str, changes: Vec<crate::model::ovn::NbChange>) -> Plan {
    Plan {
        steps: changes
            .into_iter()
            .map(|change| Step::Nb {
                nb: nb.to_string(),
                change,
            })
            .collect(),
        ..Default::default()
    }
}

/// The ports of `d` on its OVN switches.
fn ovn_ports(d: &Desired) -> impl Iterator<Item = &crate::model::PortSpec> {
    d.ports.iter().filter(|p| {
        d.switches
            .get(&p.switch)
            .is_some_and(|s| s.backend == Backend::Ovn)
    })
}

/// Make this machine (an agent's part `p`) a chassis of the lab's central:
/// its Open vSwitch (the simulated machine's own, in `dir`) configured and
/// ovn-controller started here, in the machine's namespace.
pub async fn make_chassis(p: &Desired, dir: &std::path::Path) -> Result<(), OvnError> {
    let (Some(ovn), Some(m)) = (&p.ovn, p.owner.machine()) else {
        return Ok(());
    };
    let m: Owner = m.parse()?;
    let Some(spec) = p.machines.get(&m) else {
        return Ok(());
    };
    if !matches!(spec.reach, Reach::Netns(_)) {
        // a real machine is a chassis of its own making (its ovn-controller
        // and settings are its administrator's): the plan says when not
        return Ok(());
    }
    let client = crate::ovsdb::Client::connect(&sandbox::address(dir))
        .await
        .map_err(OvnError::LocalOvs)?;
    let cfg = chassis::ChassisConfig {
        system_id: chassis_name(p.owner.lab(), &m),
        remote: ovn.sb.clone(),
        encap_ip: spec.vtep,
        datapath: if crate::effect::ovs::datapath::kernel_datapath() {
            "system".into()
        } else {
            "netdev".into()
        },
    };
    chassis::configure(&client, &cfg)
        .await
        .map_err(OvnError::Chassis)?;
    chassis::start(dir, &client)
        .await
        .map_err(OvnError::Chassis)
}

/// Wait until ovn-controller has installed every OVN port of part `p` on
/// this machine (its Interface's `external_ids:ovn-installed=true`); the
/// ports still waiting when `limit` is up, otherwise.
pub async fn await_installed<S: OvsDb>(
    sys: &S,
    p: &Desired,
    limit: Duration,
) -> Result<(), Vec<String>> {
    let ids: Vec<String> = ovn_ports(p)
        .map(|x| lsp_name(p.owner.lab(), &x.ns, &x.switch))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let t = Instant::now();
    loop {
        let st = sys.ovs_state().await.ok().and_then(|r| r.ok());
        let waiting: Vec<String> = ids
            .iter()
            .filter(|id| {
                !st.as_ref().is_some_and(|st| {
                    st.bridges
                        .iter()
                        .flat_map(|b| b.ports.iter())
                        .flat_map(|p| p.ifaces.iter())
                        .any(|i| {
                            i.external_ids.get("iface-id") == Some(id)
                                && i.external_ids.get("ovn-installed").map(String::as_str)
                                    == Some("true")
                        })
                })
            })
            .cloned()
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if t.elapsed() > limit {
            return Err(waiting);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// After every machine's part: wait until each chassis of the lab has
/// caught up with the Northbound database as it is now (`nb_cfg` bumped,
/// then each of the lab's chassis' `Chassis_Private.nb_cfg` in the
/// Southbound database at least that: what `ovn-nbctl --wait=hv` waits
/// for, but only for this lab's chassis, so that a chassis of another lab
/// that is down does not hold this one). Then a host's first ARP to
/// another machine is answered.
pub async fn await_chassis(d: &Desired, limit: Duration) -> Result<(), OvnError> {
    use crate::ovsdb::ops::{Expect, Op, Txn};
    let Some(ovn) = &d.ovn else { return Ok(()) };
    let at_nb = |error| OvnError::Northbound {
        addr: ovn.nb.clone(),
        error,
    };
    let at_sb = |error| OvnError::Southbound {
        addr: ovn.sb.clone(),
        error,
    };
    let nb = crate::ovsdb::Client::connect_to(&ovn.nb, crate::ovsdb::Server::Northbound)
        .await
        .map_err(at_nb)?;
    let mut t = Txn::for_db(crate::effect::ovn::central::NB_DB);
    t.push(
        Op::Mutate {
            table: "NB_Global".into(),
            wh: vec![],
            mutations: vec![serde_json::json!(["nb_cfg", "+=", 1])],
        },
        Expect::Count(1),
    );
    let sel = t.push(
        Op::Select {
            table: "NB_Global".into(),
            wh: vec![],
            columns: Some(vec!["nb_cfg".into()]),
        },
        Expect::Any,
    );
    let r = nb.transact(&t).await.map_err(at_nb)?;
    let want = r[sel]["rows"][0]["nb_cfg"].as_i64().unwrap_or(0);
    // the chassis of machines with OVN ports
    let names: Vec<String> = ovn_ports(d)
        .filter_map(|p| d.placement.get(&p.ns))
        .map(|m| chassis_name(d.owner.lab(), m))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let sb = crate::ovsdb::Client::connect_to(&ovn.sb, crate::ovsdb::Server::Southbound)
        .await
        .map_err(at_sb)?;
    let t0 = Instant::now();
    loop {
        let mut t = Txn::for_db("OVN_Southbound");
        t.push(
            Op::Select {
                table: "Chassis_Private".into(),
                wh: vec![],
                columns: Some(vec!["name".into(), "nb_cfg".into()]),
            },
            Expect::Any,
        );
        let r = sb.transact(&t).await.map_err(at_sb)?;
        let rows = r[0]["rows"].as_array().cloned().unwrap_or_default();
        let behind: Vec<String> = names
            .iter()
            .filter(|n| {
                !rows.iter().any(|x| {
                    x["name"].as_str() == Some(n.as_str())
                        && x["nb_cfg"].as_i64().is_some_and(|c| c >= want)
                })
            })
            .cloned()
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if t0.elapsed() > limit {
            return Err(OvnError::Behind {
                behind,
                secs: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The Northbound rows of labs that are no longer applied, in swctl's own
/// central (a lab's `[ovn]` elsewhere is known only while it is applied):
/// removed, lab by lab, by their marks. The labs they were of.
pub async fn gc_northbound<S: Effects>(
    sys: &S,
    live: &std::collections::BTreeSet<Owner>,
    dry_run: bool,
) -> Result<Vec<Owner>, OvnError> {
    let dir = std::path::Path::new(crate::effect::paths::OVN_DIR);
    let addr = crate::effect::ovn::central::nb_address(dir);
    let st = match sys.nb_state(&addr).await {
        Ok(st) => st,
        // no central here (or not a Northbound one): nothing to collect
        Err(
            OvsdbError::NotListening { .. } | OvsdbError::Connect { .. } | OvsdbError::Schema(_),
        ) => {
            return Ok(vec![]);
        }
        Err(error) => return Err(OvnError::Northbound { addr, error }),
    };
    let dead: std::collections::BTreeSet<Owner> = st
        .switches
        .iter()
        .filter_map(|s| s.owner())
        .filter(|o| !live.contains(o) && o.machine().is_none())
        .collect();
    if !dry_run {
        let changes = dead
            .iter()
            .flat_map(|o| plan_nb(&Desired::new(o.clone()), &st))
            .collect();
        apply(sys, &nb_plan(&addr, changes), false).await?;
    }
    Ok(dead.into_iter().collect())
}
