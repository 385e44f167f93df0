//! What a host runs and is set to, beyond its wires: its sysctls
//! (`sysctls = { "net.ipv4.conf.all.rp_filter" = "0" }`, only `net.*`: the
//! rest belongs to the machine, not to a network namespace), the processes
//! swctl keeps running in it (`run = ["CMD", { name = "web", cmd = "CMD"
//! }]`) and the one-shot commands run once it is made (`exec = ["CMD"]`).
//! The values and their rules; planned by `plan::host`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::names::{NsName, Owner};

/// A sysctl key in its dotted form, checked: `net.` and then words of
/// `a-z A-Z 0-9 _ -` (a device's name in the `net.ipv4.conf.DEV.` keys
/// may have more: the path form `net/ipv4/conf/DEV/KEY` keeps it whole).
pub fn sysctl_key(k: &str) -> Result<String, String> {
    let dotted = k.contains('/');
    let parts: Vec<&str> = if dotted {
        k.split('/').collect()
    } else {
        k.split('.').collect()
    };
    if parts.first() != Some(&"net") || parts.len() < 3 {
        return Err(format!(
            "{k:?}: only net.* sysctls belong to a host (a network namespace); the others are the machine's"
        ));
    }
    let word_ok = |w: &str| {
        !w.is_empty()
            && w != ".."
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-@:".contains(c) || (dotted && c == '.'))
    };
    if let Some(w) = parts.iter().find(|w| !word_ok(w)) {
        return Err(format!("{k:?}: {w:?} is not a sysctl name's part"));
    }
    Ok(k.to_string())
}

/// A sysctl's value as the file gives it (a string, a number, a boolean)
/// in the kernel's words: whitespace as one space (`tcp_rmem`'s three
/// numbers read back tab-separated).
pub fn sysctl_value(v: &Value) -> Result<String, String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => (if *b { "1" } else { "0" }).to_string(),
        other => {
            return Err(format!(
                "a sysctl's value is a string or a number, not {other}"
            ));
        }
    };
    Ok(normal(&s))
}

/// A value with its whitespace made single spaces (how both the file's and
/// the kernel's are compared).
pub fn normal(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A process swctl keeps running in a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSpec {
    /// its name among the host's (`swctl logs HOST NAME`): given, or the
    /// command's first word's base name (`zebra`), `-2`.. when taken
    pub name: String,
    /// run by `/bin/sh -c` in the host
    pub cmd: String,
}

/// The keys of a `run` entry given as a table.
pub const RUN_KEYS: &[&str] = &["name", "cmd"];

fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !n.starts_with('.')
}

impl RunSpec {
    /// A host's `run` list (strings, or `{ name, cmd }` tables), each
    /// named, names unique.
    pub fn list_from_json(v: &Value) -> Result<Vec<RunSpec>, String> {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        let mut out: Vec<RunSpec> = vec![];
        for (i, x) in items.into_iter().enumerate() {
            let (name, cmd) = match x {
                Value::String(c) => (None, c.clone()),
                Value::Object(t) => {
                    if let Some(k) = t.keys().find(|k| !RUN_KEYS.contains(&k.as_str())) {
                        return Err(format!("[{i}]: unknown key {k:?}; expected name, cmd"));
                    }
                    let cmd = match t.get("cmd") {
                        Some(Value::String(c)) => c.clone(),
                        _ => return Err(format!("[{i}]: cmd (a command line) is required")),
                    };
                    let name = match t.get("name") {
                        None => None,
                        Some(Value::String(n)) if name_ok(n) => Some(n.clone()),
                        Some(n) => {
                            return Err(format!(
                                "[{i}].name: {n} is not 1-32 characters of A-Z a-z 0-9 _ . -"
                            ));
                        }
                    };
                    (name, cmd)
                }
                other => {
                    return Err(format!(
                        "[{i}]: a command line or {{ name, cmd }}, not {other}"
                    ));
                }
            };
            if cmd.trim().is_empty() {
                return Err(format!("[{i}]: the command is empty"));
            }
            let given = name.is_some();
            let base = name.unwrap_or_else(|| default_name(&cmd));
            let mut name = base.clone();
            let mut k = 2;
            while out.iter().any(|r| r.name == name) {
                if given {
                    return Err(format!("[{i}]: a second process named {name:?}"));
                }
                name = format!("{base}-{k}");
                k += 1;
            }
            out.push(RunSpec { name, cmd });
        }
        Ok(out)
    }

    /// The entry as a topology file (in JSON form) has it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "name": self.name, "cmd": self.cmd })
    }
}

/// `/usr/lib/frr/zebra -N r1 ...` -> `zebra`; `FOO=1 python3 -m x` ->
/// `python3`.
fn default_name(cmd: &str) -> String {
    let word = cmd
        .split_whitespace()
        .find(|w| !w.contains('='))
        .unwrap_or("proc");
    let base = word.rsplit('/').next().unwrap_or(word);
    let clean: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
        .take(32)
        .collect();
    if name_ok(&clean) {
        clean
    } else {
        "proc".into()
    }
}

/// A host's sysctls from its `sysctls` table, keys and values checked.
pub fn sysctls_from_json(v: &Value) -> Result<BTreeMap<String, String>, String> {
    let Some(t) = v.as_object() else {
        return Err(format!(
            "a table of sysctls ({{ \"net.ipv4.ip_forward\" = \"1\" }}), not {v}"
        ));
    };
    t.iter()
        .map(|(k, v)| {
            Ok((
                sysctl_key(k)?,
                sysctl_value(v).map_err(|e| format!("{k}: {e}"))?,
            ))
        })
        .collect()
}

/// The one-shot commands of a host's `exec` list.
pub fn exec_from_json(v: &Value) -> Result<Vec<String>, String> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, x)| match x {
            Value::String(c) if !c.trim().is_empty() => Ok(c.clone()),
            other => Err(format!("[{i}]: a command line, not {other}")),
        })
        .collect()
}

/// A process swctl started in a host, as its record and /proc say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcObs {
    pub name: String,
    pub cmd: String,
    pub owner: super::names::Owner,
    /// the command's process (its supervisor's child)
    pub pid: i32,
    pub state: ProcState,
    /// the namespace it was started in (its inode): another one than the
    /// host's now means the host was made again under it
    pub ns_id: u64,
    /// its log file
    pub log: String,
    /// the log's last lines, when it is not running
    pub tail: Vec<String>,
}

/// Whether a process swctl started runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "how")]
pub enum ProcState {
    Running,
    /// it ended: "exited with status 1", "killed by signal 9"
    Exited(String),
    /// neither running nor ended in its supervisor's sight (the machine
    /// restarted; the supervisor was killed)
    Gone,
}

/// The one-shot commands last run in a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecObs {
    pub owner: super::names::Owner,
    /// `exec_hash` of the list that ran
    pub hash: String,
    /// the namespace they ran in (its inode)
    pub ns_id: u64,
}

/// What swctl reads of a host besides its devices and routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostObs {
    /// the namespace's identity (the inode of its /run/netns file)
    pub ns_id: Option<u64>,
    /// the sysctls asked about: their values (None: no such sysctl)
    pub sysctls: BTreeMap<String, Option<String>>,
    /// /etc/netns/NAME/hosts, when there is one (the same text read from
    /// several hosts is one, `effect::observe`)
    pub hosts_file: Option<std::sync::Arc<str>>,
    pub procs: Vec<ProcObs>,
    pub exec: Option<ExecObs>,
}

/// The identity of a host's one-shot command list.
pub fn exec_hash(cmds: &[String]) -> String {
    let parts: Vec<&str> = cmds.iter().map(String::as_str).collect();
    format!("{:08x}", super::mac::stable_hash(&parts))
}

/// The first line of a hosts file swctl writes: whose it is (a file
/// without it is not swctl's, and is never rewritten or removed).
pub fn hosts_mark(owner: &super::names::Owner) -> String {
    format!("# swctl:1 owner={owner} (the lab's hosts; `swctl apply` rewrites this file)")
}

/// Whether hosts file `text` is swctl's, and whose.
pub fn hosts_owner(text: &str) -> Option<super::names::Owner> {
    text.lines()
        .next()?
        .strip_prefix("# swctl:1 owner=")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One change to what a host runs or has (a `Step::Host`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "host", rename_all = "snake_case")]
pub enum HostStep {
    /// `cat > /etc/netns/NS/hosts`
    WriteHosts {
        ns: NsName,
        content: std::sync::Arc<str>,
    },
    /// `rm /etc/netns/NS/hosts` (swctl's only)
    DelHosts { ns: NsName },
    /// `ip netns exec NS setsid sh -c CMD >> LOG 2>&1 &`, supervised;
    /// `why`: what was wrong with the one before (none: a new one)
    StartProc {
        ns: NsName,
        owner: Owner,
        name: String,
        cmd: String,
        /// the directory it runs in (the topology file's)
        cwd: Option<String>,
        why: Option<String>,
    },
    /// `kill -TERM -PGID` (then -KILL): `why`: it is to run again
    /// otherwise (none: it goes)
    StopProc {
        ns: NsName,
        name: String,
        why: Option<String>,
    },
    /// `ip netns exec NS sh -c CMD` for each, in turn
    RunExec {
        ns: NsName,
        owner: Owner,
        cmds: Vec<String>,
        cwd: Option<String>,
        why: String,
    },
}

impl HostStep {
    pub fn ns(&self) -> &NsName {
        match self {
            HostStep::WriteHosts { ns, .. }
            | HostStep::DelHosts { ns }
            | HostStep::StartProc { ns, .. }
            | HostStep::StopProc { ns, .. }
            | HostStep::RunExec { ns, .. } => ns,
        }
    }

    /// Processes stop before anything of their host goes; the hosts file
    /// is written with the addresses; one-shot commands run once the host
    /// has its addresses and routes, processes start after them.
    pub fn phase(&self) -> u8 {
        match self {
            HostStep::StopProc { .. } => 0,
            HostStep::DelHosts { .. } => 2,
            HostStep::WriteHosts { .. } => 9,
            HostStep::RunExec { .. } => 11,
            HostStep::StartProc { .. } => 12,
        }
    }
}

impl std::fmt::Display for HostStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostStep::WriteHosts { ns, content } => write!(
                f,
                "mkdir -p /etc/netns/{ns} && cat > /etc/netns/{ns}/hosts  # {} names",
                content.lines().filter(|l| !l.starts_with('#')).count()
            ),
            HostStep::DelHosts { ns } => write!(f, "rm /etc/netns/{ns}/hosts"),
            HostStep::StartProc {
                ns, name, cmd, cwd, ..
            } => write!(
                f,
                "{}ip netns exec {ns} setsid sh -c {cmd:?} >> /var/log/swctl/{ns}/{name}.log 2>&1 &  # supervised",
                cwd.as_ref()
                    .map_or(String::new(), |d| format!("cd {d} && "))
            ),
            HostStep::StopProc { ns, name, .. } => {
                write!(
                    f,
                    "kill -TERM -<process group of {name} in {ns}>  # then -KILL"
                )
            }
            HostStep::RunExec { ns, cmds, cwd, .. } => {
                if let Some(d) = cwd {
                    write!(f, "cd {d} && ")?;
                }
                let each: Vec<String> = cmds
                    .iter()
                    .map(|c| format!("ip netns exec {ns} sh -c {c:?}"))
                    .collect();
                f.write_str(&each.join(" && "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn processes_are_named_by_their_command_unless_named() {
        let l = RunSpec::list_from_json(&json!([
            "/usr/lib/frr/zebra -N r1",
            "/usr/lib/frr/zebra -N r1 -A 127.0.0.2",
            {"name": "web", "cmd": "python3 -m http.server"},
            "LANG=C iperf3 -s"
        ]))
        .unwrap();
        let names: Vec<&str> = l.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["zebra", "zebra-2", "web", "iperf3"]);
        let e =
            RunSpec::list_from_json(&json!([{"name": "a", "cmd": "x"}, {"name": "a", "cmd": "y"}]));
        assert!(e.unwrap_err().contains("a second process named \"a\""));
        assert!(
            RunSpec::list_from_json(&json!([" "]))
                .unwrap_err()
                .contains("empty")
        );
    }

    #[test]
    fn only_a_hosts_own_sysctls_are_taken() {
        assert!(sysctl_key("net.ipv4.ip_forward").is_ok());
        assert!(sysctl_key("net/ipv4/conf/eth0.10/rp_filter").is_ok());
        assert!(
            sysctl_key("kernel.pid_max")
                .unwrap_err()
                .contains("machine's")
        );
        assert!(sysctl_key("net.ipv4..x").is_err());
        assert!(sysctl_key("net/../../etc").is_err());
        assert_eq!(
            sysctl_value(&json!("4096\t87380  6291456")).unwrap(),
            "4096 87380 6291456"
        );
        assert_eq!(sysctl_value(&json!(1)).unwrap(), "1");
        let m = sysctls_from_json(&json!({"net.ipv4.ip_forward": 1})).unwrap();
        assert_eq!(m["net.ipv4.ip_forward"], "1");
    }
}
