//! Following a stack operation: its events polled until the stack reaches a final status, a line per
//! resource event, an indicatif progress bar on a terminal (hidden otherwise), and on failure the
//! failing resources with their reasons.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudformation::Client;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::{DeployError, Log};

/// How long a stack operation may take before orchgen stops waiting (the operation goes on).
pub const STACK_TIMEOUT: Duration = Duration::from_secs(3600);

/// A resource that failed, with CloudFormation's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceFailure {
    /// The logical id.
    pub logical_id: String,
    /// The resource type.
    pub resource_type: String,
    /// The failed status, e.g. `CREATE_FAILED`.
    pub status: String,
    /// Why.
    pub reason: String,
}

/// How a stack operation ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Whether it succeeded.
    pub succeeded: bool,
    /// The stack's final status (`DELETE_COMPLETE` once a deleted stack is gone).
    pub status: String,
    /// The failed resources (their own reasons, not the cascade of "cancelled" ones).
    pub failures: Vec<ResourceFailure>,
}

/// Whether a stack status is final.
pub fn is_final(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

/// Whether a final status is a success.
pub fn is_success(status: &str) -> bool {
    matches!(status, "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "DELETE_COMPLETE" | "IMPORT_COMPLETE")
}

fn bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total.max(1) as u64);
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

/// Follows the stack `stack` from `since` until its status is final; `total` resources are expected
/// to change. A stack that disappears counts as `DELETE_COMPLETE`.
pub async fn follow(
    client: &Client,
    stack: &str,
    total: usize,
    since: SystemTime,
    log: &mut Log<'_>,
) -> Result<Outcome, DeployError> {
    let stack_id = stack_id(client, stack).await.unwrap_or_else(|| stack.to_owned());
    follow_id(client, stack, &stack_id, total, since, log).await
}

/// The stack's id (its ARN), if it exists. Once deleted, a stack is only found by its id: ask for
/// it before deleting.
pub async fn stack_id(client: &Client, stack: &str) -> Option<String> {
    let described = client.describe_stacks().stack_name(stack).send().await.ok()?;
    described.stacks().first().and_then(|s| s.stack_id().map(str::to_owned))
}

/// [`follow`] with the stack's id known (`stack` names it in the output).
pub async fn follow_id(
    client: &Client,
    stack: &str,
    stack_id: &str,
    total: usize,
    since: SystemTime,
    log: &mut Log<'_>,
) -> Result<Outcome, DeployError> {
    let bar = bar(total);
    let mut seen: HashSet<String> = HashSet::new();
    let mut failures: Vec<ResourceFailure> = Vec::new();
    let deadline = std::time::Instant::now() + STACK_TIMEOUT;
    let since_secs = since.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0) - 1;
    loop {
        // Events newest first; gather the new ones, then print them oldest first.
        let mut fresh = Vec::new();
        let mut pages = client.describe_stack_events().stack_name(stack_id).into_paginator().send();
        'pages: while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    bar.finish_and_clear();
                    return Err(DeployError::aws("cloudformation DescribeStackEvents", &e));
                }
            };
            for event in page.stack_events() {
                let id = event.event_id().unwrap_or_default().to_owned();
                let at = event.timestamp().map(|t| t.secs()).unwrap_or(i64::MAX);
                if at < since_secs || seen.contains(&id) {
                    break 'pages;
                }
                seen.insert(id);
                fresh.push(event.clone());
            }
        }
        for event in fresh.iter().rev() {
            let logical = event.logical_resource_id().unwrap_or_default();
            let kind = event.resource_type().unwrap_or_default();
            let status = event.resource_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
            let reason = event.resource_status_reason().unwrap_or_default();
            let line = if reason.is_empty() {
                format!("  {status:<20} {logical} ({kind})")
            } else {
                format!("  {status:<20} {logical} ({kind}): {reason}")
            };
            bar.suspend(|| log.line(&line));
            if kind != "AWS::CloudFormation::Stack" && status.ends_with("_COMPLETE") {
                bar.inc(1);
            }
            bar.set_message(format!("{logical} {status}"));
            if status.ends_with("_FAILED") && !reason.contains("cancelled") && kind != "AWS::CloudFormation::Stack" {
                failures.push(ResourceFailure {
                    logical_id: logical.to_owned(),
                    resource_type: kind.to_owned(),
                    status: status.clone(),
                    reason: reason.to_owned(),
                });
            }
        }
        let status = match client.describe_stacks().stack_name(stack_id).send().await {
            Ok(out) => out.stacks().first().and_then(|s| s.stack_status().map(|s| s.as_str().to_owned())),
            Err(e) if super::aws::error_text(&e).contains("does not exist") => Some("DELETE_COMPLETE".to_owned()),
            Err(e) => {
                bar.finish_and_clear();
                return Err(DeployError::aws("cloudformation DescribeStacks", &e));
            }
        }
        .unwrap_or_else(|| "DELETE_COMPLETE".to_owned());
        if is_final(&status) {
            bar.finish_and_clear();
            let succeeded = is_success(&status);
            if !succeeded && failures.is_empty() {
                // The stack's own reason when no resource said more.
                let reason = client
                    .describe_stacks()
                    .stack_name(stack_id)
                    .send()
                    .await
                    .ok()
                    .and_then(|o| o.stacks().first().and_then(|s| s.stack_status_reason().map(str::to_owned)))
                    .unwrap_or_else(|| "no reason given".to_owned());
                failures.push(ResourceFailure {
                    logical_id: stack.to_owned(),
                    resource_type: "AWS::CloudFormation::Stack".to_owned(),
                    status: status.clone(),
                    reason,
                });
            }
            if !succeeded {
                log.line(format!("{stack} ended in {status}; failed resources:"));
                for f in &failures {
                    log.line(format!("  {} ({}): {} — {}", f.logical_id, f.resource_type, f.status, f.reason));
                }
            } else {
                log.line(format!("{stack}: {status}"));
            }
            return Ok(Outcome { succeeded, status, failures });
        }
        if std::time::Instant::now() > deadline {
            bar.finish_and_clear();
            return Err(DeployError::Aws {
                operation: "cloudformation".to_owned(),
                message: format!(
                    "stack {stack} still {status} after {} s; it goes on without orchgen",
                    STACK_TIMEOUT.as_secs()
                ),
            });
        }
        tokio::time::sleep(super::changeset::POLL).await;
    }
}
