//! swctl's private OVN central in one directory: the Northbound and
//! Southbound databases (each an ovsdb-server on a unix socket there, and on
//! TCP when asked, for machines elsewhere) and ovn-northd between them;
//! never the system services. The databases are made from the installed
//! OVN's schemas (they must match its ovn-northd); swctl checks the
//! Northbound server against the columns it uses when it connects.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::effect::ovs::sandbox::{
    SandboxError, init_root, pid_in, run, stop_daemons, wait_answers,
};
use crate::ovsdb::Client;

/// The default directory of `swctl ovn start`.
pub const DEFAULT_DIR: &str = crate::effect::paths::OVN_DIR;

/// Where the installed OVN keeps its schemas.
const SCHEMA_DIR: &str = "/usr/share/ovn";

/// The Northbound database's name.
pub const NB_DB: &str = "OVN_Northbound";

#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub dir: PathBuf,
    /// the Northbound and Southbound databases' addresses here
    pub nb: String,
    pub sb: String,
    /// and on TCP, when the central listens there
    pub nb_tcp: Option<String>,
    pub sb_tcp: Option<String>,
    pub nb_server: Option<i32>,
    pub sb_server: Option<i32>,
    pub northd: Option<i32>,
    pub answers: bool,
}

pub fn nb_address(dir: &Path) -> String {
    format!("unix:{}", dir.join("nb.sock").display())
}

pub fn sb_address(dir: &Path) -> String {
    format!("unix:{}", dir.join("sb.sock").display())
}

/// The TCP address the central was started to listen on, if any.
fn listen_of(dir: &Path) -> Option<IpAddr> {
    std::fs::read_to_string(dir.join("listen"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub async fn status(dir: &Path) -> Status {
    let answers = match Client::connect(&nb_address(dir)).await {
        Ok(c) => c.echo().await.is_ok(),
        Err(_) => false,
    };
    let l = listen_of(dir);
    Status {
        dir: dir.to_path_buf(),
        nb: nb_address(dir),
        sb: sb_address(dir),
        nb_tcp: l.map(|a| format!("tcp:{a}:6641")),
        sb_tcp: l.map(|a| format!("tcp:{a}:6642")),
        nb_server: pid_in(&dir.join("ovsdb-nb.pid"), "ovsdb-server"),
        sb_server: pid_in(&dir.join("ovsdb-sb.pid"), "ovsdb-server"),
        northd: pid_in(&dir.join("ovn-northd.pid"), "ovn-northd"),
        answers,
    }
}

/// `ovsdb-tool create DB SCHEMA` (once), then `ovsdb-server DB
/// --remote=punix:SOCK [--remote=ptcp:PORT:IP] ... --detach`.
fn start_db(
    dir: &Path,
    which: &str,
    port: u16,
    listen: Option<IpAddr>,
) -> Result<(), SandboxError> {
    let d = |f: &str| dir.join(f).display().to_string();
    if pid_in(&dir.join(format!("ovsdb-{which}.pid")), "ovsdb-server").is_some() {
        return Ok(());
    }
    if !dir.join(format!("{which}.db")).exists() {
        let schema = format!("{SCHEMA_DIR}/ovn-{which}.ovsschema");
        run(
            dir,
            "ovsdb-tool",
            &["create".into(), d(&format!("{which}.db")), schema],
        )?;
    }
    let mut args = vec![
        d(&format!("{which}.db")),
        format!("--remote=punix:{}", d(&format!("{which}.sock"))),
        format!("--pidfile={}", d(&format!("ovsdb-{which}.pid"))),
        format!("--unixctl={}", d(&format!("ovsdb-{which}.ctl"))),
        format!("--log-file={}", d(&format!("ovsdb-{which}.log"))),
        "--detach".into(),
    ];
    if let Some(a) = listen {
        args.push(format!("--remote=ptcp:{port}:{a}"));
    }
    run(dir, "ovsdb-server", &args)
}

/// Start what is not running (idempotent): both databases, ovn-northd; the
/// Northbound root row made (what `ovn-nbctl init` does). With `listen`,
/// the databases also listen on that address (6641, 6642) for machines
/// that reach the central over the network.
pub async fn start(dir: &Path, listen: Option<IpAddr>) -> Result<Status, SandboxError> {
    std::fs::create_dir_all(dir).map_err(|e| SandboxError::Dir(dir.into(), e))?;
    if !std::path::Path::new(SCHEMA_DIR)
        .join("ovn-nb.ovsschema")
        .exists()
    {
        return Err(SandboxError::Spawn(
            "ovn-northd".into(),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "OVN is not installed (Debian: apt-get install ovn-central ovn-host)",
            ),
        ));
    }
    let listen = listen.or_else(|| listen_of(dir));
    if let Some(a) = listen {
        std::fs::write(dir.join("listen"), a.to_string())
            .map_err(|e| SandboxError::Dir(dir.into(), e))?;
    }
    start_db(dir, "nb", 6641, listen)?;
    start_db(dir, "sb", 6642, listen)?;
    let nb = wait_answers(
        &nb_address(dir),
        &nb_address(dir),
        &dir.join("ovsdb-nb.log"),
    )
    .await?;
    wait_answers(
        &sb_address(dir),
        &sb_address(dir),
        &dir.join("ovsdb-sb.log"),
    )
    .await?;
    init_root(&nb, Some(NB_DB), "NB_Global").await?;
    if pid_in(&dir.join("ovn-northd.pid"), "ovn-northd").is_none() {
        let d = |f: &str| dir.join(f).display().to_string();
        run(
            dir,
            "ovn-northd",
            &[
                format!("--ovnnb-db={}", nb_address(dir)),
                format!("--ovnsb-db={}", sb_address(dir)),
                format!("--pidfile={}", d("ovn-northd.pid")),
                format!("--unixctl={}", d("ovn-northd.ctl")),
                format!("--log-file={}", d("ovn-northd.log")),
                "--detach".into(),
            ],
        )?;
    }
    Ok(status(dir).await)
}

/// Stop the central's daemons (ovn-northd first). Idempotent; the
/// databases stay (a later `start` finds the same logical network).
pub fn stop(dir: &Path) -> Result<Vec<(String, i32)>, SandboxError> {
    stop_daemons(
        dir,
        &[
            ("ovn-northd", "ovn-northd"),
            ("ovsdb-nb", "ovsdb-server"),
            ("ovsdb-sb", "ovsdb-server"),
        ],
    )
}
