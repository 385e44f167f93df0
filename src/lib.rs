//! swctl: a switching manager for Linux network namespaces.
//!
//! Layers, each in its own module: `names` (validated input) → `model`
//! (desired/observed state, ownership marks) → `plan` (pure planner) →
//! `apply` (effects through the `netlink` traits) → backends (`switch`).
//! `cli` is the command line on top; `fake` is the recording fake of the
//! effect traits used by the tests.

pub mod apply;
pub mod bench;
pub mod check;
pub mod cli;
pub mod fake;
pub mod lab;
pub mod lock;
pub mod model;
pub mod names;
pub mod netlink;
pub mod netns;
pub mod ovs;
pub mod ovsdb;
pub mod plan;
pub mod sandbox;
pub mod switch;
pub mod topology;
