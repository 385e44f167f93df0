//! OVN's half of the effect layer: swctl's private OVN central (Northbound
//! and Southbound databases, ovn-northd; `central`) and a machine's
//! ovn-controller, which makes its Open vSwitch a chassis (`chassis`).
//! Like the Open vSwitch sandbox, the only place OVN programs are run;
//! never ovn-nbctl: the Northbound database is written with swctl's own
//! OVSDB client.

pub mod central;
pub mod chassis;
pub mod nb;
