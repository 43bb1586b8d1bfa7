//! `orchgen graph [FILE] [--format mermaid|dot|svg] [--out FILE]` as a user runs it (through
//! `orchgen::run`, the code behind the binary): snapshots of the three formats for the reference
//! pipeline and a custom-step pipeline, the edges a reader relies on, an SVG that parses as XML and
//! shows every label, escaping, `--out`, and the exit codes of an invalid or missing file.

use orchgen_generator::graph::{EdgeKind, Graph, GraphFormat, NodeKind};
use orchgen_runtime::Plan;
use orchgen_tests::workspace_root;

use crate::orchgen;

fn path(relative: &str) -> String {
    workspace_root().join(relative).display().to_string()
}

const ORDERS: &str = "pipelines/orders.yaml";
const CUSTOM: &str = "tests/corpus/valid/custom-step.yaml";

fn plan_of(relative: &str) -> Plan {
    let checked = orchgen_generator::check_file(&workspace_root().join(relative)).expect("readable");
    checked.plan.unwrap_or_else(|| panic!("{relative} is valid: {}", checked.report.render(100)))
}

/// `graph` on `file` in `format`, which must succeed with nothing on stderr.
fn graph(file: &str, format: &str) -> String {
    let (code, stdout, stderr) = orchgen(&["graph", &path(file), "--format", format]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "", "a valid file without warnings prints nothing on stderr");
    stdout
}

/// Source → target edges of `kind`, by node name.
fn edges(graph: &Graph, kind: EdgeKind) -> Vec<(String, String)> {
    let name = |id: &str| graph.node(id).map(|n| n.name().to_owned()).unwrap_or_default();
    graph.edges.iter().filter(|e| e.kind == kind).map(|e| (name(&e.from), name(&e.to))).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn snapshots_of_the_three_formats() {
    for (name, file) in [("orders", ORDERS), ("custom_step", CUSTOM)] {
        insta::assert_snapshot!(format!("{name}_mermaid"), graph(file, "mermaid"));
        insta::assert_snapshot!(format!("{name}_dot"), graph(file, "dot"));
        insta::assert_snapshot!(format!("{name}_svg"), graph(file, "svg"));
    }
}

#[test]
fn mermaid_is_the_default_format_and_output_is_deterministic() {
    let (code, default, _) = orchgen(&["graph", &path(ORDERS)]);
    assert_eq!(code, 0);
    assert_eq!(default, graph(ORDERS, "mermaid"));
    assert!(default.starts_with("flowchart TD\n"), "{default}");
    assert!(default.contains("classDef compensation"), "{default}");
    for format in ["mermaid", "dot", "svg"] {
        assert_eq!(graph(ORDERS, format), graph(ORDERS, format), "{format} is deterministic");
    }
}

#[test]
fn the_reference_pipeline_has_its_success_failure_and_compensation_edges() {
    let g = Graph::from_plan(&plan_of(ORDERS));
    let names: Vec<(&str, NodeKind)> = g.nodes.iter().map(|n| (n.name(), n.kind)).collect();
    assert_eq!(
        names,
        [
            ("POST /orders", NodeKind::Entry),
            ("validate", NodeKind::Step),
            ("reserve-inventory", NodeKind::Step),
            ("charge-payment", NodeKind::Step),
            ("fulfil", NodeKind::Step),
            ("notify", NodeKind::Step),
            ("release-inventory", NodeKind::Compensation),
            ("refund-payment", NodeKind::Compensation),
            ("COMPLETED", NodeKind::Terminal),
            ("FAILED", NodeKind::Terminal),
            ("CANCELLED", NodeKind::Terminal),
            ("REJECTED", NodeKind::Terminal),
        ]
    );
    let entry = g.node("api").expect("entry");
    assert_eq!(entry.lines, ["POST /orders", "→ RECEIVED"]);
    let charge = g.nodes.iter().find(|n| n.name() == "charge-payment").expect("charge step");
    assert_eq!(charge.lines, ["charge-payment", "charge_payment", "→ PAID", "retry 3 × 200ms, timeout 15s"]);
    let notify = g.nodes.iter().find(|n| n.name() == "notify").expect("notify step");
    assert_eq!(notify.lines[3], "retry 5 × 1s, timeout 10s");

    assert_eq!(
        edges(&g, EdgeKind::Success),
        pairs(&[
            ("POST /orders", "validate"),
            ("validate", "reserve-inventory"),
            ("reserve-inventory", "charge-payment"),
            ("charge-payment", "fulfil"),
            ("fulfil", "notify"),
            ("notify", "COMPLETED"),
        ])
    );
    // A refusal with nothing to undo: invalid, or out of stock before anything was reserved.
    assert_eq!(edges(&g, EdgeKind::Rejected), pairs(&[("validate", "REJECTED"), ("reserve-inventory", "REJECTED")]));
    // reserve-inventory has nothing to undo before it: a fault there ends the order FAILED.
    assert_eq!(
        edges(&g, EdgeKind::Failure),
        pairs(&[
            ("reserve-inventory", "FAILED"),
            ("charge-payment", "release-inventory"),
            ("fulfil", "refund-payment"),
            ("release-inventory", "FAILED"),
            ("refund-payment", "FAILED"),
        ])
    );
    // Newest first: refund the payment, then release the stock, then CANCELLED.
    assert_eq!(
        edges(&g, EdgeKind::Compensating),
        pairs(&[("release-inventory", "CANCELLED"), ("refund-payment", "release-inventory")])
    );
    assert_eq!(edges(&g, EdgeKind::Continue), pairs(&[("notify", "COMPLETED")]));
    assert_eq!(
        edges(&g, EdgeKind::UndoneBy),
        pairs(&[("reserve-inventory", "release-inventory"), ("charge-payment", "refund-payment")])
    );

    let mermaid = g.to_mermaid();
    assert!(mermaid.contains("step_4 -.->|\"on failure: continue\"| COMPLETED"), "{mermaid}");
    assert!(mermaid.contains("step_1 -.-|\"undone by\"| comp_0"), "{mermaid}");
    let dot = g.to_dot("shop");
    assert!(dot.starts_with("digraph \"shop\" {\n") && dot.ends_with("}\n"), "{dot}");
    assert!(dot.contains("step_4 -> COMPLETED [color=\"#f29900\", label=\"on failure: continue\""), "{dot}");
    assert!(dot.contains("step_1 -> comp_0 [color=\"#9334e6\", label=\"undone by\""), "{dot}");
}

#[test]
fn a_custom_step_pipeline_chains_its_own_compensation() {
    let g = Graph::from_plan(&plan_of(CUSTOM));
    let score = g.nodes.iter().find(|n| n.name() == "fraud-score").expect("custom step");
    assert_eq!(score.lines, ["fraud-score", "custom: fraud_check::score", "→ SCORED", "retry 3 × 200ms, timeout 30s"]);
    let forget = g.nodes.iter().find(|n| n.name() == "forget-score").expect("custom compensation");
    assert_eq!(forget.lines, ["forget-score", "custom: fraud_check::forget", "retry 10 × 1s, timeout 10s"]);
    assert_eq!(
        edges(&g, EdgeKind::Failure),
        pairs(&[("fraud-score", "FAILED"), ("charge-payment", "forget-score"), ("forget-score", "FAILED")])
    );
    assert_eq!(edges(&g, EdgeKind::Compensating), pairs(&[("forget-score", "CANCELLED")]));
    assert_eq!(edges(&g, EdgeKind::Success).last(), Some(&("charge-payment".to_owned(), "COMPLETED".to_owned())));
}

#[test]
fn rejected_appears_only_where_a_step_can_refuse_with_nothing_to_undo() {
    let mut plan = plan_of(ORDERS);
    // Left: fulfil and notify, which never refuse an order.
    plan.steps.drain(..3);
    let g = Graph::from_plan(&plan);
    assert!(g.node("REJECTED").is_none());
    assert!(g.node("FAILED").is_some() && g.node("CANCELLED").is_some() && g.node("COMPLETED").is_some());
    assert!(!orchgen_generator::graph::render(&plan, GraphFormat::Mermaid).contains("REJECTED"));
    assert!(!orchgen_generator::graph::render(&plan, GraphFormat::Svg).contains("REJECTED"));
}

/// Every `<text>` of the SVG, parsed as XML.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("the SVG is not valid XML: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    assert!(root.attribute("viewBox").is_some());
    root.descendants().filter(|n| n.has_tag_name("text")).map(|n| n.text().unwrap_or_default().to_owned()).collect()
}

#[test]
fn the_svg_parses_and_shows_every_label() {
    for file in [ORDERS, CUSTOM] {
        let svg = graph(file, "svg");
        let texts = svg_texts(&svg);
        let g = Graph::from_plan(&plan_of(file));
        for node in &g.nodes {
            for line in &node.lines {
                assert!(texts.contains(line), "{file}: label line {line:?} of {} is drawn", node.id);
            }
        }
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let paths: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("path") && n.attribute("class").is_some_and(|c| c.starts_with("edge ")))
            .collect();
        assert_eq!(paths.len(), g.edges.len(), "{file}: one path per edge");
        for (path, edge) in paths.iter().zip(&g.edges) {
            let has_arrow = path.attribute("marker-end").is_some();
            assert_eq!(has_arrow, edge.kind != EdgeKind::UndoneBy, "{file}: arrowheads on {edge:?}");
            let d = path.attribute("d").unwrap_or_default();
            assert!(d.starts_with('M') && d.contains(" L"), "{file}: a drawn path for {edge:?}: {d}");
        }
        // Every marker referenced is defined.
        for path in &paths {
            if let Some(url) = path.attribute("marker-end") {
                let id = url.trim_start_matches("url(#").trim_end_matches(')');
                assert!(doc.descendants().any(|n| n.attribute("id") == Some(id)), "marker {id} is defined");
            }
        }
        let nodes = doc
            .descendants()
            .filter(|n| n.has_tag_name("g") && n.attribute("class").is_some_and(|c| c.starts_with("node ")))
            .count();
        assert_eq!(nodes, g.nodes.len(), "{file}: one group per node");
    }
}

#[test]
fn labels_are_escaped_in_every_format() {
    let mut plan = plan_of(ORDERS);
    let tricky = "a<b>&\"c\" 'd' #e\\f";
    plan.steps[1].name = tricky.to_owned();
    let svg = orchgen_generator::graph::render(&plan, GraphFormat::Svg);
    assert!(svg_texts(&svg).iter().any(|t| t == tricky), "the SVG shows the name unescaped once parsed");
    let mermaid = orchgen_generator::graph::render(&plan, GraphFormat::Mermaid);
    assert!(mermaid.contains("<b>a&lt;b&gt;&amp;#quot;c#quot; 'd' #35;e\\f</b>"), "{mermaid}");
    let dot = orchgen_generator::graph::render(&plan, GraphFormat::Dot);
    assert!(dot.contains("label=\"a<b>&\\\"c\\\" 'd' #e\\\\f\\n"), "{dot}");
}

#[test]
fn out_writes_the_file_and_nothing_to_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("shop.svg");
    let (code, stdout, stderr) =
        orchgen(&["graph", &path(ORDERS), "--format", "svg", "--out", &file.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), graph(ORDERS, "svg"));

    let missing_dir = tmp.path().join("no/such/dir/shop.dot");
    let (code, _, stderr) = orchgen(&["graph", &path(ORDERS), "--out", &missing_dir.display().to_string()]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: cannot write "), "{stderr}");
}

#[test]
fn an_invalid_file_prints_the_diagnostics_and_exits_1() {
    let file = path("tests/corpus/invalid/bad-step-name.yaml");
    let (plan_code, _, plan_err) = orchgen(&["plan", &file]);
    assert_eq!(plan_code, 1, "the corpus file is invalid");
    for format in ["mermaid", "dot", "svg"] {
        let (code, stdout, stderr) = orchgen(&["graph", &file, "--format", format]);
        assert_eq!(code, 1, "{format}: {stderr}");
        assert_eq!(stdout, "", "{format}: no graph for an invalid file");
        assert_eq!(stderr, plan_err, "{format}: the same report as `orchgen plan`");
        assert!(stderr.contains("bad-step-name.yaml:"), "{stderr}");
    }
    let (code, stdout, stderr) = orchgen(&["graph", &path("tests/corpus/no-such-file.yaml")]);
    assert_eq!((code, stdout.as_str()), (2, ""), "an unreadable file is exit 2: {stderr}");
}
