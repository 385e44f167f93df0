//! `swctl bench --scale N1,N2,..`: how setup, re-apply and teardown time and
//! swctl's peak memory grow with the number of hosts, per wiring. Each lab
//! is written as a topology file and run by the swctl binary itself as a
//! child (`apply`, `apply` again, `destroy`), timed and measured with
//! wait4(2) (its peak RSS); the kernel's own floor for a Linux-bridge lab
//! (one `ip -batch` of the namespaces and the veth pairs born in them and
//! enslaved) is measured in the same run.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::{BenchError, PER_BRIDGE, Wiring, fail, host, lab, switch_name};

/// One wiring at one size.
#[derive(Debug, Clone, Serialize)]
pub struct ScalePoint {
    pub wiring: String,
    pub hosts: usize,
    pub setup_s: f64,
    pub reapply_s: f64,
    pub teardown_s: f64,
    /// the largest peak RSS of the three runs, in MB
    pub rss_mb: f64,
    /// setup over the floor (`ScaleReport::floor`) of the same round,
    /// the median over the rounds
    pub x_floor: f64,
    /// setup over `ScaleReport::floor_up` of the same round, the median
    pub x_floor_up: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ScaleReport {
    pub sizes: Vec<usize>,
    pub points: Vec<ScalePoint>,
    /// rounds per size (each: the floors, then every wiring), medians kept
    pub rounds: usize,
    /// hosts -> seconds of `ip -batch` for the same bridge lab's namespaces
    /// and veth pairs, the namespace ends left down (median)
    pub floor: Vec<(usize, f64)>,
    /// the same with both ends of each pair up, as a lab needs them (the
    /// carrier: link-watch, the bridge enabling each port, and ip's IPv6
    /// link-local addresses, which swctl does not give an end without an
    /// IPv6 address)
    pub floor_up: Vec<(usize, f64)>,
}

/// Run `exe args`, wait for it, return its wall time and peak RSS (KB).
fn child(exe: &Path, args: &[&str]) -> Result<(f64, u64), BenchError> {
    let t = Instant::now();
    let c = std::process::Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {}: {e}", exe.display())))?;
    let pid = c.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; status and ru outlive the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let secs = t.elapsed().as_secs_f64();
    if r < 0 {
        return Err(fail(format!("wait4: {}", std::io::Error::last_os_error())));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let mut err = String::new();
        if let Some(mut e) = c.stderr {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        return Err(fail(format!(
            "swctl {} failed: {}",
            args.join(" "),
            err.trim()
        )));
    }
    Ok((secs, ru.ru_maxrss as u64))
}

/// The kernel's floor for `n` hosts on one bridge (past PER_BRIDGE hosts,
/// a chain of bridges joined by veth trunks, as the bench lab has): one
/// `ip -batch` that makes the namespaces, the bridges and the veth pairs
/// (peer born in its namespace, enslaved at creation); removed again
/// afterwards (not timed). `up`: the namespace end is made as the pair's
/// first device, in its namespace and up (`link add eth0 netns NS up type
/// veth peer name H`), and the host end enslaved and brought up after, so
/// every pair has carrier, all in the one batch.
fn floor(n: usize, up: bool) -> Result<f64, BenchError> {
    let bridges = n.div_ceil(PER_BRIDGE).max(1);
    let br = |k: usize| format!("{}f{k}", switch_name());
    let mut up_lines = String::new();
    let mut down = String::new();
    for k in 0..bridges {
        let _ = writeln!(
            up_lines,
            "link add {} type bridge\nlink set {} up",
            br(k),
            br(k)
        );
        if k > 0 {
            let (a, b) = (format!("{}a", br(k)), format!("{}b", br(k)));
            let _ = writeln!(
                up_lines,
                "link add {a} master {} up type veth peer name {b}\nlink set {b} master {} up",
                br(k - 1),
                br(k)
            );
        }
    }
    for i in 0..n {
        let h = format!("{}f", host(i));
        let _ = writeln!(up_lines, "netns add {h}");
        let bridge = br(i / PER_BRIDGE);
        let _ = if up {
            writeln!(
                up_lines,
                "link add eth0 netns {h} up type veth peer name {h}\nlink set {h} master {bridge} up"
            )
        } else {
            writeln!(
                up_lines,
                "link add {h} master {bridge} up type veth peer name eth0 netns {h}"
            )
        };
        let _ = writeln!(down, "netns del {h}");
    }
    for k in 0..bridges {
        let _ = writeln!(down, "link del {}", br(k));
        if k > 0 {
            let _ = writeln!(down, "link del {}a", br(k));
        }
    }
    let dir = std::env::temp_dir();
    let (fu, fd) = (
        dir.join(format!("swctl-floor-{}.up", std::process::id())),
        dir.join(format!("swctl-floor-{}.down", std::process::id())),
    );
    std::fs::write(&fu, up_lines).map_err(fail)?;
    std::fs::write(&fd, down).map_err(fail)?;
    let run = |f: &Path| {
        std::process::Command::new("ip")
            .args(["-batch", &f.display().to_string()])
            .output()
            .map_err(|e| fail(format!("cannot run ip: {e}")))
    };
    let t = Instant::now();
    let out = run(&fu)?;
    let secs = t.elapsed().as_secs_f64();
    let _ = run(&fd);
    // The kernel frees deleted namespaces later, in a workqueue holding
    // RTNL: wait until their devices are gone, so that the next lab is not
    // measured against that cleanup (seen: bridge setup 1.35 -> 1.53 x the
    // floor when it overlapped).
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    for i in 0..n {
        let dev = format!("/sys/class/net/{}f", host(i));
        while Path::new(&dev).exists() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let _ = std::fs::remove_file(&fu);
    let _ = std::fs::remove_file(&fd);
    if !out.status.success() {
        return Err(fail(format!(
            "the ip -batch floor failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(secs)
}

/// The median of some figures (0 for none).
pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Measure every wiring at every size, the sizes in turn; `rounds` times
/// each, interleaved (the floors, then every wiring, then again), so that
/// a slow moment of the machine falls on all of them alike; medians kept.
pub fn run(
    exe: &Path,
    wirings: &[Wiring],
    sizes: &[usize],
    rounds: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<ScaleReport, BenchError> {
    let rounds = rounds.max(1);
    let mut r = ScaleReport {
        sizes: sizes.to_vec(),
        rounds,
        ..Default::default()
    };
    let file = std::env::temp_dir().join(format!("swctl-scale-{}.toml", std::process::id()));
    let f = file.display().to_string();
    for &n in sizes {
        // per round: floor, floor with the ends up, and per wiring
        // (setup, re-apply, teardown, peak RSS KB)
        let mut floors = vec![];
        let mut floors_up = vec![];
        let mut runs: Vec<Vec<(f64, f64, f64, u64)>> = vec![vec![]; wirings.len()];
        for round in 1..=rounds {
            progress(&format!(
                "scale: ip -batch floors, {n} hosts, round {round}/{rounds}"
            ));
            floors.push(floor(n, false)?);
            floors_up.push(floor(n, true)?);
            for (k, w) in wirings.iter().enumerate() {
                progress(&format!(
                    "scale: {} with {n} hosts, round {round}/{rounds}",
                    w.name()
                ));
                std::fs::write(
                    &file,
                    crate::lab::topology::write::to_toml(&lab(*w, n, None)),
                )
                .map_err(fail)?;
                let setup = child(exe, &["apply", &f]);
                let again = setup.as_ref().ok().map(|_| child(exe, &["apply", &f]));
                // whatever happened, remove the lab
                let down = child(exe, &["destroy", &f]);
                let (su, m1) = setup?;
                let (ra, m2) = again.expect("ran after a good setup")?;
                let (td, m3) = down?;
                runs[k].push((su, ra, td, m1.max(m2).max(m3)));
            }
        }
        for (w, rs) in wirings.iter().zip(runs) {
            let col = |f: fn(&(f64, f64, f64, u64)) -> f64| median(rs.iter().map(f).collect());
            let ratio = |fl: &[f64]| {
                median(
                    rs.iter()
                        .zip(fl)
                        .map(|(x, fl)| if *fl > 0.0 { x.0 / fl } else { 0.0 })
                        .collect(),
                )
            };
            r.points.push(ScalePoint {
                wiring: w.name().to_string(),
                hosts: n,
                setup_s: col(|x| x.0),
                reapply_s: col(|x| x.1),
                teardown_s: col(|x| x.2),
                rss_mb: rs.iter().map(|x| x.3).max().unwrap_or(0) as f64 / 1024.0,
                x_floor: ratio(&floors),
                x_floor_up: ratio(&floors_up),
            });
        }
        r.floor.push((n, median(floors)));
        r.floor_up.push((n, median(floors_up)));
    }
    let _ = std::fs::remove_file(&file);
    Ok(r)
}

/// The terminal table.
pub fn table(r: &ScaleReport) -> String {
    let mut t = format!(
        "{:<14} {:>6} {:>9} {:>10} {:>10} {:>8} {:>9} {:>8} {:>10} {:>9}\n",
        "wiring",
        "hosts",
        "setup s",
        "reapply s",
        "teardn s",
        "RSS MB",
        "floor s",
        "x floor",
        "floor-up s",
        "x flr-up"
    );
    let at = |v: &[(usize, f64)], n: usize| v.iter().find(|x| x.0 == n).map_or(0.0, |x| x.1);
    for p in &r.points {
        let _ = writeln!(
            t,
            "{:<14} {:>6} {:>9.3} {:>10.3} {:>10.3} {:>8.1} {:>9.3} {:>8.2} {:>10.3} {:>9.2}",
            p.wiring,
            p.hosts,
            p.setup_s,
            p.reapply_s,
            p.teardown_s,
            p.rss_mb,
            at(&r.floor, p.hosts),
            p.x_floor,
            at(&r.floor_up, p.hosts),
            p.x_floor_up,
        );
    }
    let _ = write!(
        t,
        "medians of {} interleaved round(s); x floor: the median of each round's setup over that round's floor\n\
         floor: one `ip -batch` of the namespaces and veth pairs (born in their namespace, enslaved) of a bridge lab of that size, the namespace ends left down\n\
         floor-up: the same with both ends of every pair up, as a lab needs them (the carrier's work in the kernel; ip also gives each end an IPv6 link-local address, swctl does not)",
        r.rounds
    );
    t
}

/// One line of the chart: its name, its points (hosts, seconds), its
/// colour, whether it is dashed.
type Series<'a> = (String, Vec<(f64, f64)>, &'a str, bool);

/// An SVG chart: setup time against hosts, a line per wiring and the floor,
/// both axes logarithmic (a straight line of slope 1 is linear growth; the
/// wirings differ by orders of magnitude).
pub fn svg(r: &ScaleReport) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 420.0, 70.0, 50.0, 30.0, 170.0);
    let times = || {
        r.points
            .iter()
            .map(|p| p.setup_s)
            .chain(r.floor.iter().chain(&r.floor_up).map(|x| x.1))
            .filter(|t| *t > 0.0)
    };
    let lo_t = times().fold(f64::MAX, f64::min).max(1e-3).log10().floor();
    let hi_t = times()
        .fold(0.0f64, f64::max)
        .max(1e-3)
        .log10()
        .ceil()
        .max(lo_t + 1.0);
    let lo_n = (r.sizes.iter().copied().min().unwrap_or(1).max(1) as f64).log10();
    let hi_n = (r.sizes.iter().copied().max().unwrap_or(1).max(1) as f64)
        .log10()
        .max(lo_n + 0.1);
    let span_n = hi_n - lo_n;
    let x = |n: f64| left + 20.0 + (w - left - right - 40.0) * (n.max(1.0).log10() - lo_n) / span_n;
    let y = |s: f64| h - bottom - (h - bottom - top) * (s.max(1e-3).log10() - lo_t) / (hi_t - lo_t);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{left}\" y=\"18\" font-size=\"14\">setup time against hosts (swctl apply) and the kernel floor, log-log</text>\n"
    );
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">hosts</text>",
        (left + w - right) / 2.0,
        h - 12.0
    );
    for n in &r.sizes {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
            x(*n as f64),
            h - bottom + 16.0
        );
    }
    let mut e = lo_t;
    while e <= hi_t + 1e-9 {
        let s = 10f64.powf(e);
        let label = if s >= 1.0 {
            format!("{s:.0} s")
        } else {
            format!("{s} s")
        };
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#dddddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            w - right,
            left - 4.0,
            y(s) + 4.0,
            yy = y(s)
        );
        e += 1.0;
    }
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];
    let mut series: Vec<Series> = vec![];
    let mut names: Vec<String> = vec![];
    for p in &r.points {
        if !names.contains(&p.wiring) {
            names.push(p.wiring.clone());
        }
    }
    for (i, name) in names.iter().enumerate() {
        let pts = r
            .points
            .iter()
            .filter(|p| &p.wiring == name)
            .map(|p| (p.hosts as f64, p.setup_s))
            .collect();
        series.push((name.clone(), pts, colors[i % colors.len()], false));
    }
    let fl = r.floor.iter().map(|(n, s)| (*n as f64, *s)).collect();
    series.push(("ip -batch floor".into(), fl, "#555555", true));
    if !r.floor_up.is_empty() {
        let fu = r.floor_up.iter().map(|(n, s)| (*n as f64, *s)).collect();
        series.push(("floor, ends up".into(), fu, "#999999", true));
    }
    for (i, (name, pts, color, dashed)) in series.iter().enumerate() {
        let path: Vec<String> = pts
            .iter()
            .map(|(n, s)| format!("{:.1},{:.1}", x(*n), y(*s)))
            .collect();
        let dash = if *dashed {
            " stroke-dasharray=\"6,4\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
            path.join(" ")
        );
        for (n, s) in pts {
            let _ = writeln!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                x(*n),
                y(*s)
            );
        }
        let ly = top + 20.0 + 18.0 * i as f64;
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\">{name}</text>",
            w - right + 10.0,
            w - right + 30.0,
            w - right + 36.0,
            ly + 4.0
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures of the README's curve (this machine, 2026-11-24).
    fn measured() -> ScaleReport {
        let setup = [
            ("veth", [0.078, 0.186, 0.353, 0.863, 1.562]),
            ("bridge", [0.119, 0.326, 0.659, 1.695, 3.422]),
            ("ovs-veth", [0.134, 0.390, 0.767, 1.951, 5.467]),
            ("ovs-internal", [2.159, 5.474, 11.107, 22.535, 43.467]),
        ];
        let sizes = vec![100, 250, 500, 1000, 2000];
        let mut r = ScaleReport {
            sizes: sizes.clone(),
            floor: sizes
                .iter()
                .copied()
                .zip([0.095, 0.236, 0.508, 1.227, 2.506])
                .collect(),
            ..Default::default()
        };
        for (w, ts) in setup {
            for (n, t) in sizes.iter().zip(ts) {
                r.points.push(ScalePoint {
                    wiring: w.into(),
                    hosts: *n,
                    setup_s: t,
                    reapply_s: 0.0,
                    teardown_s: 0.0,
                    rss_mb: 0.0,
                    x_floor: 0.0,
                    x_floor_up: 0.0,
                });
            }
        }
        r
    }

    #[test]
    fn the_chart_is_log_log_with_a_line_per_wiring_and_the_floor() {
        let s = svg(&measured());
        // SWCTL_SVG_OUT=docs/scale.svg cargo test --lib chart: write it to look at
        if let Ok(p) = std::env::var("SWCTL_SVG_OUT") {
            std::fs::write(p, &s).unwrap();
        }
        assert_eq!(s.matches("<polyline").count(), 5);
        assert!(s.contains("ip -batch floor") && s.contains("ovs-internal"));
        // decades from 0.01 s to 100 s
        for t in ["0.01 s", "0.1 s", "1 s", "10 s", "100 s"] {
            assert!(s.contains(&format!(">{t}</text>")), "no tick {t}");
        }
        // every point inside the plot area
        for c in s.split("<circle ").skip(1) {
            let num = |k: &str| -> f64 {
                let v = c.split(&format!("{k}=\"")).nth(1).unwrap();
                v[..v.find('"').unwrap()].parse().unwrap()
            };
            let (cx, cy) = (num("cx"), num("cy"));
            assert!(
                (70.0..=550.0).contains(&cx) && (30.0..=370.0).contains(&cy),
                "{cx},{cy}"
            );
        }
    }
}
