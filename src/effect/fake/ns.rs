//! The fake's namespaces (`Namespaces`): made marked on their `lo` as
//! `netns::create_many` makes them, deleted with their devices, listed,
//! their sysctls kept per location.

use super::*;

impl Namespaces for Fake {
    async fn create_ns(&self, names: &[NsName], owner: &Owner) -> Vec<Result<(), NlError>> {
        let mut out = Vec::new();
        for n in names {
            let op = format!("ip netns add {n}");
            if let Err(e) = self.record(op.clone()) {
                out.push(Err(e));
                continue;
            }
            let mut sys = self.sys.lock().unwrap();
            if sys.namespaces.contains_key(n) {
                out.push(Err(err(op, libc::EEXIST)));
                continue;
            }
            let mut st = LocObs::default();
            // marked and up, as netns::create_many makes it
            let mark = Mark::Ns {
                owner: owner.clone(),
            };
            let mut lo = self.new_link("lo", "loopback", &mark.to_alias());
            lo.kind = None;
            st.links.push(lo);
            st.forward = Some(false);
            sys.namespaces.insert(
                n.clone(),
                NsObs {
                    owner: Some(owner.clone()),
                    state: st,
                    adopted: None,
                    host: Default::default(),
                },
            );
            self.new_ns_id(n);
            out.push(Ok(()));
        }
        out
    }

    async fn delete_ns(&self, names: &[NsName]) -> Vec<Result<(), NlError>> {
        names.iter().map(|n| self.delete_one_ns(n)).collect()
    }

    fn list_ns(&self) -> Result<Vec<NsName>, NlError> {
        let sys = self.sys.lock().unwrap();
        Ok(sys.namespaces.keys().cloned().collect())
    }

    fn set_forward(&self, ns: &NsName, on: bool) -> Result<(), NlError> {
        self.record(format!(
            "ip netns exec {ns} sysctl -w net.ipv4.ip_forward={}",
            on as u8
        ))?;
        let mut sys = self.sys.lock().unwrap();
        let o = sys
            .namespaces
            .get_mut(ns)
            .ok_or_else(|| err(format!("sysctl in {ns}"), libc::ENOENT))?;
        o.state.forward = Some(on);
        Ok(())
    }

    fn set_sysctl(&self, loc: &Loc, key: &str, value: &str) -> Result<(), NlError> {
        self.record(format!("{loc}: sysctl -w {key}={value}"))?;
        let dev = key.strip_prefix("net/ipv4/conf/");
        if let Some(dev) = dev.and_then(|k| k.strip_suffix("/arp_ignore")) {
            let v = value.parse().map_err(|_| err(key.into(), libc::EINVAL))?;
            self.with_loc(loc, key, |st| {
                let l = st.links.iter_mut().find(|l| l.name == dev);
                l.map(|l| l.arp_ignore = Some(v))
                    .ok_or(err(key.into(), libc::ENOENT))
            })?;
        }
        self.sysctls
            .lock()
            .unwrap()
            .insert((loc.clone(), key.to_string()), value.to_string());
        Ok(())
    }

    fn sysctl(&self, loc: &Loc, key: &str) -> Result<String, NlError> {
        let set = self.sysctls.lock().unwrap();
        match set.get(&(loc.clone(), key.to_string())) {
            Some(v) => Ok(v.clone()),
            None if key == crate::model::BACKLOG_KEY => Ok("1000".into()),
            None => Err(err(format!("sysctl {key}"), libc::ENOENT)),
        }
    }

    fn forward(&self, ns: &NsName) -> Result<bool, NlError> {
        let sys = self.sys.lock().unwrap();
        Ok(sys
            .namespaces
            .get(ns)
            .and_then(|o| o.state.forward)
            .unwrap_or(false))
    }
}
