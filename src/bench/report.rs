//! The benchmark's report: ratios against `veth` within each round,
//! median/min/max per metric, the terminal table and the SVG chart.

use super::{Report, Sample, Summary};

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Ratios to `veth` within each round, and median/min/max per metric.
pub fn summarize(r: &mut Report) {
    let rounds: std::collections::BTreeSet<usize> = r.samples.iter().map(|s| s.round).collect();
    for round in rounds {
        let base = r
            .samples
            .iter()
            .find(|s| s.round == round && s.wiring == "veth")
            .cloned();
        if let Some(b) = base {
            for s in r.samples.iter_mut().filter(|s| s.round == round) {
                s.ratio_gbps_1 = match (s.gbps_1, b.gbps_1) {
                    (Some(x), Some(y)) if y > 0.0 => Some(x / y),
                    _ => None,
                };
                s.ratio_rtt_p50 = match (s.rtt_p50_us, b.rtt_p50_us) {
                    (Some(x), Some(y)) if y > 0.0 => Some(x / y),
                    _ => None,
                };
            }
        }
    }
    type Get = fn(&Sample) -> Option<f64>;
    let metrics: [(&str, Get); 15] = [
        ("setup_s", |s| Some(s.setup_s)),
        ("ready_s", |s| Some(s.ready_s)),
        ("teardown_s", |s| Some(s.teardown_s)),
        ("rtt_avg_us", |s| s.rtt_avg_us),
        ("rtt_p50_us", |s| s.rtt_p50_us),
        ("rtt_p99_us", |s| s.rtt_p99_us),
        ("gbps_1", |s| s.gbps_1),
        ("gbps_k", |s| s.gbps_k),
        ("cpu_cores", |s| s.cpu_cores),
        ("vswitchd_cores", |s| s.vswitchd_cores),
        ("cpu_per_gbps", |s| s.cpu_per_gbps),
        ("ratio_gbps_1", |s| s.ratio_gbps_1),
        ("ratio_rtt_p50", |s| s.ratio_rtt_p50),
        ("shell_setup_s", |s| s.shell_setup_s),
        ("shell_teardown_s", |s| s.shell_teardown_s),
    ];
    r.summary.clear();
    for w in &r.wirings {
        for (name, get) in metrics {
            let mut v: Vec<f64> = r
                .samples
                .iter()
                .filter(|s| &s.wiring == w)
                .filter_map(get)
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
            r.summary.push(Summary {
                wiring: w.clone(),
                metric: name.into(),
                median: v[v.len() / 2],
                min: v[0],
                max: v[v.len() - 1],
            });
        }
    }
}

/// Median of a metric for a wiring.
pub fn median_of<'r>(r: &'r Report, w: &str, metric: &str) -> Option<&'r Summary> {
    r.summary
        .iter()
        .find(|s| s.wiring == w && s.metric == metric)
}

pub(super) fn us(v: String) -> String {
    if v == "-" { v } else { v + "us" }
}

/// The terminal table.
pub fn table(r: &Report) -> String {
    let mut t = format!(
        "{} hosts, {:.1} s per throughput test, {} streams, {} round(s); kernel {}, {} cores{}{}\n",
        r.hosts,
        r.duration_s,
        r.streams,
        r.repeat,
        r.conditions.kernel,
        r.conditions.cores,
        r.conditions
            .ovs_datapath
            .as_ref()
            .map(|d| format!(
                ", OVS {} datapath {d}{}",
                r.conditions
                    .ovs_version
                    .as_deref()
                    .unwrap_or("(version unknown)"),
                match r.conditions.ovs_tso {
                    Some(true) => ", userspace TSO on",
                    Some(false) if d == "netdev" => ", userspace TSO off",
                    _ => "",
                }
            ))
            .unwrap_or_default(),
        r.conditions
            .impair
            .as_ref()
            .map(|i| format!("; every host's link impaired both ways: {i}"))
            .unwrap_or_default()
    );
    t.push_str(&format!(
        "{:<13} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
        "wiring",
        "setup s",
        "ready s",
        "teardn s",
        "rtt p50",
        "rtt p99",
        "Gb/s 1",
        "Gb/s K",
        "cores",
        "cores/Gb",
        "x veth"
    ));
    let f = |w: &str, m: &str, scale: f64, prec: usize| {
        median_of(r, w, m).map_or("-".to_string(), |s| {
            format!("{:.*}", prec, s.median * scale)
        })
    };
    for w in &r.wirings {
        t.push_str(&format!(
            "{:<13} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
            w,
            f(w, "setup_s", 1.0, 3),
            f(w, "ready_s", 1.0, 3),
            f(w, "teardown_s", 1.0, 3),
            us(f(w, "rtt_p50_us", 1.0, 1)),
            us(f(w, "rtt_p99_us", 1.0, 1)),
            f(w, "gbps_1", 1.0, 2),
            f(w, "gbps_k", 1.0, 2),
            f(w, "cpu_cores", 1.0, 2),
            f(w, "cpu_per_gbps", 1.0, 2),
            f(w, "ratio_gbps_1", 1.0, 2),
        ));
    }
    for (w, why) in &r.skipped {
        t.push_str(&format!("{w:<13} skipped: {why}\n"));
    }
    if r.samples.iter().any(|s| s.shell_setup_s.is_some()) {
        t.push_str("setup by swctl vs the tutorials' ip/ovs-vsctl commands:\n");
        for w in &r.wirings {
            let (Some(a), Some(b)) = (median_of(r, w, "setup_s"), median_of(r, w, "shell_setup_s"))
            else {
                continue;
            };
            let td = median_of(r, w, "shell_teardown_s").map_or(0.0, |x| x.median);
            t.push_str(&format!(
                "{w:<13} swctl {:.3} s, commands {:.3} s ({:.1}x); teardown commands {td:.3} s\n",
                a.median,
                b.median,
                b.median / a.median.max(1e-9)
            ));
        }
    }
    t.push_str("medians over the rounds; `x veth`: 1-stream throughput relative to veth, within each round");
    t
}

/// An SVG chart: throughput (1 stream) and RTT p50 per wiring, bars at the
/// median with min–max whiskers.
pub fn svg(r: &Report) -> String {
    let (w, h) = (760.0, 360.0);
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="22" font-size="15">swctl bench: {} hosts, {} round(s), kernel {}</text>
"##,
        r.hosts, r.repeat, r.conditions.kernel
    );
    let panels = [
        ("gbps_1", "TCP throughput, 1 stream (Gbit/s)", 20.0),
        ("rtt_p50_us", "TCP request/response RTT p50 (µs)", 390.0),
    ];
    let colors = ["#4C72B0", "#55A868", "#C44E52", "#8172B2", "#DD8452"];
    for (metric, title, x0) in panels {
        let vals: Vec<(&String, &Summary)> = r
            .wirings
            .iter()
            .filter_map(|wi| median_of(r, wi, metric).map(|s| (wi, s)))
            .collect();
        // headroom above the tallest whisker for its label
        let maxv = vals
            .iter()
            .map(|(_, s)| s.max)
            .fold(0.0f64, f64::max)
            .max(1e-9)
            * 1.12;
        let (pw, ph, py) = (340.0, 240.0, 66.0);
        out.push_str(&format!(
            r#"<text x="{}" y="{}" font-size="13">{title}</text>"#,
            x0,
            py - 22.0
        ));
        out.push_str(&format!(
            r#"<line x1="{x0}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
            py + ph,
            x0 + pw,
            py + ph
        ));
        let bw = pw / (vals.len().max(1) as f64) * 0.6;
        for (i, (name, s)) in vals.iter().enumerate() {
            let cx = x0 + pw / vals.len() as f64 * (i as f64 + 0.5);
            let y = |v: f64| py + ph - v / maxv * ph;
            out.push_str(&format!(
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                cx - bw / 2.0,
                y(s.median),
                bw,
                py + ph - y(s.median),
                colors[i % colors.len()]
            ));
            out.push_str(&format!(
                r#"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="black"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
                y(s.min),
                y(s.max),
                cx - 6.0,
                y(s.min),
                cx + 6.0,
                y(s.min),
                cx - 6.0,
                y(s.max),
                cx + 6.0,
                y(s.max)
            ));
            out.push_str(&format!(
                r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{:.2}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{name}</text>"#,
                y(s.max) - 6.0,
                s.median,
                py + ph + 16.0
            ));
        }
    }
    out.push_str("</svg>\n");
    out
}
