//! AWS Step Functions Standard orchestrating the same Rust step Lambdas behind the plan's kind of
//! API: the API Lambda starts an execution, each step is a Lambda task followed by a DynamoDB
//! UpdateItem task; billed per state transition.

use super::Context;
use crate::cost::assumptions as a;
use crate::cost::prices::PRICES;
use crate::cost::{Design, Line, Scaling, design, line, per_order};

/// The Step Functions Standard design of the order as it runs with a move per step.
pub(in crate::cost) fn build(ctx: &Context) -> Design {
    let p = &PRICES;
    let (n, transitions) = (ctx.n, ctx.sfn_transitions);
    let mut lines = ctx.front_door_requests(ctx.api_kind, ctx.api_price, "");
    lines.push(ctx.step_requests());
    lines.extend(ctx.front_door_compute(Some(("StartExecution", a::START_EXECUTION_MS))));
    lines.push(ctx.step_compute());
    lines.push(line(
        "Step Functions",
        format!("Standard: {transitions} state transitions per order"),
        n * f64::from(transitions),
        "transitions",
        p.sfn_standard_transition,
        Scaling::Linear,
    ));
    state_machine_design(
        ctx,
        "step_functions",
        "AWS Step Functions Standard orchestrating the same Rust step Lambdas",
        lines,
        " (execution history is free, no log group)",
    )
}

/// A design whose state machine (Standard or Express) runs the order: its `lines` so far, then the
/// DynamoDB lines of its UpdateItem tasks, the listing, and the functions' logs (`logs`: what else is
/// or is not logged); one execution per order.
pub(super) fn state_machine_design(
    ctx: &Context,
    id: &'static str,
    name: &str,
    mut lines: Vec<Line>,
    logs: &str,
) -> Design {
    let usage = &ctx.sfn_usage;
    lines.extend(ctx.execution_back_end(usage, "UpdateItem tasks, no transactions", logs));
    let mut design =
        design(id, name.into(), lines, ctx.n, per_order(ctx.api_requests, 0, ctx.steps, ctx.sfn_transitions, usage));
    design.per_order.executions = 1;
    design
}
