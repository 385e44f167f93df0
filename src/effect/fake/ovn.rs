//! The fake's OVN Northbound: an in-memory OVN_Northbound database per
//! address (`ovsdb::MemDb::northbound`) that executes the very transaction
//! the real effect sends (`effect::ovn::nb::apply_txn`) and is read back by
//! the real reader (`nb::state_of`). An address with no database answers
//! as a server that is not there does.

use super::Fake;
use super::ovsdb::MemDb;
use crate::effect::Northbound;
use crate::effect::ovn::nb::{apply_txn, state_of, state_query};
use crate::model::ovn::{NbChange, NbState};
use crate::ovsdb::{OvsdbError, Server};

fn not_there(addr: &str) -> OvsdbError {
    OvsdbError::NotListening {
        addr: addr.to_string(),
        server: Server::Northbound,
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    }
}

impl Fake {
    /// A Northbound database at `addr` from now on.
    pub fn add_northbound(&self, addr: &str) {
        self.nb
            .lock()
            .unwrap()
            .insert(addr.to_string(), MemDb::northbound());
    }
}

impl Northbound for Fake {
    async fn nb_state(&self, addr: &str) -> Result<NbState, OvsdbError> {
        let mut db = self
            .nb
            .lock()
            .unwrap()
            .get(addr)
            .cloned()
            .ok_or_else(|| not_there(addr))?;
        let q = state_query();
        let r = q.check(&db.transact(&q))?;
        Ok(state_of(&r, addr))
    }

    async fn nb_apply(&self, addr: &str, changes: &[NbChange]) -> Result<(), OvsdbError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.record_transaction(&format!("ovn-nbctl --db={addr} "), changes)?;
        let mut dbs = self.nb.lock().unwrap();
        let db = dbs.get_mut(addr).ok_or_else(|| not_there(addr))?;
        let t = apply_txn(changes);
        t.check(&db.transact(&t))?;
        Ok(())
    }
}
