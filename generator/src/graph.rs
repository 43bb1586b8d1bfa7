//! The pipeline drawn as a graph (`orchgen graph`): Mermaid, Graphviz DOT or a self-contained SVG.
//!
//! [`Graph::from_plan`] reads the resolved [`Plan`] into nodes and edges that follow what the runtime
//! engine does (`runtime/src/engine/step.rs` and `compensate.rs`):
//! - a step's success moves the order to the next step, after the last one to `COMPLETED`;
//! - a refusal by a step that can refuse (`validate`, `reserve_inventory`, `charge_payment` with
//!   `decline` rules, `custom`, `http`) with nothing to undo (and `on_failure` other than `continue`)
//!   rejects the order (`REJECTED`); a `validate` step can do nothing else;
//! - `continue` goes on with the next step; a fault with `fail`, or with `compensate` and nothing to
//!   undo, ends the order `FAILED`;
//! - `compensate` runs the step's `compensate_on_failure` list, newest first, then `CANCELLED` (after a
//!   refusal; after a fault the order ends `FAILED`, drawn as the compensations' failure edges); a
//!   compensation that fails terminally ends the order `FAILED`;
//! - a step's `compensation` (which compensation undoes it) is a link of its own kind.
//!
//! The three renderers only read that model, so they always draw the same graph. Output is
//! deterministic: nodes and edges come in plan order, compensations in the order of the steps they
//! undo.

pub mod svg;

use std::fmt::Write;

use orchgen_runtime::plan::{OnFailure, Plan, RetryPlan, RouteAction, StepAction, StepPlan, status};

/// Output formats of `orchgen graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// A Mermaid `flowchart TD` (renders on GitHub, GitLab and in most Markdown viewers).
    Mermaid,
    /// A Graphviz digraph (`dot -Tsvg`).
    Dot,
    /// A self-contained SVG image laid out by orchgen.
    Svg,
}

/// Renders the plan's graph in `format`.
pub fn render(plan: &Plan, format: GraphFormat) -> String {
    let graph = Graph::from_plan(plan);
    match format {
        GraphFormat::Mermaid => graph.to_mermaid(),
        GraphFormat::Dot => graph.to_dot(&plan.name),
        GraphFormat::Svg => graph.to_svg(&plan.name),
    }
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// The API entry (`POST /orders` → `RECEIVED`).
    Entry,
    /// A step of the pipeline.
    Step,
    /// A compensation.
    Compensation,
    /// A terminal order status.
    Terminal,
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Identifier, safe in every output format (`api`, `step_0`, `comp_0`, `COMPLETED`, …).
    pub id: String,
    /// What the node stands for.
    pub kind: NodeKind,
    /// The label, one entry per line; the first line is the node's name.
    pub lines: Vec<String>,
}

impl Node {
    /// The node's name: the first line of its label.
    pub fn name(&self) -> &str {
        self.lines.first().map_or(self.id.as_str(), String::as_str)
    }
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// The order moves on after a success.
    Success,
    /// A terminal failure that starts compensating or ends the order `FAILED`.
    Failure,
    /// A terminal failure with `on_failure: continue`: the order goes on with the next step.
    Continue,
    /// A validation failure: the order is `REJECTED`.
    Rejected,
    /// The next compensation to run (newest first), or `CANCELLED` after the last.
    Compensating,
    /// The compensation that undoes a step (not a move of the order).
    UndoneBy,
}

impl EdgeKind {
    /// The label drawn on the edge, if any.
    pub fn label(self) -> Option<&'static str> {
        match self {
            EdgeKind::Success | EdgeKind::Compensating => None,
            EdgeKind::Failure => Some("on failure"),
            EdgeKind::Continue => Some("on failure: continue"),
            EdgeKind::Rejected => Some("rejected"),
            EdgeKind::UndoneBy => Some("undone by"),
        }
    }

    fn color(self) -> &'static str {
        match self {
            EdgeKind::Success => "#37474f",
            EdgeKind::Failure | EdgeKind::Rejected => "#d93025",
            EdgeKind::Continue => "#f29900",
            EdgeKind::Compensating => "#e8710a",
            EdgeKind::UndoneBy => "#9334e6",
        }
    }

    fn css(self) -> &'static str {
        match self {
            EdgeKind::Success => "success",
            EdgeKind::Failure => "failure",
            EdgeKind::Continue => "continue",
            EdgeKind::Rejected => "rejected",
            EdgeKind::Compensating => "compensating",
            EdgeKind::UndoneBy => "undone-by",
        }
    }

    const ALL: [EdgeKind; 6] = [
        EdgeKind::Success,
        EdgeKind::Failure,
        EdgeKind::Continue,
        EdgeKind::Rejected,
        EdgeKind::Compensating,
        EdgeKind::UndoneBy,
    ];
}

/// One edge of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Id of the source node.
    pub from: String,
    /// Id of the target node.
    pub to: String,
    /// What the edge stands for.
    pub kind: EdgeKind,
}

/// The pipeline as nodes and edges, in a deterministic order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Entry, steps in execution order, compensations, then terminal states.
    pub nodes: Vec<Node>,
    /// Edges, without duplicates.
    pub edges: Vec<Edge>,
}

const ENTRY: &str = "api";

impl Graph {
    /// Reads the plan into a graph.
    pub fn from_plan(plan: &Plan) -> Graph {
        let mut nodes = Vec::new();
        let create = plan.api.routes.iter().find(|r| r.action == RouteAction::Create);
        let entry = match create {
            Some(r) => format!("{} {}", r.method, r.path),
            None => format!("POST {}", plan.api.path),
        };
        nodes.push(Node { id: ENTRY.to_owned(), kind: NodeKind::Entry, lines: vec![entry, to(status::RECEIVED)] });
        let step_id = |i: usize| format!("step_{i}");
        for (i, step) in plan.steps.iter().enumerate() {
            let kind = match &step.action {
                StepAction::Custom(h) => format!("custom: {}", h.function),
                StepAction::Http(h) => format!("http: {} {}", h.method, h.url),
                other => other.kind().to_owned(),
            };
            nodes.push(Node {
                id: step_id(i),
                kind: NodeKind::Step,
                lines: vec![step.name.clone(), kind, to(&step.status), settings(&step.retry, step.timeout_ms)],
            });
        }
        // Compensations in the order of the steps they undo, then those no step names (by name).
        let mut comp_names: Vec<&str> = Vec::new();
        for step in &plan.steps {
            if let Some(c) = step.compensation.as_deref()
                && plan.compensations.contains_key(c)
                && !comp_names.contains(&c)
            {
                comp_names.push(c);
            }
        }
        for name in plan.compensations.keys() {
            if !comp_names.contains(&name.as_str()) {
                comp_names.push(name);
            }
        }
        let comp_id = |name: &str| comp_names.iter().position(|c| *c == name).map(|i| format!("comp_{i}"));
        for (i, name) in comp_names.iter().enumerate() {
            let c = &plan.compensations[*name];
            let kind = match &c.action {
                orchgen_runtime::plan::CompensationAction::Custom(h) => format!("custom: {}", h.function),
                orchgen_runtime::plan::CompensationAction::Http(h) => format!("http: {} {}", h.method, h.url),
                other => other.kind().to_owned(),
            };
            nodes.push(Node {
                id: format!("comp_{i}"),
                kind: NodeKind::Compensation,
                lines: vec![c.name.clone(), kind, settings(&c.retry, c.timeout_ms)],
            });
        }
        let rejects =
            |s: &StepPlan| can_refuse(s) && s.compensate_on_failure.is_empty() && s.on_failure != OnFailure::Continue;
        let mut terminals = vec![status::COMPLETED, status::FAILED, status::CANCELLED];
        if plan.steps.iter().any(rejects) {
            terminals.push(status::REJECTED);
        }
        for t in terminals {
            nodes.push(Node { id: t.to_owned(), kind: NodeKind::Terminal, lines: vec![t.to_owned()] });
        }

        let mut edges: Vec<Edge> = Vec::new();
        let mut add = |from: &str, to: &str, kind: EdgeKind| {
            let edge = Edge { from: from.to_owned(), to: to.to_owned(), kind };
            if !edges.contains(&edge) {
                edges.push(edge);
            }
        };
        let after = |i: usize| if i + 1 < plan.steps.len() { step_id(i + 1) } else { status::COMPLETED.to_owned() };
        add(ENTRY, &if plan.steps.is_empty() { status::COMPLETED.to_owned() } else { step_id(0) }, EdgeKind::Success);
        for (i, step) in plan.steps.iter().enumerate() {
            let id = step_id(i);
            add(&id, &after(i), EdgeKind::Success);
            let chain: Vec<String> = step.compensate_on_failure.iter().filter_map(|c| comp_id(c)).collect();
            if rejects(step) {
                add(&id, status::REJECTED, EdgeKind::Rejected);
            }
            let only_refuses = matches!(step.action, StepAction::Validate(_));
            if !(rejects(step) && only_refuses) {
                match step.on_failure {
                    OnFailure::Continue => add(&id, &after(i), EdgeKind::Continue),
                    OnFailure::Compensate if !chain.is_empty() => {
                        add(&id, &chain[0], EdgeKind::Failure);
                        for pair in chain.windows(2) {
                            add(&pair[0], &pair[1], EdgeKind::Compensating);
                        }
                        add(&chain[chain.len() - 1], status::CANCELLED, EdgeKind::Compensating);
                    }
                    OnFailure::Compensate | OnFailure::Fail => add(&id, status::FAILED, EdgeKind::Failure),
                }
            }
            if let Some(c) = step.compensation.as_deref().and_then(comp_id) {
                add(&id, &c, EdgeKind::UndoneBy);
            }
        }
        // A compensation that fails terminally ends the order FAILED (only those that can run).
        let runs: Vec<&str> = plan
            .steps
            .iter()
            .filter(|s| s.on_failure == OnFailure::Compensate)
            .flat_map(|s| s.compensate_on_failure.iter().map(String::as_str))
            .collect();
        for (i, name) in comp_names.iter().enumerate() {
            if runs.contains(name) {
                add(&format!("comp_{i}"), status::FAILED, EdgeKind::Failure);
            }
        }
        Graph { nodes, edges }
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The graph as a Mermaid `flowchart TD`.
    pub fn to_mermaid(&self) -> String {
        let mut s = String::from("flowchart TD\n");
        let classes = [
            ("entry", "fill:#e8f0fe,stroke:#1a73e8,color:#0b2e6b"),
            ("step", "fill:#ffffff,stroke:#37474f,color:#111111"),
            ("compensation", "fill:#fff4e5,stroke:#e8710a,color:#5f2b00"),
            ("completed", "fill:#e6f4ea,stroke:#188038,color:#0d3d1c"),
            ("failed", "fill:#fce8e6,stroke:#d93025,color:#5c0f0a"),
            ("cancelled", "fill:#f1f3f4,stroke:#5f6368,color:#202124"),
            ("rejected", "fill:#fef7e0,stroke:#f29900,color:#5c3d00"),
        ];
        for (name, style) in classes {
            let _ = writeln!(s, "    classDef {name} {style}");
        }
        for node in &self.nodes {
            let mut lines = node.lines.iter().map(|l| mermaid_escape(l));
            let first = lines.next().unwrap_or_default();
            let label = std::iter::once(format!("<b>{first}</b>")).chain(lines).collect::<Vec<_>>().join("<br/>");
            let (open, close, class) = match node.kind {
                NodeKind::Entry => ("([", "])", "entry"),
                NodeKind::Step => ("[", "]", "step"),
                NodeKind::Compensation => ("[[", "]]", "compensation"),
                NodeKind::Terminal => ("((", "))", terminal_class(&node.id)),
            };
            let _ = writeln!(s, "    {}{open}\"{label}\"{close}:::{class}", node.id);
        }
        for edge in &self.edges {
            let arrow = match edge.kind {
                EdgeKind::Continue => "-.->",
                EdgeKind::UndoneBy => "-.-",
                _ => "-->",
            };
            match edge.kind.label() {
                Some(label) => {
                    let _ = writeln!(s, "    {} {arrow}|\"{label}\"| {}", edge.from, edge.to);
                }
                None => {
                    let _ = writeln!(s, "    {} {arrow} {}", edge.from, edge.to);
                }
            }
        }
        for kind in EdgeKind::ALL {
            let indexes: Vec<String> =
                self.edges.iter().enumerate().filter(|(_, e)| e.kind == kind).map(|(i, _)| i.to_string()).collect();
            if indexes.is_empty() {
                continue;
            }
            let color = kind.color();
            let dash = match kind {
                EdgeKind::UndoneBy => ",stroke-dasharray:2 4",
                EdgeKind::Continue => ",stroke-dasharray:6 4",
                _ => "",
            };
            let _ = writeln!(s, "    linkStyle {} stroke:{color},color:{color}{dash}", indexes.join(","));
        }
        s
    }

    /// The graph as a Graphviz digraph named after the pipeline.
    pub fn to_dot(&self, name: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "digraph \"{}\" {{", dot_escape(name));
        s.push_str("    graph [rankdir=TB, fontname=\"Helvetica\", nodesep=0.5, ranksep=0.6];\n");
        s.push_str("    node [fontname=\"Helvetica\", fontsize=11, shape=box, style=\"rounded,filled\"];\n");
        s.push_str("    edge [fontname=\"Helvetica\", fontsize=9];\n");
        for node in &self.nodes {
            let (fill, stroke) = node_colors(node);
            let shape = match node.kind {
                NodeKind::Entry => "box",
                NodeKind::Step => "box",
                NodeKind::Compensation => "box3d",
                NodeKind::Terminal => "ellipse",
            };
            let label = node.lines.iter().map(|l| dot_escape(l)).collect::<Vec<_>>().join("\\n");
            let _ = writeln!(
                s,
                "    {} [label=\"{label}\", shape={shape}, fillcolor=\"{fill}\", color=\"{stroke}\"];",
                node.id
            );
        }
        let comps: Vec<&str> =
            self.nodes.iter().filter(|n| n.kind == NodeKind::Compensation).map(|n| n.id.as_str()).collect();
        if !comps.is_empty() {
            s.push_str(
                "    subgraph cluster_compensations {\n        label=\"compensations\";\n        style=dashed;\n",
            );
            let _ = writeln!(s, "        color=\"{}\";", EdgeKind::Compensating.color());
            for c in comps {
                let _ = writeln!(s, "        {c};");
            }
            s.push_str("    }\n");
        }
        let terminals: Vec<&str> =
            self.nodes.iter().filter(|n| n.kind == NodeKind::Terminal).map(|n| n.id.as_str()).collect();
        let _ = writeln!(s, "    {{ rank=sink; {}; }}", terminals.join("; "));
        for edge in &self.edges {
            let color = edge.kind.color();
            let mut attrs = vec![format!("color=\"{color}\"")];
            if let Some(label) = edge.kind.label() {
                attrs.push(format!("label=\"{label}\""));
                attrs.push(format!("fontcolor=\"{color}\""));
            }
            match edge.kind {
                EdgeKind::Continue => attrs.push("style=dashed".to_owned()),
                EdgeKind::UndoneBy => {
                    attrs.extend(["style=dotted", "arrowhead=none", "constraint=false"].map(str::to_owned))
                }
                EdgeKind::Success => attrs.push("penwidth=1.5".to_owned()),
                _ => {}
            }
            let _ = writeln!(s, "    {} -> {} [{}];", edge.from, edge.to, attrs.join(", "));
        }
        s.push_str("}\n");
        s
    }

    /// The graph as a self-contained SVG image (see [`svg`] for the layout).
    pub fn to_svg(&self, name: &str) -> String {
        svg::render(self, name)
    }
}

/// Whether a step of this kind can refuse an order (`StepError::Rejected`).
fn can_refuse(step: &StepPlan) -> bool {
    match &step.action {
        StepAction::Validate(_) | StepAction::ReserveInventory | StepAction::Custom(_) | StepAction::Http(_) => true,
        StepAction::ChargePayment(payment) => !payment.decline.is_empty(),
        StepAction::Fulfil(_) | StepAction::Notify(_) => false,
    }
}

fn to(status: &str) -> String {
    format!("→ {status}")
}

fn settings(retry: &RetryPlan, timeout_ms: u64) -> String {
    let retry = if retry.max_attempts <= 1 {
        "no retry".to_owned()
    } else {
        format!("retry {} × {}", retry.max_attempts, duration(retry.base_delay_ms))
    };
    format!("{retry}, timeout {}", duration(timeout_ms))
}

/// A duration in milliseconds in the largest unit that keeps it whole (`200ms`, `10s`, `2m`).
fn duration(ms: u64) -> String {
    if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms > 0 && ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

fn terminal_class(id: &str) -> &'static str {
    match id {
        status::COMPLETED => "completed",
        status::FAILED => "failed",
        status::REJECTED => "rejected",
        _ => "cancelled",
    }
}

fn node_colors(node: &Node) -> (&'static str, &'static str) {
    match node.kind {
        NodeKind::Entry => ("#e8f0fe", "#1a73e8"),
        NodeKind::Step => ("#ffffff", "#37474f"),
        NodeKind::Compensation => ("#fff4e5", "#e8710a"),
        NodeKind::Terminal => match terminal_class(&node.id) {
            "completed" => ("#e6f4ea", "#188038"),
            "failed" => ("#fce8e6", "#d93025"),
            "rejected" => ("#fef7e0", "#f29900"),
            _ => ("#f1f3f4", "#5f6368"),
        },
    }
}

/// Text inside a quoted Mermaid label (rendered as HTML).
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a quoted DOT string.
fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text or attribute value inside XML.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
