//! A resolved plan, described for people (`orchgen plan`).

use std::fmt::Write;

use orchgen_runtime::plan::{ApiKind, AuthMode, Jitter, OnFailure, Plan, RetryPlan, StepAction};

/// The plan as readable text.
pub fn describe(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = write_plan(&mut s, plan);
    s
}

fn write_plan(s: &mut String, plan: &Plan) -> std::fmt::Result {
    writeln!(s, "pipeline {}", plan.name)?;
    if !plan.description.is_empty() {
        writeln!(s, "  {}", plan.description)?;
    }
    let auth = match plan.api.auth {
        AuthMode::ApiKey => "API key",
        AuthMode::Iam => "IAM",
        AuthMode::None => "NONE (public)",
    };
    writeln!(
        s,
        "\napi ({} API, auth: {auth}, body ≤ {} bytes, {} req/s burst {})",
        match plan.api.kind {
            ApiKind::Rest => "REST",
            ApiKind::Http => "HTTP",
        },
        plan.api.max_request_bytes,
        plan.api.throttle_rate,
        plan.api.throttle_burst
    )?;
    for r in &plan.api.routes {
        writeln!(s, "  {:<5} {}", r.method, r.path)?;
    }
    writeln!(s, "\ntables")?;
    for t in plan.tables.all() {
        let mut extras = Vec::new();
        if let Some(ttl) = &t.ttl {
            extras.push(format!("ttl {} days on {}", ttl.days, ttl.attribute));
        }
        if let Some(i) = &t.status_index {
            extras.push(format!("index {} ({}, {})", i.name, i.partition_key, i.sort_key));
        }
        if let Some(i) = &t.recent_index {
            extras.push(format!("index {} ({}, {})", i.name, i.partition_key, i.sort_key));
        }
        if t.stream {
            extras.push("stream".to_owned());
        }
        writeln!(
            s,
            "  {:<12} {} (key {}){}",
            t.logical,
            t.name,
            t.key,
            if extras.is_empty() { String::new() } else { format!("; {}", extras.join("; ")) }
        )?;
    }
    writeln!(s, "\nsteps")?;
    for (i, step) in plan.steps.iter().enumerate() {
        writeln!(s, "  {}. {} [{}] → {}", i + 1, step.name, step.action.kind(), step.status)?;
        writeln!(s, "     timeout {}ms, memory {}MB, {}", step.timeout_ms, step.memory_mb, retry_text(&step.retry))?;
        if let StepAction::Custom(h) = &step.action {
            writeln!(s, "     handler {} (crate at {})", h.function, h.crate_path)?;
        }
        let failure = match step.on_failure {
            OnFailure::Compensate if step.compensate_on_failure.is_empty() => {
                if matches!(step.action, StepAction::Validate(_)) {
                    "on failure: reject the order (nothing to undo)".to_owned()
                } else {
                    "on failure: fail the order (nothing to undo)".to_owned()
                }
            }
            OnFailure::Compensate => {
                format!("on failure: compensate {} then cancel", step.compensate_on_failure.join(" → "))
            }
            OnFailure::Fail if matches!(step.action, StepAction::Validate(_)) => {
                "on failure: reject the order".to_owned()
            }
            OnFailure::Fail => "on failure: fail the order".to_owned(),
            OnFailure::Continue => "on failure: record and continue".to_owned(),
        };
        writeln!(s, "     {failure}")?;
        if let Some(c) = &step.compensation {
            writeln!(s, "     undone by {c}")?;
        }
    }
    writeln!(s, "  then COMPLETED")?;
    if !plan.compensations.is_empty() {
        writeln!(s, "\ncompensations")?;
        for c in plan.compensations.values() {
            writeln!(s, "  {} [{}] timeout {}ms, {}", c.name, c.action.kind(), c.timeout_ms, retry_text(&c.retry))?;
        }
    }
    writeln!(s, "\nstatuses: {}", plan.statuses.join(", "))?;
    let st = &plan.stream;
    writeln!(
        s,
        "stream: batch {}, window {}s, {} retries, max age {}s, bisect {}",
        st.batch_size, st.batching_window_s, st.max_retries, st.max_record_age_s, st.bisect_on_error
    )?;
    if st.chain_steps {
        writeln!(s, "moves: steps chained, the order stored once per move (budget {} ms)", st.chain_budget_ms)?;
    }
    if !plan.local.inventory.is_empty() {
        let stock: Vec<String> = plan.local.inventory.iter().map(|(p, n)| format!("{p}={n}")).collect();
        writeln!(s, "local stock: {}", stock.join(", "))?;
    }
    Ok(())
}

fn retry_text(r: &RetryPlan) -> String {
    if r.max_attempts <= 1 {
        return "no retry".to_owned();
    }
    let jitter = match r.jitter {
        Jitter::None => "no jitter",
        Jitter::Full => "full jitter",
        Jitter::Equal => "equal jitter",
    };
    format!("{} attempts, backoff {}ms..{}ms, {jitter}", r.max_attempts, r.base_delay_ms, r.max_delay_ms)
}
