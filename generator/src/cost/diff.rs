//! What a change costs: orchgen's design of two versions of a pipeline, line by line
//! (`orchgen cost FILE --against OTHER`).
//!
//! Lines are matched by service and item. An item's figures change with the pipeline (`step
//! functions: 5 per order` becomes `6 per order`), so items are compared with their numbers
//! blanked out; among lines that still look alike, they pair in order. A line found on one side only
//! is `added` or `removed`.

use std::fmt::Write as _;

use serde::Serialize;

use super::render::{quantity, usd};
use super::{Estimate, Line};

/// How a line moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the new version.
    Added,
    /// Only in the old version.
    Removed,
    /// In both, with another cost.
    Changed,
    /// In both, the same cost.
    Unchanged,
}

/// One line of orchgen's design, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineDiff {
    /// How it moved.
    pub change: Change,
    /// The service.
    pub service: &'static str,
    /// The item as the new version has it (the old one's for a removed line).
    pub item: String,
    /// The item as the old version has it, when it reads differently.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_item: Option<String>,
    /// USD per month before (0 for an added line).
    pub before_monthly_usd: f64,
    /// USD per month after (0 for a removed line).
    pub after_monthly_usd: f64,
    /// After minus before.
    pub delta_monthly_usd: f64,
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// Where the pipeline came from (a path, or `REV:path`).
    pub source: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// orchgen's total, USD per month.
    pub total_monthly_usd: f64,
    /// orchgen's total per million orders.
    pub per_million_orders_usd: f64,
}

/// orchgen's design of two versions of a pipeline at the same volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostDiff {
    /// Orders a month, for both.
    pub orders_per_month: u64,
    /// The version compared against.
    pub before: Side,
    /// The version given.
    pub after: Side,
    /// Every line, in the new version's order, removed lines after.
    pub lines: Vec<LineDiff>,
    /// After minus before, per million orders.
    pub delta_per_million_orders_usd: f64,
    /// The delta in percent of the old total; `None` when that was 0.
    pub delta_percent: Option<f64>,
}

/// orchgen's design of an estimate (none: no lines, nothing to pay).
struct Orchgen<'a> {
    lines: &'a [Line],
    total_monthly_usd: f64,
    per_million_orders_usd: f64,
}

impl Orchgen<'_> {
    fn of(estimate: &Estimate) -> Orchgen<'_> {
        match estimate.design("orchgen") {
            Some(d) => Orchgen {
                lines: &d.lines,
                total_monthly_usd: d.total_monthly_usd,
                per_million_orders_usd: d.per_million_orders_usd,
            },
            None => Orchgen { lines: &[], total_monthly_usd: 0.0, per_million_orders_usd: 0.0 },
        }
    }
}

/// An item cut into text and numbers (`1,821,369`, `1.10`: digits with the `,` and `.` between them).
fn segments(item: &str) -> Vec<(bool, String)> {
    let chars: Vec<char> = item.chars().collect();
    let mut out: Vec<(bool, String)> = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        let in_number = out.last().is_some_and(|(numeric, _)| *numeric);
        let separator = matches!(c, '.' | ',') && in_number && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        let numeric = c.is_ascii_digit() || separator;
        match out.last_mut() {
            Some((kind, text)) if *kind == numeric => text.push(c),
            _ => out.push((numeric, c.to_string())),
        }
    }
    out
}

/// The item with its numbers blanked out: what stays when a pipeline's figures change.
fn shape(item: &str) -> String {
    segments(item).into_iter().map(|(numeric, text)| if numeric { "#".to_owned() } else { text }).collect()
}

/// Two items of the same shape as one, each number that moved as `old → new`.
fn merged(before: &str, after: &str) -> String {
    segments(before)
        .into_iter()
        .zip(segments(after))
        .map(|((numeric, old), (_, new))| if numeric && old != new { format!("{old} → {new}") } else { new })
        .collect()
}

/// Compares orchgen's design of `before` and `after` (estimates at the same volume).
pub fn diff(before: &Estimate, before_source: &str, after: &Estimate, after_source: &str) -> CostDiff {
    let old = Orchgen::of(before);
    let new = Orchgen::of(after);
    let mut taken = vec![false; old.lines.len()];
    let mut lines = Vec::new();
    for line in new.lines {
        // The same text first, then the same shape.
        let found = old
            .lines
            .iter()
            .enumerate()
            .position(|(i, o)| !taken[i] && o.service == line.service && o.item == line.item)
            .or_else(|| {
                let wanted = shape(&line.item);
                old.lines
                    .iter()
                    .enumerate()
                    .position(|(i, o)| !taken[i] && o.service == line.service && shape(&o.item) == wanted)
            });
        match found {
            Some(i) => {
                taken[i] = true;
                let o = &old.lines[i];
                let delta = line.monthly_usd - o.monthly_usd;
                lines.push(LineDiff {
                    change: if delta.abs() < 1e-12 { Change::Unchanged } else { Change::Changed },
                    service: line.service,
                    item: line.item.clone(),
                    before_item: (o.item != line.item).then(|| o.item.clone()),
                    before_monthly_usd: o.monthly_usd,
                    after_monthly_usd: line.monthly_usd,
                    delta_monthly_usd: delta,
                });
            }
            None => lines.push(LineDiff {
                change: Change::Added,
                service: line.service,
                item: line.item.clone(),
                before_item: None,
                before_monthly_usd: 0.0,
                after_monthly_usd: line.monthly_usd,
                delta_monthly_usd: line.monthly_usd,
            }),
        }
    }
    for (o, _) in old.lines.iter().zip(&taken).filter(|(_, taken)| !**taken) {
        lines.push(LineDiff {
            change: Change::Removed,
            service: o.service,
            item: o.item.clone(),
            before_item: None,
            before_monthly_usd: o.monthly_usd,
            after_monthly_usd: 0.0,
            delta_monthly_usd: -o.monthly_usd,
        });
    }
    let side = |source: &str, e: &Estimate, d: &Orchgen| Side {
        source: source.to_owned(),
        pipeline: e.pipeline.clone(),
        total_monthly_usd: d.total_monthly_usd,
        per_million_orders_usd: d.per_million_orders_usd,
    };
    let delta = new.per_million_orders_usd - old.per_million_orders_usd;
    CostDiff {
        orders_per_month: after.orders_per_month,
        before: side(before_source, before, &old),
        after: side(after_source, after, &new),
        lines,
        delta_per_million_orders_usd: delta,
        delta_percent: (old.per_million_orders_usd > 0.0).then(|| delta / old.per_million_orders_usd * 100.0),
    }
}

/// Dollars with a sign: `+$1.20`, `-$0.30`.
fn signed_usd(value: f64) -> String {
    if value < 0.0 { format!("-{}", usd(-value)) } else { format!("+{}", usd(value)) }
}

/// The comparison as text: the lines that moved, how many did not, the totals per million orders.
pub fn text(diff: &CostDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "orchgen cost — what the change costs, orchgen's design at {} orders a month",
        quantity(diff.orders_per_month as f64)
    );
    let _ = writeln!(out, "  before: {} (pipeline `{}`)", diff.before.source, diff.before.pipeline);
    let _ = writeln!(out, "  after:  {} (pipeline `{}`)", diff.after.source, diff.after.pipeline);
    let _ = writeln!(out);
    let moved: Vec<&LineDiff> = diff.lines.iter().filter(|l| l.change != Change::Unchanged).collect();
    if moved.is_empty() {
        let _ = writeln!(out, "no line changed");
    } else {
        let rows: Vec<[String; 6]> = moved
            .iter()
            .map(|l| {
                let item = match &l.before_item {
                    Some(before) if shape(before) == shape(&l.item) => merged(before, &l.item),
                    Some(before) => format!("{} (was: {before})", l.item),
                    None => l.item.clone(),
                };
                let change = match l.change {
                    Change::Added => "added",
                    Change::Removed => "removed",
                    Change::Changed => "changed",
                    Change::Unchanged => "unchanged",
                };
                [
                    change.to_owned(),
                    l.service.to_owned(),
                    item,
                    usd(l.before_monthly_usd),
                    usd(l.after_monthly_usd),
                    signed_usd(l.delta_monthly_usd),
                ]
            })
            .collect();
        let header = ["change", "service", "what", "before", "after", "delta"].map(str::to_owned);
        let mut widths = [0usize; 6];
        for row in rows.iter().chain(std::iter::once(&header)) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let _ = writeln!(out, "per month:");
        for row in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "  {:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}  {:>w5$}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
                w5 = widths[5],
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let unchanged = diff.lines.len() - moved.len();
    let _ = writeln!(out, "  ({unchanged} line{} unchanged)", if unchanged == 1 { "" } else { "s" });
    let _ = writeln!(out);
    let percent = diff.delta_percent.map_or_else(String::new, |p| format!(", {p:+.1} %"));
    let _ = writeln!(
        out,
        "per million orders: {} → {} ({}{percent})",
        usd(diff.before.per_million_orders_usd),
        usd(diff.after.per_million_orders_usd),
        signed_usd(diff.delta_per_million_orders_usd),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::{estimate, simulate, unchained};

    fn reference_plan() -> orchgen_runtime::Plan {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/orders.yaml");
        crate::check_file(std::path::Path::new(path)).expect("readable").plan.expect("the reference plan is valid")
    }

    #[test]
    fn numbers_are_blanked_out_of_items() {
        assert_eq!(shape("step functions: 5 per order"), "step functions: # per order");
        assert_eq!(shape("1,821,369 records, 1.10 per batch"), "# records, # per batch");
        assert_eq!(shape("API function: orders"), "API function: orders");
        assert_eq!(shape("15 WCU, 2 reads."), "# WCU, # reads.");
        assert_eq!(
            merged("93 ms per order + 2 ms per batch at 256 MB", "108 ms per order + 2 ms per batch at 256 MB"),
            "93 → 108 ms per order + 2 ms per batch at 256 MB"
        );
    }

    #[test]
    fn a_pipeline_against_itself_changes_nothing() {
        let plan = reference_plan();
        let e = estimate(&plan, 1_000_000, 720).expect("an estimate");
        let d = diff(&e, "a.yaml", &e, "b.yaml");
        assert!(d.lines.iter().all(|l| l.change == Change::Unchanged));
        assert_eq!(d.delta_per_million_orders_usd, 0.0);
        assert_eq!(d.delta_percent, Some(0.0));
        assert!(text(&d).contains("no line changed"));
    }

    #[test]
    fn lines_only_on_one_side_are_added_or_removed_and_the_deltas_add_up() {
        // A plan that chains its steps against the same plan with a move per step: the same lines,
        // other figures.
        let plan = reference_plan();
        let trace = simulate::simulate(&plan).expect("simulated");
        let mut before = crate::cost::estimate_from_trace(&plan, &trace, &trace, 1_000_000, 720);
        let unchained = unchained(&plan);
        let per_step = simulate::simulate(&unchained).expect("simulated");
        let after = crate::cost::estimate_from_trace(&unchained, &per_step, &per_step, 1_000_000, 720);
        // Drop a line from the old version: it shows as added.
        if let Some(d) = before.designs.iter_mut().find(|d| d.id == "orchgen") {
            let removed = d.lines.remove(0);
            d.total_monthly_usd -= removed.monthly_usd;
            d.per_million_orders_usd = d.total_monthly_usd;
        }
        let d = diff(&before, "before", &after, "after");
        assert_eq!(d.lines.iter().filter(|l| l.change == Change::Added).count(), 1);
        let sum: f64 = d.lines.iter().map(|l| l.delta_monthly_usd).sum();
        assert!((sum - (d.after.total_monthly_usd - d.before.total_monthly_usd)).abs() < 1e-9);
        assert!(
            (d.delta_per_million_orders_usd - (d.after.per_million_orders_usd - d.before.per_million_orders_usd)).abs()
                < 1e-12
        );
    }
}
