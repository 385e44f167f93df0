//! One OpenFlow session with an OVS bridge over its management socket
//! (`BRIDGE.mgmt` in ovs-vswitchd's run directory: the socket `ovs-ofctl
//! add-flow BRIDGE` talks to), driven from tokio: the version negotiated
//! (1.3 or 1.4), flow-mods written in one batch closed by a barrier and
//! each error the switch sends matched to the flow that caused it, flows
//! read with the flow-stats multipart. The codec is `crate::openflow`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::openflow::{self, CodecError, FlowStats, Msg, OFP13, OFP14};

/// How long swctl waits for the switch at each step.
const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OfError {
    #[error(
        "cannot open bridge {bridge}'s OpenFlow socket {path} ({why}): is ovs-vswitchd running, and is {bridge} an OVS bridge?"
    )]
    Connect {
        bridge: String,
        path: String,
        why: String,
    },
    #[error(
        "bridge {bridge} speaks neither OpenFlow 1.3 nor 1.4 (it offered versions {offered}); add OpenFlow13 to its protocols (protocols = [\"OpenFlow13\"])"
    )]
    Version { bridge: String, offered: String },
    #[error("bridge {bridge} refused {what}: {words}")]
    Refused {
        bridge: String,
        what: String,
        words: String,
    },
    #[error("the OpenFlow session with bridge {bridge} ended ({why})")]
    Closed { bridge: String, why: String },
    #[error("bridge {bridge} did not answer within {} s", WAIT.as_secs())]
    Timeout { bridge: String },
    #[error("bridge {bridge} sent what swctl cannot read: {source}")]
    Codec {
        bridge: String,
        #[source]
        source: CodecError,
    },
}

/// Where ovs-vswitchd keeps `bridge`'s management socket: beside the
/// OVSDB socket of its server (ovs-vswitchd and ovsdb-server share a run
/// directory, swctl's sandbox and Debian's alike), else Debian's run
/// directory.
pub fn mgmt_path(ovsdb: &str, bridge: &str) -> PathBuf {
    let dir = ovsdb
        .strip_prefix("unix:")
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/run/openvswitch"));
    dir.join(format!("{bridge}.mgmt"))
}

/// The switch's error in words (OpenFlow 1.3's error types; the code as
/// the number the spec gives it).
fn words(kind: u16, code: u16) -> String {
    let t = match kind {
        1 => "bad request",
        2 => "bad action",
        3 => "bad instruction",
        4 => "bad match",
        5 => match code {
            1 => return "the flow table is full".into(),
            2 => return "no such table".into(),
            3 => return "it overlaps a flow already there".into(),
            5 => return "bad timeout".into(),
            _ => "flow-mod failed",
        },
        _ => "error",
    };
    format!("{t} (OpenFlow error type {kind}, code {code})")
}

pub struct OfSession {
    bridge: String,
    stream: UnixStream,
    pub version: u8,
    xid: u32,
    buf: Vec<u8>,
}

impl OfSession {
    /// Connect and agree on a version (`ovs-ofctl -O OpenFlow13,OpenFlow14`).
    pub async fn connect(ovsdb: &str, bridge: &str) -> Result<OfSession, OfError> {
        let path = mgmt_path(ovsdb, bridge);
        let stream = UnixStream::connect(&path)
            .await
            .map_err(|e| OfError::Connect {
                bridge: bridge.into(),
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
        let mut s = OfSession {
            bridge: bridge.into(),
            stream,
            version: OFP13,
            xid: 0,
            buf: vec![],
        };
        let ours = 1u32 << OFP13 | 1u32 << OFP14;
        s.send(&Msg::Hello { versions: ours }).await?;
        let theirs = loop {
            match s.recv().await? {
                (_, Msg::Hello { versions }) => break versions,
                _ => continue,
            }
        };
        let common = ours & theirs;
        if common == 0 {
            let offered: Vec<String> = (1..8)
                .filter(|v| theirs & (1 << v) != 0)
                .map(|v| format!("1.{}", v - 1))
                .collect();
            return Err(OfError::Version {
                bridge: bridge.into(),
                offered: offered.join(", "),
            });
        }
        s.version = 31 - common.leading_zeros() as u8;
        Ok(s)
    }

    fn next_xid(&mut self) -> u32 {
        self.xid = self.xid.wrapping_add(1);
        self.xid
    }

    async fn send(&mut self, m: &Msg) -> Result<u32, OfError> {
        let xid = self.next_xid();
        let bytes = openflow::encode(self.version, xid, m);
        self.write(&bytes).await?;
        Ok(xid)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), OfError> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| OfError::Closed {
                bridge: self.bridge.clone(),
                why: e.to_string(),
            })
    }

    /// The next message, within `WAIT`.
    async fn recv(&mut self) -> Result<(u32, Msg), OfError> {
        self.recv_within(Some(WAIT)).await
    }

    /// The next message, however long it takes (a monitor's).
    async fn recv_wait(&mut self) -> Result<(u32, Msg), OfError> {
        self.recv_within(None).await
    }

    /// The next message (echo requests answered on the way).
    async fn recv_within(&mut self, wait: Option<Duration>) -> Result<(u32, Msg), OfError> {
        loop {
            if let Some(n) = openflow::frame_len(&self.buf)
                && self.buf.len() >= n.max(8)
            {
                let frame: Vec<u8> = self.buf.drain(..n.max(8)).collect();
                let (_, xid, m) = openflow::decode(&frame).map_err(|source| OfError::Codec {
                    bridge: self.bridge.clone(),
                    source,
                })?;
                if let Msg::EchoRequest(d) = m {
                    let reply = openflow::encode(self.version, xid, &Msg::EchoReply(d));
                    self.write(&reply).await?;
                    continue;
                }
                return Ok((xid, m));
            }
            let mut chunk = [0u8; 65536];
            let read = self.stream.read(&mut chunk);
            let n = match wait {
                Some(w) => tokio::time::timeout(w, read)
                    .await
                    .map_err(|_| OfError::Timeout {
                        bridge: self.bridge.clone(),
                    })?,
                None => read.await,
            }
            .map_err(|e| OfError::Closed {
                bridge: self.bridge.clone(),
                why: e.to_string(),
            })?;
            if n == 0 {
                return Err(OfError::Closed {
                    bridge: self.bridge.clone(),
                    why: "the switch closed it".into(),
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Flow-mods in one write, then a barrier (`ovs-ofctl add-flows`
    /// sends the same); done when the barrier's reply is in, every error
    /// before it named by its flow (`what`).
    pub async fn flow_mods(&mut self, mods: &[(String, Msg)]) -> Result<(), OfError> {
        let first = self.xid.wrapping_add(1);
        let mut bytes = vec![];
        for (_, m) in mods {
            let xid = self.next_xid();
            bytes.extend(openflow::encode(self.version, xid, m));
        }
        let barrier = self.next_xid();
        bytes.extend(openflow::encode(
            self.version,
            barrier,
            &Msg::BarrierRequest,
        ));
        self.write(&bytes).await?;
        let mut refused: Option<OfError> = None;
        loop {
            match self.recv().await? {
                (x, Msg::BarrierReply) if x == barrier => break,
                (x, Msg::Error { kind, code }) => {
                    let i = x.wrapping_sub(first) as usize;
                    let what = mods
                        .get(i)
                        .map(|(w, _)| w.clone())
                        .unwrap_or_else(|| "a request".into());
                    refused.get_or_insert(OfError::Refused {
                        bridge: self.bridge.clone(),
                        what,
                        words: words(kind, code),
                    });
                }
                _ => {}
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// Ask for every flow change from now on (OpenFlow 1.4's flow
    /// monitor; `ovs-ofctl monitor BR watch:`); then `updates`.
    pub async fn monitor(&mut self) -> Result<(), OfError> {
        if self.version < OFP14 {
            return Err(OfError::Version {
                bridge: self.bridge.clone(),
                offered: "1.3 only (watching flows needs OpenFlow 1.4)".into(),
            });
        }
        let id = self.xid;
        self.send(&Msg::FlowMonitorRequest { id }).await?;
        Ok(())
    }

    /// The next flow changes a monitor reports (waits for them; the
    /// switch's echo requests answered meanwhile).
    pub async fn updates(&mut self) -> Result<Vec<openflow::FlowUpdate>, OfError> {
        loop {
            match self.recv_wait().await? {
                (_, Msg::FlowUpdates(u)) if !u.is_empty() => return Ok(u),
                (_, Msg::Error { kind, code }) => {
                    return Err(OfError::Refused {
                        bridge: self.bridge.clone(),
                        what: "the flow monitor".into(),
                        words: words(kind, code),
                    });
                }
                _ => {}
            }
        }
    }

    /// Every flow whose cookie matches `cookie` under `mask`
    /// (`ovs-ofctl dump-flows BR cookie=C/M`; mask 0: all).
    pub async fn dump(&mut self, cookie: u64, mask: u64) -> Result<Vec<FlowStats>, OfError> {
        let xid = self
            .send(&Msg::FlowStatsRequest {
                cookie,
                cookie_mask: mask,
            })
            .await?;
        let mut out = vec![];
        loop {
            match self.recv().await? {
                (x, Msg::FlowStatsReply { more, flows }) if x == xid => {
                    out.extend(flows);
                    if !more {
                        return Ok(out);
                    }
                }
                (x, Msg::Error { kind, code }) if x == xid => {
                    return Err(OfError::Refused {
                        bridge: self.bridge.clone(),
                        what: "the flow dump".into(),
                        words: words(kind, code),
                    });
                }
                _ => {}
            }
        }
    }
}

/// Run each `Step::Flows` of a phase: the bridge read again from OVSDB
/// (its ports are numbered by now), the batch's names resolved, its
/// flow-mods sent. One result per step, in order.
pub async fn run_batches<S: super::OvsDb + super::FlowTables>(
    sys: &S,
    steps: &[&crate::plan::Step],
) -> Vec<Result<(), super::StepError>> {
    use super::StepError;
    if steps.is_empty() {
        return vec![];
    }
    let st = match sys.ovs_state().await {
        Ok(Ok(st)) => st,
        r => {
            let why = match r {
                Ok(Err(why)) => why,
                Err(e) => e.to_string(),
                Ok(Ok(_)) => unreachable!("matched above"),
            };
            return steps
                .iter()
                .map(|_| {
                    Err(StepError::Flows {
                        bridge: "?".into(),
                        why: why.clone(),
                    })
                })
                .collect();
        }
    };
    let mut out = vec![];
    for s in steps {
        let crate::plan::Step::Flows(b) = s else {
            out.push(Ok(()));
            continue;
        };
        let r = async {
            let bridge = st
                .bridges
                .iter()
                .find(|x| x.name == b.bridge && x.db == b.db)
                .ok_or_else(|| StepError::Flows {
                    bridge: b.bridge.clone(),
                    why: "the bridge is not there".into(),
                })?;
            let mods = b.messages(bridge).map_err(|why| StepError::Flows {
                bridge: b.bridge.clone(),
                why,
            })?;
            sys.flow_mods(&b.db, &b.bridge, &mods).await?;
            Ok(())
        };
        out.push(r.await);
    }
    out
}
