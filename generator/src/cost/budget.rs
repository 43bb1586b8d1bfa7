//! A pipeline's cost budget (its `cost:` section) against orchgen's estimate.
//!
//! [`check`] prices orchgen's design of the plan at the declared volume (the simulation runs only
//! for a pipeline with a `cost:` section) and says whether it is within the budget, with the largest
//! lines of orchgen's design so that a user sees where the money goes. [`diagnostic`] turns an
//! estimate over budget into the located `orchgen::cost-budget` problem (a warning for `orchgen
//! validate`, an error for `orchgen build --check` and `orchgen cost`); [`unchecked`] says that the
//! budget could not be checked.

use orchgen_runtime::Plan;
use serde::Serialize;

use super::render::{quantity, usd};
use super::{CostError, assumptions, estimate};
use crate::diagnostic::{Diagnostic, Severity};
use crate::source::Span;

/// The code of the problem "orchgen's estimate is above the pipeline's budget".
pub const OVER_BUDGET: &str = "orchgen::cost-budget";
/// The code of the warning "the budget could not be checked" (the simulation failed).
pub const UNCHECKED: &str = "orchgen::cost-budget-unchecked";
/// The volume a budget is checked at when the `cost:` section gives none.
pub const DEFAULT_ORDERS_PER_MONTH: u64 = 1_000_000;
/// How many of orchgen's lines an over-budget problem lists.
pub const LARGEST_LINES: usize = 3;

/// A pipeline's declared budget, located at its `cost:` key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// The most the pipeline may cost per million orders, USD.
    pub per_million_orders_usd: f64,
    /// The volume it is checked at.
    pub orders_per_month: u64,
    /// The `cost:` key.
    pub span: Span,
}

/// One of orchgen's lines, per million orders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineCost {
    /// The service, e.g. `DynamoDB writes`.
    pub service: &'static str,
    /// What is counted.
    pub item: String,
    /// USD per million orders at the checked volume.
    pub per_million_orders_usd: f64,
}

/// The budget against orchgen's estimate at the declared volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetCheck {
    /// The budget, USD per million orders.
    pub budget_per_million_orders_usd: f64,
    /// The volume the estimate is made at.
    pub orders_per_month: u64,
    /// orchgen's estimate at that volume, USD per million orders.
    pub estimate_per_million_orders_usd: f64,
    /// Budget minus estimate: what is left (negative when over).
    pub headroom_usd: f64,
    /// Whether the estimate is at most the budget.
    pub within: bool,
    /// orchgen's largest lines, largest first.
    pub largest_lines: Vec<LineCost>,
}

impl BudgetCheck {
    /// One line for people: `budget $15.00 per million orders at 1,000,000 orders a month: estimate
    /// $13.10, within by $1.90` (or `over by`).
    pub fn summary(&self) -> String {
        format!(
            "budget {} per million orders at {} orders a month: estimate {}, {} by {}",
            usd(self.budget_per_million_orders_usd),
            quantity(self.orders_per_month as f64),
            usd(self.estimate_per_million_orders_usd),
            if self.within { "within" } else { "over" },
            usd(self.headroom_usd.abs()),
        )
    }
}

/// Prices orchgen's design of `plan` at the budget's volume. The simulation runs on a thread of its
/// own (it starts its own async runtime, which cannot nest in a caller's), and a panic in it is an
/// error, not a crash.
pub fn check(plan: &Plan, budget: &Budget) -> Result<BudgetCheck, CostError> {
    let estimated = std::thread::scope(|scope| {
        scope.spawn(|| estimate(plan, budget.orders_per_month, assumptions::DEFAULT_LIST_REQUESTS_PER_MONTH)).join()
    });
    let estimate = match estimated {
        Ok(result) => result?,
        Err(_) => {
            return Err(CostError::Simulate(super::SimulateError::Runtime("the simulation panicked".to_owned())));
        }
    };
    let Some(orchgen) = estimate.design("orchgen") else {
        return Err(CostError::Simulate(super::SimulateError::Runtime("no orchgen design".to_owned())));
    };
    let per_million = 1e6 / budget.orders_per_month as f64;
    let mut lines: Vec<LineCost> = orchgen
        .lines
        .iter()
        .map(|l| LineCost {
            service: l.service,
            item: l.item.clone(),
            per_million_orders_usd: l.monthly_usd * per_million,
        })
        .collect();
    lines.sort_by(|a, b| b.per_million_orders_usd.total_cmp(&a.per_million_orders_usd));
    lines.truncate(LARGEST_LINES);
    let estimate_usd = orchgen.per_million_orders_usd;
    Ok(BudgetCheck {
        budget_per_million_orders_usd: budget.per_million_orders_usd,
        orders_per_month: budget.orders_per_month,
        estimate_per_million_orders_usd: estimate_usd,
        headroom_usd: budget.per_million_orders_usd - estimate_usd,
        within: estimate_usd <= budget.per_million_orders_usd,
        largest_lines: lines,
    })
}

/// The located problem of an estimate over budget (`None` when within), of `severity`.
pub fn diagnostic(check: &BudgetCheck, span: Span, severity: Severity) -> Option<Diagnostic> {
    if check.within {
        return None;
    }
    let lines: Vec<String> = check
        .largest_lines
        .iter()
        .map(|l| format!("{} {}: {}", usd(l.per_million_orders_usd), l.service, l.item))
        .collect();
    let message = format!(
        "orchgen's estimate for this pipeline is {} per million orders at {} orders a month, over the budget of {} by {}",
        usd(check.estimate_per_million_orders_usd),
        quantity(check.orders_per_month as f64),
        usd(check.budget_per_million_orders_usd),
        usd(-check.headroom_usd),
    );
    let help = format!(
        "the largest lines per million orders: {}; make the pipeline cheaper or raise `budget_per_million_orders` (`orchgen cost` prints every line, `orchgen cost FILE --against OTHER` what a change costs)",
        lines.join("; ")
    );
    let label = format!("budget {} per million orders", usd(check.budget_per_million_orders_usd));
    let d = match severity {
        Severity::Error => Diagnostic::error(OVER_BUDGET, message, span, label),
        Severity::Warning => Diagnostic::warning(OVER_BUDGET, message, span, label),
    };
    Some(d.with_help(help))
}

/// The warning that the budget could not be checked, and why.
pub fn unchecked(error: &CostError, span: Span) -> Diagnostic {
    Diagnostic::warning(UNCHECKED, format!("the cost budget could not be checked: {error}"), span, "budget not checked")
        .with_help("`orchgen cost FILE --orders-per-month N` shows the estimate, or why there is none")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_plan() -> Plan {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/orders.yaml");
        crate::check_file(std::path::Path::new(path)).expect("readable").plan.expect("the reference plan is valid")
    }

    fn budget(usd: f64) -> Budget {
        Budget { per_million_orders_usd: usd, orders_per_month: DEFAULT_ORDERS_PER_MONTH, span: Span::new(0, 4) }
    }

    #[test]
    fn the_check_compares_the_budget_with_orchgens_estimate() {
        let plan = reference_plan();
        let estimate = estimate(&plan, DEFAULT_ORDERS_PER_MONTH, assumptions::DEFAULT_LIST_REQUESTS_PER_MONTH)
            .expect("an estimate");
        let orchgen = estimate.design("orchgen").expect("orchgen").per_million_orders_usd;

        // Each check simulates its own order, whose packed item can differ by a few bytes.
        let within = check(&plan, &budget(orchgen + 1.0)).expect("checked");
        assert!(within.within);
        assert!((within.headroom_usd - 1.0).abs() < 0.01 * orchgen, "{within:?}");
        assert!(
            (within.headroom_usd - (within.budget_per_million_orders_usd - within.estimate_per_million_orders_usd))
                .abs()
                < 1e-12
        );
        assert!(diagnostic(&within, Span::new(0, 4), Severity::Warning).is_none());
        assert!(within.summary().contains(", within by $"), "{}", within.summary());

        let over = check(&plan, &budget(orchgen / 2.0)).expect("checked");
        assert!(!over.within);
        assert!(over.headroom_usd < 0.0);
        assert_eq!(over.largest_lines.len(), LARGEST_LINES);
        assert!(over.largest_lines.windows(2).all(|w| w[0].per_million_orders_usd >= w[1].per_million_orders_usd));
        let d = diagnostic(&over, Span::new(0, 4), Severity::Error).expect("over budget");
        assert!(d.is_error());
        assert_eq!(d.code, OVER_BUDGET);
        let help = d.help.expect("help");
        assert!(help.contains(over.largest_lines[0].service), "{help}");
        let warning = diagnostic(&over, Span::new(0, 4), Severity::Warning).expect("over budget");
        assert!(!warning.is_error());
    }

    #[test]
    fn the_check_runs_inside_an_async_runtime_too() {
        let plan = reference_plan();
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let checked = rt.block_on(async { check(&plan, &budget(1e9)) });
        assert!(checked.expect("checked").within);
    }
}
