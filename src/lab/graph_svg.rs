//! `swctl graph --format svg`: the lab drawn by swctl itself (no Graphviz).
//! The layout is made for labs of tens of hosts: one column per switch,
//! the switch's box on top and its hosts stacked below it on a bus line
//! (each host's address in its box, VLAN and wiring on its stub); hosts on
//! several switches (gateways) and routers in a row above, joined to each
//! of their switches; direct links as arcs; trunks between switch boxes;
//! hosts coloured by machine, with a legend. Each box carries its node's
//! name (`data-node`), each line what it joins (`data-port="HOST SWITCH"`,
//! `data-trunk`, `data-link`): the live view (`swctl serve`'s page) marks
//! them by those.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::graph::{EdgeKind, Graph, backend_colour};

const CHAR_W: f64 = 7.0; // monospace at 12 px
const ROW_H: f64 = 34.0;
const BOX_H: f64 = 28.0;
const COL_GAP: f64 = 40.0;
const MARGIN: f64 = 20.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text_w(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

/// Machine colours (hosts on no machine: white).
const MACHINE_FILL: &[&str] = &[
    "#fff3e0", "#e3f2fd", "#f1f8e9", "#fce4ec", "#ede7f6", "#e0f2f1",
];

struct Boxed {
    x: f64,
    y: f64,
    w: f64,
}

pub fn svg(g: &Graph) -> String {
    // what each host is on
    let mut on: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in g.edges.iter().enumerate() {
        if e.kind == EdgeKind::Port {
            on.entry(e.a.as_str()).or_default().push(i);
        }
    }
    let multi = |h: &str| on.get(h).map_or(0, |v| v.len()) > 1;
    // columns: each switch with its single-homed hosts; then hosts on no switch
    let mut cols: Vec<(Option<&str>, Vec<&str>)> = g
        .switches
        .iter()
        .map(|s| {
            let hs = g
                .hosts
                .iter()
                .filter(|h| {
                    !multi(&h.name)
                        && on
                            .get(h.name.as_str())
                            .is_some_and(|v| v.iter().any(|&i| g.edges[i].b == s.name))
                })
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>();
            (Some(s.name.as_str()), natural(hs))
        })
        .collect();
    let loose: Vec<&str> = g
        .hosts
        .iter()
        .filter(|h| !on.contains_key(h.name.as_str()))
        .map(|h| h.name.as_str())
        .collect();
    if !loose.is_empty() {
        cols.push((None, natural(loose)));
    }
    let top: Vec<&str> = g
        .hosts
        .iter()
        .filter(|h| multi(&h.name))
        .map(|h| h.name.as_str())
        .chain(g.routers.iter().map(String::as_str))
        .collect();
    // the label of each host: name, then its addresses
    let port_of = |h: &str| -> Vec<String> {
        on.get(h)
            .map(|v| v.iter().flat_map(|&i| g.edges[i].a_addrs.clone()).collect())
            .unwrap_or_default()
    };
    let host_label = |h: &str| -> String {
        let a = port_of(h);
        if a.is_empty() {
            h.to_string()
        } else {
            format!("{h}  {}", a.join(" "))
        }
    };
    let sw_label = |s: &str| -> Vec<String> {
        let sw = g.switches.iter().find(|x| x.name == s).expect("a switch");
        let mut l = vec![format!("{} ({})", sw.name, sw.backend)];
        if !sw.machines.is_empty() {
            l.push(format!("spans {}", sw.machines.join(", ")));
        }
        l.extend(sw.addrs.iter().cloned());
        l
    };
    // column widths and positions
    let stub = 30.0;
    let top_h = if top.is_empty() { 0.0 } else { ROW_H * 2.5 };
    let sw_y = MARGIN + top_h + 20.0;
    let mut boxes: BTreeMap<String, Boxed> = BTreeMap::new();
    let mut x = MARGIN;
    let mut max_y: f64 = sw_y;
    let mut out_cols = vec![];
    for (sw, hs) in &cols {
        let mut w = hs
            .iter()
            .map(|h| text_w(&host_label(h)) + 16.0 + stub)
            .fold(120.0, f64::max);
        let lines = sw.map(sw_label).unwrap_or_default();
        if let Some(_s) = sw {
            w = lines.iter().map(|l| text_w(l) + 16.0).fold(w, f64::max);
        }
        let sw_h = BOX_H + 14.0 * (lines.len().max(1) - 1) as f64;
        if let Some(s) = sw {
            boxes.insert(s.to_string(), Boxed { x, y: sw_y, w });
        }
        let mut y = sw_y + sw_h + 18.0;
        for h in hs {
            boxes.insert(
                h.to_string(),
                Boxed {
                    x: x + stub,
                    y,
                    w: text_w(&host_label(h)) + 16.0,
                },
            );
            y += ROW_H;
        }
        max_y = max_y.max(y);
        out_cols.push((x, w, sw_h, *sw, lines, hs.clone()));
        x += w + COL_GAP;
    }
    // the top row: each over the middle of what it joins
    let mut tx = MARGIN;
    for t in &top {
        let w = text_w(&top_label(g, t)) + 16.0;
        let joined: Vec<f64> = g
            .edges
            .iter()
            .filter(|e| e.a == *t && matches!(e.kind, EdgeKind::Port | EdgeKind::Router))
            .filter_map(|e| boxes.get(&e.b).map(|b| b.x + b.w / 2.0))
            .collect();
        let want = if joined.is_empty() {
            tx
        } else {
            joined.iter().sum::<f64>() / joined.len() as f64 - w / 2.0
        };
        let bx = want.max(tx);
        boxes.insert(
            t.to_string(),
            Boxed {
                x: bx,
                y: MARGIN,
                w,
            },
        );
        tx = bx + w + 12.0;
        x = x.max(tx);
    }
    let machines: Vec<String> = g.machines().into_iter().collect();
    // room for the legend, and for links drawn out to the right
    let legend_w = 470.0 + machines.iter().map(|m| text_w(m) + 90.0).sum::<f64>();
    let links_w = if g.edges.iter().any(|e| e.kind == EdgeKind::Link) {
        220.0
    } else {
        0.0
    };
    let width = (x + links_w).max(legend_w) + MARGIN;
    let height = max_y + 52.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans Mono, monospace" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{MARGIN}" y="{:.0}" font-size="11" fill="#555">lab {}: {} hosts, {} switches</text>
"##,
        height - 8.0,
        esc(&g.name),
        g.hosts.len(),
        g.switches.len()
    );
    let fill_of = |h: &str| -> &str {
        g.hosts
            .iter()
            .find(|x| x.name == h)
            .and_then(|x| x.machine.as_ref())
            .and_then(|m| machines.iter().position(|x| x == m))
            .map_or("#ffffff", |i| MACHINE_FILL[i % MACHINE_FILL.len()])
    };
    // buses and stubs
    for (cx, _w, sw_h, sw, _lines, hs) in &out_cols {
        let Some(sw) = sw else { continue };
        if hs.is_empty() {
            continue;
        }
        let bus_x = cx + 10.0;
        let last = boxes[hs[hs.len() - 1]].y + BOX_H / 2.0;
        let _ = writeln!(
            s,
            r##"<line x1="{bus_x:.1}" y1="{:.1}" x2="{bus_x:.1}" y2="{last:.1}" stroke="#555" stroke-width="2"/>"##,
            sw_y + sw_h
        );
        for h in hs {
            let b = &boxes[*h];
            let e = g
                .edges
                .iter()
                .find(|e| e.kind == EdgeKind::Port && e.a == *h && e.b == *sw);
            let dash = if e.and_then(|e| e.wiring.as_deref()) == Some("internal") {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            };
            let y = b.y + BOX_H / 2.0;
            let _ = writeln!(
                s,
                r##"<line data-port="{} {}" x1="{bus_x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#555"{dash}/>"##,
                esc(h),
                esc(sw),
                b.x
            );
            if let Some(v) = e.and_then(|e| e.vlan) {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#7b1fa2">v{v}</text>"##,
                    bus_x + 3.0,
                    y - 3.0
                );
            }
        }
    }
    // top row to switches: each switch's lines from above land spread over
    // its top, in the order of what they come from (no crossing, labels apart)
    let ups: Vec<_> = g
        .edges
        .iter()
        .filter(|e| {
            top.contains(&e.a.as_str()) && matches!(e.kind, EdgeKind::Port | EdgeKind::Router)
        })
        .collect();
    for e in &ups {
        let (Some(a), Some(b)) = (boxes.get(&e.a), boxes.get(&e.b)) else {
            continue;
        };
        let mut from: Vec<f64> = ups
            .iter()
            .filter(|x| x.b == e.b)
            .filter_map(|x| boxes.get(&x.a).map(|bx| bx.x))
            .collect();
        from.sort_by(f64::total_cmp);
        let k = from.iter().position(|x| *x == a.x).unwrap_or(0) as f64;
        let (x1, y1) = (a.x + a.w / 2.0, a.y + BOX_H);
        let (x2, y2) = (b.x + b.w * (k + 1.0) / (from.len() as f64 + 1.0), b.y);
        let dash = if e.wiring.as_deref() == Some("internal") {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r##"<line data-port="{} {}" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="#555"{dash}/>"##,
            esc(&e.a),
            esc(&e.b)
        );
        let mut label = e.a_addrs.join(" ");
        if let Some(v) = e.vlan {
            label.push_str(&format!(" v{v}"));
        }
        let (lx, ly) = (x1 + (x2 - x1) * 0.7, y1 + (y2 - y1) * 0.7);
        s.push_str(&label_at(lx, ly, label.trim(), "#333"));
    }
    // trunks and direct links
    for e in g
        .edges
        .iter()
        .filter(|e| matches!(e.kind, EdgeKind::Trunk | EdgeKind::Link))
    {
        let (Some(a), Some(b)) = (boxes.get(&e.a), boxes.get(&e.b)) else {
            continue;
        };
        let (x1, y1) = (a.x + a.w, a.y + BOX_H / 2.0);
        let (x2, y2) = (b.x, b.y + BOX_H / 2.0);
        if e.kind == EdgeKind::Trunk {
            let _ = writeln!(
                s,
                r##"<line data-trunk="{} {}" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="#1565c0" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#1565c0" text-anchor="middle">trunk</text>"##,
                esc(&e.a),
                esc(&e.b),
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0 - 5.0
            );
            continue;
        }
        if (a.x - b.x).abs() < 1.0 {
            // one above the other: an arc out to the right of both
            let right = a.x.max(b.x) + a.w.max(b.w);
            let (ya, yb) = (a.y + BOX_H / 2.0, b.y + BOX_H / 2.0);
            let bulge = right + 40.0;
            let _ = writeln!(
                s,
                r##"<path data-link="{} {}" d="M{:.1},{ya:.1} C{bulge:.1},{ya:.1} {bulge:.1},{yb:.1} {:.1},{yb:.1}" fill="none" stroke="#b35900" stroke-width="1.5"/>"##,
                esc(&e.a),
                esc(&e.b),
                a.x + a.w,
                b.x + b.w
            );
            let label = format!("{} / {}", e.a_addrs.join(" "), e.b_addrs.join(" "));
            let label = label.trim_matches(|c| c == ' ' || c == '/');
            let lw = label.chars().count() as f64 * 6.0;
            s.push_str(&label_at(
                bulge + lw / 2.0 - 20.0,
                (ya + yb) / 2.0 + 4.0,
                label,
                "#b35900",
            ));
            continue;
        }
        let (x1, x2) = if a.x < b.x {
            (x1, x2)
        } else {
            (a.x, b.x + b.w)
        };
        let mx = (x1 + x2) / 2.0;
        let my = y1.min(y2) - 40.0;
        let _ = writeln!(
            s,
            r##"<path data-link="{} {}" d="M{x1:.1},{y1:.1} Q{mx:.1},{my:.1} {x2:.1},{y2:.1}" fill="none" stroke="#b35900" stroke-width="1.5"/>"##,
            esc(&e.a),
            esc(&e.b)
        );
        let label = format!("{} / {}", e.a_addrs.join(" "), e.b_addrs.join(" "));
        let label = label.trim_matches(|c| c == ' ' || c == '/');
        s.push_str(&label_at(mx, (y1.min(y2) + my) / 2.0, label, "#b35900"));
    }
    // switch boxes
    for (cx, w, sw_h, sw, lines, _) in &out_cols {
        let Some(sw) = sw else { continue };
        let backend = g
            .switches
            .iter()
            .find(|x| x.name == *sw)
            .map_or("bridge", |x| x.backend.as_str());
        let _ = writeln!(
            s,
            r##"<rect data-node="{}" x="{cx:.1}" y="{sw_y:.1}" width="{w:.1}" height="{sw_h:.1}" rx="3" fill="{}" stroke="#333" stroke-width="1.5"/>"##,
            esc(sw),
            backend_colour(backend)
        );
        for (i, l) in lines.iter().enumerate() {
            let weight = if i == 0 { r#" font-weight="bold""# } else { "" };
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}"{weight}>{}</text>"##,
                cx + 8.0,
                sw_y + 18.0 + 14.0 * i as f64,
                esc(l)
            );
        }
    }
    // host and router boxes
    for h in g
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .chain(g.routers.iter().map(String::as_str))
    {
        let Some(b) = boxes.get(h) else { continue };
        let router = g.routers.iter().any(|r| r == h);
        let gateway = g.hosts.iter().any(|x| x.name == h && x.gateway);
        let label = if b.y == MARGIN {
            top_label(g, h)
        } else {
            host_label(h)
        };
        let _ = writeln!(
            s,
            r##"<rect data-node="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{BOX_H}" rx="{}" fill="{}" stroke="#333" stroke-width="{}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            esc(h),
            b.x,
            b.y,
            b.w,
            if router { 0 } else { 8 },
            if router { "#fff9c4" } else { fill_of(h) },
            if gateway || router { 2 } else { 1 },
            b.x + 8.0,
            b.y + 18.0,
            esc(&label)
        );
    }
    // legend
    let mut lx = MARGIN;
    let ly = max_y + 8.0;
    for (b, name) in [
        ("bridge", "Linux bridge"),
        ("ovs", "Open vSwitch"),
        ("ovn", "OVN"),
    ] {
        if !g.switches.iter().any(|x| x.backend == b) {
            continue;
        }
        let _ = writeln!(
            s,
            r##"<rect x="{lx:.1}" y="{ly:.1}" width="12" height="12" fill="{}" stroke="#333"/><text x="{:.1}" y="{:.1}" font-size="11">{name}</text>"##,
            backend_colour(b),
            lx + 16.0,
            ly + 10.0
        );
        lx += text_w(name) + 36.0;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="11">internal port</text>"##,
        ly + 6.0,
        lx + 24.0,
        ly + 6.0,
        lx + 28.0,
        ly + 10.0
    );
    lx += 150.0;
    for (i, m) in machines.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<rect x="{lx:.1}" y="{ly:.1}" width="12" height="12" fill="{}" stroke="#333"/><text x="{:.1}" y="{:.1}" font-size="11">machine {}</text>"##,
            MACHINE_FILL[i % MACHINE_FILL.len()],
            lx + 16.0,
            ly + 10.0,
            esc(m)
        );
        lx += text_w(m) + 90.0;
    }
    s.push_str("</svg>\n");
    s
}

/// A gateway's or router's label: its name and role.
fn top_label(g: &Graph, name: &str) -> String {
    if g.routers.iter().any(|r| r == name) {
        format!("{name} (router)")
    } else if g.hosts.iter().any(|h| h.name == name && h.gateway) {
        format!("{name} (gateway)")
    } else {
        name.to_string()
    }
}

/// A small label centred at (x, y) on a white background, readable over
/// the lines it sits on.
fn label_at(x: f64, y: f64, text: &str, colour: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let w = text.chars().count() as f64 * 6.0 + 6.0;
    format!(
        r##"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="13" fill="white" opacity="0.9"/><text x="{x:.1}" y="{y:.1}" font-size="10" fill="{colour}" text-anchor="middle">{}</text>
"##,
        x - w / 2.0,
        y - 10.0,
        esc(text)
    )
}

/// Names in natural order: h2 before h10.
fn natural(mut v: Vec<&str>) -> Vec<&str> {
    fn key(s: &str) -> Vec<(String, u64)> {
        let mut out = vec![];
        let mut word = String::new();
        let mut num = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                num.push(c);
            } else {
                if !num.is_empty() {
                    out.push((std::mem::take(&mut word), num.parse().unwrap_or(u64::MAX)));
                    num.clear();
                }
                word.push(c);
            }
        }
        out.push((word, num.parse().unwrap_or(0)));
        out
    }
    v.sort_by_key(|s| key(s));
    v
}
