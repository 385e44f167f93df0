//! The data model: pure data, no I/O. What the user wants (`desired`), what
//! the system has (`observed`, including the OVS rows in `ovs` and OVN's
//! Northbound rows in `ovn`), the
//! ownership marks swctl writes on everything it creates (`mark`), and the
//! validated names and addresses everything is keyed by (`names`).
//!
//! Every other layer depends on this one; it depends on nothing of swctl's.

pub mod bond;
pub mod desired;
pub mod end;
pub mod host;
pub mod impair;
pub mod mac;
pub mod mark;
pub mod mirror;
pub mod names;
pub mod observed;
pub mod openflow;
pub mod ovn;
pub mod ovs;
pub mod ovs_text;
pub mod part;
pub mod tso;

pub use desired::*;
pub use end::{End, EndSpec};
pub use mark::*;
pub use observed::*;
