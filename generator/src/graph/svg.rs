//! The graph as a self-contained SVG, laid out here (no Graphviz needed).
//!
//! A simple layered, top-down layout:
//! - column 1: the API entry, then the steps in execution order, one row each, joined by straight
//!   success edges;
//! - column 2: the compensations, each on the row of the step it undoes;
//! - the terminal states in a row at the bottom, `COMPLETED` under the last step;
//! - edges are orthogonal paths with arrowheads. Every edge that cannot be a straight line gets a
//!   vertical lane of its own in a channel (left of the steps: failures to terminal states and
//!   `continue`; between the columns: step → compensation; right of the compensations: the
//!   compensation chain), and a horizontal lane of its own above the terminal row, so no two
//!   edges share a segment.
//!
//! Text widths are estimated from the character count (no font metrics), generously enough for
//! the usual sans-serif fonts. All text is XML-escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use orchgen_runtime::plan::status;

use super::{EdgeKind, Graph, NodeKind, xml_escape};

const MARGIN: i32 = 20;
const TITLE_H: i32 = 34;
const LINE_H: i32 = 16;
const PAD: i32 = 9;
const CHAR_W: i32 = 7;
const MIN_COL1_W: i32 = 220;
const MIN_COL2_W: i32 = 200;
const TERM_W: i32 = 120;
const TERM_H: i32 = 34;
const TERM_GAP: i32 = 24;
const ROW_GAP: i32 = 44;
const LANE: i32 = 10;
const CHANNEL_PAD: i32 = 18;
const PORT_GAP: i32 = 10;

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
}

impl Rect {
    fn cx(&self) -> i32 {
        self.x + self.w / 2
    }
    fn cy(&self) -> i32 {
        self.y + self.h / 2
    }
    fn right(&self) -> i32 {
        self.x + self.w
    }
    fn bottom(&self) -> i32 {
        self.y + self.h
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Left,
    Right,
    Top,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Left,
    Middle,
    Right,
}

/// How one edge is drawn.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// Straight down from the source's bottom to the target's top (same column).
    Straight,
    /// Down from the source's bottom to a bus lane, then into a terminal's top.
    DownToBus,
    /// Out of a source side into a channel lane, then into the target's side.
    Lane { out: Side, channel: Channel, into: Side },
    /// Out of a source side into a channel lane, down to a bus lane, into a terminal's top.
    LaneToBus { out: Side, channel: Channel },
}

fn text_width(lines: &[String]) -> i32 {
    let chars = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    i32::try_from(chars).unwrap_or(i32::MAX / 2).saturating_mul(CHAR_W).saturating_add(2 * PAD + 8)
}

fn text_height(lines: &[String]) -> i32 {
    i32::try_from(lines.len()).unwrap_or(1).max(1) * LINE_H + 2 * PAD
}

/// Renders `graph` as SVG; `name` is the pipeline's name, shown as the title.
pub fn render(graph: &Graph, name: &str) -> String {
    let index: BTreeMap<&str, usize> = graph.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let kind_of = |id: &str| index.get(id).map(|&i| graph.nodes[i].kind);
    let col1: Vec<usize> =
        (0..graph.nodes.len()).filter(|&i| matches!(graph.nodes[i].kind, NodeKind::Entry | NodeKind::Step)).collect();
    let comps: Vec<usize> = (0..graph.nodes.len()).filter(|&i| graph.nodes[i].kind == NodeKind::Compensation).collect();
    // Terminal states left to right: COMPLETED under the steps, then the ends of failures.
    let mut terms: Vec<usize> = (0..graph.nodes.len()).filter(|&i| graph.nodes[i].kind == NodeKind::Terminal).collect();
    terms.sort_by_key(|&i| match graph.nodes[i].id.as_str() {
        status::COMPLETED => 0,
        status::REJECTED => 1,
        status::FAILED => 2,
        status::CANCELLED => 3,
        _ => 4,
    });

    // Rows: one per column-1 node; a compensation joins the row of the first step it undoes.
    let mut row_of: BTreeMap<usize, usize> = col1.iter().enumerate().map(|(row, &n)| (n, row)).collect();
    let mut rows = col1.len();
    let mut comp_rows: BTreeMap<usize, usize> = BTreeMap::new();
    for &c in &comps {
        let undoer = graph.edges.iter().find(|e| e.kind == EdgeKind::UndoneBy && e.to == graph.nodes[c].id);
        let row = undoer.and_then(|e| index.get(e.from.as_str())).and_then(|n| row_of.get(n)).copied();
        let row = match row {
            Some(r) if !comp_rows.values().any(|&taken| taken == r) => r,
            _ => {
                rows += 1;
                rows - 1
            }
        };
        comp_rows.insert(c, row);
    }
    row_of.extend(comp_rows);

    // Routes and lanes.
    let mut routes = Vec::with_capacity(graph.edges.len());
    for edge in &graph.edges {
        let from = kind_of(&edge.from);
        let to = kind_of(&edge.to);
        let route = match (from, to) {
            (Some(NodeKind::Entry | NodeKind::Step), Some(NodeKind::Step)) if edge.kind == EdgeKind::Success => {
                Route::Straight
            }
            (Some(NodeKind::Entry | NodeKind::Step), Some(NodeKind::Terminal)) if edge.kind == EdgeKind::Success => {
                Route::DownToBus
            }
            (Some(NodeKind::Entry | NodeKind::Step), Some(NodeKind::Step)) => {
                Route::Lane { out: Side::Left, channel: Channel::Left, into: Side::Left }
            }
            (Some(NodeKind::Entry | NodeKind::Step), Some(NodeKind::Terminal)) => {
                Route::LaneToBus { out: Side::Left, channel: Channel::Left }
            }
            (Some(NodeKind::Entry | NodeKind::Step), _) => {
                Route::Lane { out: Side::Right, channel: Channel::Middle, into: Side::Left }
            }
            (_, Some(NodeKind::Terminal)) => Route::LaneToBus { out: Side::Right, channel: Channel::Right },
            _ => Route::Lane { out: Side::Right, channel: Channel::Right, into: Side::Right },
        };
        routes.push(route);
    }
    let mut lane_count = BTreeMap::new();
    let mut lanes = Vec::with_capacity(routes.len());
    let mut buses = 0;
    let mut bus_of = Vec::with_capacity(routes.len());
    for route in &routes {
        let channel = match route {
            Route::Lane { channel, .. } | Route::LaneToBus { channel, .. } => Some(*channel as usize),
            _ => None,
        };
        lanes.push(channel.map(|c| {
            let n = lane_count.entry(c).or_insert(0);
            *n += 1;
            *n - 1
        }));
        bus_of.push(if matches!(route, Route::DownToBus | Route::LaneToBus { .. }) {
            buses += 1;
            Some(buses - 1)
        } else {
            None
        });
    }
    let lanes_in = |c: Channel| lane_count.get(&(c as usize)).copied().unwrap_or(0);

    // Columns.
    let col1_w = col1.iter().map(|&n| text_width(&graph.nodes[n].lines)).max().unwrap_or(0).max(MIN_COL1_W);
    let col2_w = comps.iter().map(|&n| text_width(&graph.nodes[n].lines)).max().unwrap_or(0).max(MIN_COL2_W);
    let col1_x = MARGIN + CHANNEL_PAD + lanes_in(Channel::Left) * LANE;
    let col2_x = col1_x + col1_w + 2 * CHANNEL_PAD + lanes_in(Channel::Middle).max(3) * LANE;
    let right_edge = if comps.is_empty() {
        col1_x + col1_w + CHANNEL_PAD
    } else {
        col2_x + col2_w + CHANNEL_PAD + lanes_in(Channel::Right) * LANE
    };

    // Rows.
    let mut row_h = vec![0; rows];
    for (&n, &row) in &row_of {
        row_h[row] = row_h[row].max(text_height(&graph.nodes[n].lines));
    }
    let mut row_y = Vec::with_capacity(rows);
    let mut y = MARGIN + TITLE_H;
    for h in &row_h {
        row_y.push(y);
        y += h + ROW_GAP;
    }
    let rows_bottom = y - ROW_GAP;
    let mut rects: Vec<Option<Rect>> = vec![None; graph.nodes.len()];
    for (&n, &row) in &row_of {
        let (x, w) = if graph.nodes[n].kind == NodeKind::Compensation { (col2_x, col2_w) } else { (col1_x, col1_w) };
        let h = text_height(&graph.nodes[n].lines);
        rects[n] = Some(Rect { x, y: row_y[row] + (row_h[row] - h) / 2, w, h });
    }
    let bus_top = rows_bottom + 24;
    let terms_y = bus_top + buses * LANE + 16;
    let mut tx = col1_x + col1_w / 2 - TERM_W / 2;
    for &t in &terms {
        rects[t] = Some(Rect { x: tx, y: terms_y, w: TERM_W, h: TERM_H });
        tx += TERM_W + TERM_GAP;
    }
    let terms_right = tx - TERM_GAP;

    let lane_x = |channel: Channel, lane: i32| match channel {
        Channel::Left => col1_x - CHANNEL_PAD - lane * LANE,
        Channel::Middle => col1_x + col1_w + CHANNEL_PAD + lane * LANE,
        Channel::Right => col2_x + col2_w + CHANNEL_PAD + lane * LANE,
    };
    // Ports: edges attached to the same side of a node are spread along it.
    let mut attached: BTreeMap<(usize, Side), Vec<usize>> = BTreeMap::new();
    let mut ends = Vec::with_capacity(graph.edges.len());
    for (e, (edge, route)) in graph.edges.iter().zip(&routes).enumerate() {
        let (Some(&from), Some(&to)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str())) else {
            ends.push(None);
            continue;
        };
        let (out, into) = match route {
            Route::Straight => (None, None),
            Route::DownToBus => (None, Some(Side::Top)),
            Route::Lane { out, into, .. } => (Some(*out), Some(*into)),
            Route::LaneToBus { out, .. } => (Some(*out), Some(Side::Top)),
        };
        if let Some(side) = out {
            attached.entry((from, side)).or_default().push(e);
        }
        if let Some(side) = into {
            attached.entry((to, side)).or_default().push(e);
        }
        ends.push(Some((from, to)));
    }
    // Edges into a terminal arrive left to right in the order of the x they come down at.
    let lane_of = |e: usize| lanes[e].unwrap_or(0);
    for ((_, side), list) in attached.iter_mut() {
        if *side == Side::Top {
            list.sort_by_key(|&e| match (routes[e], ends[e]) {
                (Route::LaneToBus { channel, .. }, _) => lane_x(channel, lane_of(e)),
                (_, Some((from, _))) => rects[from].map_or(0, |r| r.cx()),
                _ => 0,
            });
        }
    }
    let port = |node: usize, side: Side, edge: usize| -> (i32, i32) {
        let r = rects[node].unwrap_or(Rect { x: 0, y: 0, w: 0, h: 0 });
        let list = attached.get(&(node, side)).map(Vec::as_slice).unwrap_or(&[]);
        let k = i32::try_from(list.len()).unwrap_or(1);
        let i = i32::try_from(list.iter().position(|&e| e == edge).unwrap_or(0)).unwrap_or(0);
        let room = match side {
            Side::Top => r.w - 16,
            _ => r.h - 12,
        };
        let gap = if k > 1 { PORT_GAP.min(room / (k - 1)) } else { 0 };
        let offset = i * gap - (k - 1) * gap / 2;
        match side {
            Side::Left => (r.x, r.cy() + offset),
            Side::Right => (r.right(), r.cy() + offset),
            Side::Top => (r.cx() + offset, r.y),
        }
    };

    // Legend.
    let legend: Vec<EdgeKind> =
        EdgeKind::ALL.into_iter().filter(|k| graph.edges.iter().any(|e| e.kind == *k)).collect();
    let legend_y = terms_y + TERM_H + 28;
    let height = legend_y + i32::try_from(legend.len()).unwrap_or(0) * 18 + MARGIN;
    let width = right_edge.max(terms_right).max(col1_x + 260) + MARGIN;

    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "  <title>pipeline {}</title>", xml_escape(name));
    s.push_str("  <defs>\n");
    for kind in EdgeKind::ALL {
        if kind == EdgeKind::UndoneBy {
            continue;
        }
        let _ = writeln!(
            s,
            "    <marker id=\"arrow-{}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
             orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            kind.css(),
            kind.color()
        );
    }
    s.push_str("  </defs>\n");
    let _ = writeln!(s, "  <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        s,
        "  <text x=\"{MARGIN}\" y=\"{}\" font-size=\"15\" font-weight=\"bold\" fill=\"#202124\">pipeline {}</text>",
        MARGIN + 14,
        xml_escape(name)
    );

    // Edges first, so nodes are drawn over their ends.
    for (e, edge) in graph.edges.iter().enumerate() {
        let Some((from, to)) = ends[e] else { continue };
        let (Some(a), Some(b)) = (rects[from], rects[to]) else { continue };
        let lane = lane_of(e);
        let bus_y = bus_top + bus_of[e].unwrap_or(0) * LANE;
        let points: Vec<(i32, i32)> = match routes[e] {
            Route::Straight => vec![(a.cx(), a.bottom()), (a.cx(), b.y)],
            Route::DownToBus => {
                let (tx, ty) = port(to, Side::Top, e);
                vec![(a.cx(), a.bottom()), (a.cx(), bus_y), (tx, bus_y), (tx, ty)]
            }
            Route::Lane { out, channel, into } => {
                let (sx, sy) = port(from, out, e);
                let (tx, ty) = port(to, into, e);
                let lx = lane_x(channel, lane);
                vec![(sx, sy), (lx, sy), (lx, ty), (tx, ty)]
            }
            Route::LaneToBus { out, channel } => {
                let (sx, sy) = port(from, out, e);
                let (tx, ty) = port(to, Side::Top, e);
                let lx = lane_x(channel, lane);
                vec![(sx, sy), (lx, sy), (lx, bus_y), (tx, bus_y), (tx, ty)]
            }
        };
        let title = match edge.kind.label() {
            Some(label) => format!("{} → {}: {label}", graph.nodes[from].name(), graph.nodes[to].name()),
            None => format!("{} → {}", graph.nodes[from].name(), graph.nodes[to].name()),
        };
        let _ = writeln!(
            s,
            "  <path class=\"edge {}\" d=\"{}\" {}><title>{}</title></path>",
            edge.kind.css(),
            path_data(&points),
            stroke(edge.kind),
            xml_escape(&title)
        );
    }

    for (n, node) in graph.nodes.iter().enumerate() {
        let Some(r) = rects[n] else { continue };
        let (fill, line) = super::node_colors(node);
        let class = match node.kind {
            NodeKind::Entry => "entry",
            NodeKind::Step => "step",
            NodeKind::Compensation => "compensation",
            NodeKind::Terminal => "terminal",
        };
        let rx = match node.kind {
            NodeKind::Terminal | NodeKind::Entry => r.h / 2,
            NodeKind::Step => 4,
            NodeKind::Compensation => 10,
        };
        let _ = writeln!(s, "  <g class=\"node {class}\" id=\"{}\">", xml_escape(&node.id));
        let _ = writeln!(s, "    <title>{}</title>", xml_escape(&node.lines.join("\n")));
        let _ = writeln!(
            s,
            "    <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{line}\" stroke-width=\"1.5\"/>",
            r.x, r.y, r.w, r.h
        );
        let lines = i32::try_from(node.lines.len()).unwrap_or(1);
        let top = r.cy() - lines * LINE_H / 2;
        for (i, text) in node.lines.iter().enumerate() {
            let i = i32::try_from(i).unwrap_or(0);
            let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
            let _ = writeln!(
                s,
                "    <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#202124\"{weight}>{}</text>",
                r.cx(),
                top + i * LINE_H + LINE_H - 4,
                xml_escape(text)
            );
        }
        s.push_str("  </g>\n");
    }

    for (i, kind) in legend.iter().enumerate() {
        let y = legend_y + i32::try_from(i).unwrap_or(0) * 18;
        let x = MARGIN;
        let text = kind.label().unwrap_or(match kind {
            EdgeKind::Compensating => "next compensation (newest first)",
            _ => "success",
        });
        let _ = writeln!(
            s,
            "  <g class=\"legend\"><path d=\"M{x},{y} L{},{y}\" {}/><text x=\"{}\" y=\"{}\" fill=\"#3c4043\">{}</text></g>",
            x + 36,
            stroke(*kind),
            x + 46,
            y + 4,
            xml_escape(text)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn stroke(kind: EdgeKind) -> String {
    let mut attrs = format!("fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"", kind.color());
    match kind {
        EdgeKind::Continue => attrs.push_str(" stroke-dasharray=\"6 4\""),
        EdgeKind::UndoneBy => attrs.push_str(" stroke-dasharray=\"2 4\""),
        _ => {}
    }
    if kind != EdgeKind::UndoneBy {
        let _ = write!(attrs, " marker-end=\"url(#arrow-{})\"", kind.css());
    }
    attrs
}

fn path_data(points: &[(i32, i32)]) -> String {
    let mut d = String::new();
    let mut last = None;
    for &(x, y) in points {
        if last == Some((x, y)) {
            continue;
        }
        d.push_str(if last.is_none() { "M" } else { " L" });
        let _ = write!(d, "{x},{y}");
        last = Some((x, y));
    }
    d
}
