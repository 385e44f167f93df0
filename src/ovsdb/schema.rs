//! The Open_vSwitch schema swctl is written against: the pinned copy in
//! ovs-schema/vswitch.ovsschema, the tables and columns swctl reads and
//! writes, and the compatibility check against a server's own schema.

use serde_json::Value;

/// The schema swctl was built and tested against (Open vSwitch 3.1, schema 8.3.1).
pub const PINNED: &str = include_str!("../../ovs-schema/vswitch.ovsschema");

/// Every table and column swctl uses (tested against every column the
/// transaction builders write: `effect::ovs::txn`'s tests).
pub const USED: &[(&str, &[&str])] = &[
    (
        "Open_vSwitch",
        &[
            "bridges",
            "next_cfg",
            "cur_cfg",
            "datapath_types",
            "external_ids",
            "ovs_version",
            "other_config",
        ],
    ),
    (
        "Bridge",
        &[
            "name",
            "ports",
            "fail_mode",
            "stp_enable",
            "rstp_enable",
            "datapath_type",
            "external_ids",
            "other_config",
            "protocols",
            "controller",
            "datapath_id",
            "mirrors",
        ],
    ),
    (
        "Mirror",
        &[
            "name",
            "select_all",
            "select_src_port",
            "select_dst_port",
            "select_vlan",
            "output_port",
            "external_ids",
        ],
    ),
    (
        "Controller",
        &["target", "is_connected", "role", "external_ids"],
    ),
    (
        "Port",
        &[
            "name",
            "interfaces",
            "external_ids",
            "tag",
            "protected",
            "trunks",
            "vlan_mode",
            "bond_mode",
            "lacp",
            "other_config",
        ],
    ),
    (
        "Interface",
        &[
            "name",
            "type",
            "ofport",
            "error",
            "external_ids",
            "options",
            "mtu_request",
            "mac",
            "link_state",
            "lacp_current",
        ],
    ),
];

/// What a server's schema lacks of what swctl uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    #[error("the database is {0:?}, not Open_vSwitch")]
    NotOpenVswitch(String),
    #[error("table {0} is missing")]
    Table(&'static str),
    #[error("column {0}.{1} is missing")]
    Column(&'static str, &'static str),
}

/// Whether `schema` (a `get_schema` answer or the pinned file) has every
/// table and column swctl uses; the first one missing otherwise.
pub fn check(schema: &Value) -> Result<(), SchemaMismatch> {
    let name = schema.get("name").and_then(|n| n.as_str()).unwrap_or("?");
    if name != "Open_vSwitch" {
        return Err(SchemaMismatch::NotOpenVswitch(name.to_string()));
    }
    for (table, cols) in USED {
        let t = schema
            .get("tables")
            .and_then(|t| t.get(*table))
            .ok_or(SchemaMismatch::Table(table))?;
        for c in *cols {
            if t.get("columns").and_then(|cs| cs.get(*c)).is_none() {
                return Err(SchemaMismatch::Column(table, c));
            }
        }
    }
    Ok(())
}

/// The pinned schema's version string.
pub fn pinned_version() -> String {
    let v: Value = serde_json::from_str(PINNED).expect("pinned schema is JSON");
    v["version"].as_str().unwrap_or("?").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_schema_has_everything_swctl_uses() {
        let v: Value = serde_json::from_str(PINNED).unwrap();
        check(&v).unwrap();
        assert_eq!(pinned_version(), "8.3.1");
    }

    #[test]
    fn a_missing_column_is_named() {
        let mut v: Value = serde_json::from_str(PINNED).unwrap();
        v["tables"]["Interface"]["columns"]
            .as_object_mut()
            .unwrap()
            .remove("ofport");
        let e = check(&v).unwrap_err();
        assert_eq!(e, SchemaMismatch::Column("Interface", "ofport"));
        assert_eq!(e.to_string(), "column Interface.ofport is missing");
    }
}
