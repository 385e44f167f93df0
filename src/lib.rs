//! swctl: a switching manager for Linux network namespaces.
//!
//! The layers, each a directory, each depending only on the ones above it:
//!
//! - `model`: pure data: validated names, desired and observed state,
//!   ownership marks, OVS rows.
//! - `plan`: the pure planner, `plan(&Desired, &Observed, &Scope) -> Plan`,
//!   with the switch backends behind the `Switch` trait.
//! - `ovsdb`: swctl's own OVSDB (RFC 7047) client and operation builders.
//! - `effect`: everything that touches the system: the effect traits and
//!   their real (kernel, OVSDB) and fake implementations, `observe`, `apply`.
//! - `lab`: topologies: files, apply/destroy/status/gc, `check`.
//! - `bench`: `swctl bench`.
//! - `cli`: the command line.
//!
//! `hook` (test hooks, compiled only with the `test-hooks` feature) is a
//! leaf every layer may call.

pub mod bench;
pub mod cli;
pub mod effect;
pub mod hook;
pub mod lab;
pub mod model;
pub mod openflow;
pub mod ovsdb;
pub mod plan;
