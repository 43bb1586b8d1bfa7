//! The estimate for people (aligned text) and for programs (JSON with stable field names: those of
//! [`Estimate`] and the types it holds).

use std::fmt::Write as _;

use super::{Design, Estimate};

/// The estimate as pretty JSON.
pub fn json(estimate: &Estimate) -> String {
    // Plain data of strings and finite numbers: serialising cannot fail.
    serde_json::to_string_pretty(estimate).unwrap_or_default()
}

/// `1234567.8` → `1,234,568`; below 100, two significant decimals.
pub fn quantity(value: f64) -> String {
    if value.abs() < 100.0 {
        return if value == value.trunc() { format!("{value:.0}") } else { format!("{value:.3}") };
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// Dollars: cents, or four decimals below a cent.
pub fn usd(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.01 {
        format!("${value:.4}")
    } else {
        let cents = (value.abs() * 100.0).round() as u64;
        let sign = if value < 0.0 { "-" } else { "" };
        format!("{sign}${}.{:02}", quantity((cents / 100) as f64), cents % 100)
    }
}

fn design_table(out: &mut String, design: &Design) {
    let rows: Vec<[String; 5]> = design
        .lines
        .iter()
        .map(|l| [l.service.to_owned(), l.item.clone(), quantity(l.quantity), l.unit.to_owned(), usd(l.monthly_usd)])
        .collect();
    let header = ["service", "what", "quantity", "unit", "per month"].map(str::to_owned);
    let mut widths = [0usize; 5];
    for row in rows.iter().chain(std::iter::once(&header)) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let row_text = |row: &[String; 5]| {
        format!(
            "  {:<w0$}  {:<w1$}  {:>w2$} {:<w3$}  {:>w4$}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        )
    };
    let _ = writeln!(out, "{}", design.name);
    let _ = writeln!(out, "{}", row_text(&header).trim_end());
    for row in &rows {
        let _ = writeln!(out, "{}", row_text(row).trim_end());
    }
    let total_width = widths.iter().sum::<usize>() + 2 + 2 + 2 + 1 + 2;
    let total = usd(design.total_monthly_usd);
    let per_million = usd(design.per_million_orders_usd);
    let _ = writeln!(out, "  {:<w$}{total}", "total per month", w = total_width - total.chars().count());
    let _ = writeln!(out, "  {:<w$}{per_million}", "per million orders", w = total_width - per_million.chars().count());
}

/// The estimate as text.
pub fn text(estimate: &Estimate) -> String {
    let mut out = String::new();
    let p = &estimate.prices;
    let _ = writeln!(
        out,
        "orchgen cost — pipeline `{}`, {} orders a month, {} listings a month",
        estimate.pipeline,
        quantity(estimate.orders_per_month as f64),
        quantity(estimate.list_requests_per_month as f64)
    );
    let _ = writeln!(out, "prices: {} on-demand list prices as of {} (no free tier)", p.region, p.date);
    let _ = writeln!(out);
    for design in &estimate.designs {
        design_table(&mut out, design);
        let o = &design.per_order;
        let _ = writeln!(
            out,
            "  per order: {} API requests, {} stream records, {} step invocations{}, DynamoDB {} writes = {} WCU, {} reads = {} RCU",
            o.api_requests,
            o.stream_records,
            o.step_invocations,
            if o.state_transitions > 0 {
                format!(", {} state transitions", o.state_transitions)
            } else {
                String::new()
            },
            o.dynamodb_write_requests,
            quantity(o.dynamodb_write_units),
            o.dynamodb_read_requests,
            quantity(o.dynamodb_read_units),
        );
        if o.durable_operations > 0 {
            let _ = writeln!(
                out,
                "  per execution: {} durable operations, {} B of checkpoints, {} ms of the durable function",
                o.durable_operations, o.checkpoint_bytes, o.execution_billed_ms
            );
        } else if o.execution_billed_ms > 0.0 {
            let _ = writeln!(out, "  per execution: billed {} ms", o.execution_billed_ms);
        }
        if !design.gives_up.is_empty() {
            let _ = writeln!(out, "  gives up:");
            for what in &design.gives_up {
                let _ = writeln!(out, "    - {what}");
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "cost per million orders:");
    let width = estimate.designs.iter().map(|d| d.id.len()).max().unwrap_or(0);
    for design in &estimate.designs {
        let _ = writeln!(out, "  {:<width$}  {:>12}", design.id, usd(design.per_million_orders_usd));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "targets:");
    let width = estimate.ratios.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &estimate.ratios {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>6.3}  target ≤ {:.2}  {}",
            r.name,
            r.value,
            r.target,
            if r.met { "met" } else { "NOT MET" }
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "stream batches: {:.2} records per processor invocation at this volume", estimate.batch_fill);
    let _ = writeln!(out, "assumptions:");
    for a in &estimate.assumptions {
        let _ = writeln!(out, "  {} = {} {}", a.name, a.value, a.unit);
    }
    let _ = writeln!(out, "notes:");
    for note in &estimate.notes {
        let _ = writeln!(out, "  - {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_dollars_rounded() {
        assert_eq!(quantity(1_234_567.8), "1,234,568");
        assert_eq!(quantity(100.0), "100");
        assert_eq!(quantity(2.5), "2.500");
        assert_eq!(usd(1234.567), "$1,234.57");
        assert_eq!(usd(0.004), "$0.0040");
        assert_eq!(usd(0.0), "$0.00");
    }
}
