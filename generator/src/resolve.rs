//! Spec → Plan: every default applied, every reference resolved, the step order and the compensation
//! order made explicit. Only called on a spec that passed validation; it never fails and never panics
//! (a reference that does not resolve is simply left out).

use std::collections::BTreeMap;

use orchgen_runtime::plan::{
    AlarmsPlan, ApiKind, ApiPlan, Architecture, AuthMode, CompensationAction, CompensationPlan,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SIGNATURE_HEADER, DeclineRule, FulfilmentPlan, FunctionsPlan, HandlerPlan,
    HttpHeaderPlan, HttpPlan, IndexPlan, Jitter, LocalPlan, MonitoringPlan, NotifyChannel, NotifyPlan, OnFailure,
    PLAN_FORMAT, PaymentPlan, PaymentProvider, Plan, RetryPlan, RouteAction, RoutePlan, SigningPlan, StepAction,
    StepPlan, StreamPlan, TablePlan, TablesPlan, TtlPlan, ValidationRules, status,
};

use crate::spec::{
    AddressField, ApiKindSpec, ArchitectureSpec, AuthSpec, BackoffJitter, CompensationKind, CompensationSpec, Duration,
    HandlerSpec, HttpMethodSpec, OnFailureSpec, RetrySpec, RouteSpec, SigningSpec, Spec, StepKind, StepSpec, TableSpec,
    execution_order, parse_duration_ms, success_status,
};

/// Defaults of the language, in one place.
pub mod defaults {
    /// Attempts of a step.
    pub const STEP_ATTEMPTS: u32 = 3;
    /// Attempts of a compensation: it must eventually succeed.
    pub const COMPENSATION_ATTEMPTS: u32 = 10;
    /// First retry delay, ms.
    pub const BACKOFF_MS: u64 = 200;
    /// Largest retry delay, ms.
    pub const MAX_BACKOFF_MS: u64 = 20_000;
    /// Step timeout, ms.
    pub const TIMEOUT_MS: u64 = 10_000;
    /// Function memory, MB.
    pub const MEMORY_MB: u32 = 256;
    /// Orders kept after reaching a terminal status, days.
    pub const TTL_DAYS: u32 = 90;
    /// Largest request body, bytes.
    pub const MAX_REQUEST_BYTES: u64 = 16_384;
    /// Throttle rate, requests/s.
    pub const THROTTLE_RATE: u32 = 100;
    /// Page size of `GET /orders`.
    pub const DEFAULT_LIMIT: u32 = 20;
    /// Largest page of `GET /orders`.
    pub const MAX_LIMIT: u32 = 100;
    /// Log retention, days.
    pub const LOG_RETENTION_DAYS: u32 = 30;
}

/// The resolved plan of a valid spec.
pub fn resolve(spec: &Spec) -> Plan {
    let defaults = spec.defaults.clone().unwrap_or_default();
    let default_timeout = ms(defaults.timeout.as_ref(), defaults::TIMEOUT_MS);
    let default_memory = memory(defaults.memory, defaults::MEMORY_MB);
    let default_on_failure = defaults.on_failure.unwrap_or(OnFailureSpec::Compensate);
    let default_retry = retry(defaults.retry.as_ref(), None, defaults::STEP_ATTEMPTS);

    let order = execution_order(&spec.steps);
    let mut steps = Vec::with_capacity(order.len());
    let mut undo_stack: Vec<String> = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        let s = &spec.steps[i];
        let on_failure = on_failure(s.on_failure.unwrap_or(default_on_failure));
        let compensation = s.compensate.clone().filter(|c| spec.compensations.iter().any(|x| &x.name == c));
        let compensate_on_failure =
            if on_failure == OnFailure::Compensate { undo_stack.iter().rev().cloned().collect() } else { Vec::new() };
        steps.push(StepPlan {
            name: s.name.clone(),
            description: s.description.clone().unwrap_or_else(|| default_description(s.kind).to_owned()),
            action: step_action(s),
            status: success_status(s),
            next: order.get(pos + 1).map(|&n| spec.steps[n].name.clone()),
            retry: retry(s.retry.as_ref(), Some(&default_retry), defaults::STEP_ATTEMPTS),
            timeout_ms: ms(s.timeout.as_ref(), default_timeout),
            memory_mb: memory(s.memory, default_memory),
            reserved_concurrency: s.reserved_concurrency,
            on_failure,
            compensation: compensation.clone(),
            compensate_on_failure,
        });
        if let Some(c) = compensation {
            undo_stack.push(c);
        }
    }

    let mut statuses = vec![status::RECEIVED.to_owned()];
    statuses.extend(steps.iter().map(|s| s.status.clone()));
    statuses.extend(
        [status::COMPLETED, status::REJECTED, status::FAILED, status::COMPENSATING, status::CANCELLED]
            .map(str::to_owned),
    );

    let compensations = spec.compensations.iter().map(|c| (c.name.clone(), compensation(c, default_timeout))).collect();

    Plan {
        format: PLAN_FORMAT,
        name: spec.name.clone(),
        description: spec.description.clone().unwrap_or_default(),
        api: api(spec),
        tables: tables(spec),
        steps,
        compensations,
        statuses,
        stream: stream(spec),
        functions: functions(spec),
        monitoring: monitoring(spec),
        local: LocalPlan { inventory: spec.local.as_ref().map(|l| l.inventory.clone()).unwrap_or_default() },
    }
}

fn ms(d: Option<&Duration>, default: u64) -> u64 {
    d.and_then(|d| parse_duration_ms(&d.0)).unwrap_or(default)
}

fn memory(m: Option<i64>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok()).unwrap_or(default)
}

fn on_failure(o: OnFailureSpec) -> OnFailure {
    match o {
        OnFailureSpec::Compensate => OnFailure::Compensate,
        OnFailureSpec::Fail => OnFailure::Fail,
        OnFailureSpec::Continue => OnFailure::Continue,
    }
}

/// A retry policy: the spec's fields, else the inherited policy's, else the language defaults.
fn retry(spec: Option<&RetrySpec>, inherited: Option<&RetryPlan>, attempts: u32) -> RetryPlan {
    let base = inherited.cloned().unwrap_or(RetryPlan {
        max_attempts: attempts,
        base_delay_ms: defaults::BACKOFF_MS,
        max_delay_ms: defaults::MAX_BACKOFF_MS,
        jitter: Jitter::Full,
    });
    let Some(spec) = spec else { return base };
    let base_delay_ms = ms(spec.backoff.as_ref(), base.base_delay_ms);
    RetryPlan {
        max_attempts: spec.max_attempts.unwrap_or(base.max_attempts),
        base_delay_ms,
        max_delay_ms: ms(spec.max_backoff.as_ref(), base.max_delay_ms.max(base_delay_ms)),
        jitter: match spec.jitter {
            Some(BackoffJitter::None) => Jitter::None,
            Some(BackoffJitter::Full) => Jitter::Full,
            Some(BackoffJitter::Equal) => Jitter::Equal,
            None => base.jitter,
        },
    }
}

fn default_description(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Validate => "Checks the order against the declared rules.",
        StepKind::ReserveInventory => "Reserves the stock of every item, all or nothing.",
        StepKind::ChargePayment => "Charges the order total.",
        StepKind::Fulfil => "Commits the reserved stock and creates a shipment.",
        StepKind::Notify => "Notifies the customer.",
        StepKind::Custom => "Runs a custom Rust handler.",
        StepKind::Http => "Sends the order to an HTTP endpoint.",
    }
}

fn step_action(s: &StepSpec) -> StepAction {
    match s.kind {
        StepKind::Validate => {
            let r = s.rules.clone().unwrap_or_default();
            StepAction::Validate(ValidationRules {
                min_items: r.min_items.unwrap_or(1),
                max_items: r.max_items.unwrap_or(100),
                max_quantity: r.max_quantity.unwrap_or(1_000),
                max_order_total: r.max_order_total.unwrap_or(100_000.0),
                allowed_countries: r.allowed_countries.unwrap_or_default().into_iter().map(|c| c.0).collect(),
                required_address_fields: r
                    .required_address_fields
                    .unwrap_or_else(|| {
                        vec![AddressField::Street, AddressField::City, AddressField::PostalCode, AddressField::Country]
                    })
                    .into_iter()
                    .map(|f| f.as_str().to_owned())
                    .collect(),
                payment_methods: r
                    .payment_methods
                    .unwrap_or_else(|| vec!["credit_card".to_owned(), "debit_card".to_owned(), "paypal".to_owned()]),
            })
        }
        StepKind::ReserveInventory => StepAction::ReserveInventory,
        StepKind::ChargePayment => StepAction::ChargePayment(PaymentPlan {
            provider: PaymentProvider::Mock,
            currency: s.currency.clone().unwrap_or_else(|| "USD".to_owned()),
            decline: s
                .decline
                .iter()
                .flatten()
                .map(|d| DeclineRule {
                    amount_above: d.amount_above,
                    payment_method: d.payment_method.clone(),
                    customer_id: d.customer_id.clone(),
                    reason: d.reason.clone(),
                })
                .collect(),
        }),
        StepKind::Fulfil => StepAction::Fulfil(FulfilmentPlan {
            carrier: s.carrier.clone().unwrap_or_else(|| "mock-carrier".to_owned()),
            tracking_prefix: s.tracking_prefix.clone().unwrap_or_else(|| "TRK".to_owned()),
        }),
        StepKind::Notify => StepAction::Notify(NotifyPlan {
            channel: NotifyChannel::Mock,
            subject: s.subject.clone().unwrap_or_else(|| "Your order {order_id} is {status}".to_owned()),
        }),
        StepKind::Custom => StepAction::Custom(handler(s.handler.as_ref())),
        StepKind::Http => StepAction::Http(http(HttpSettings {
            url: s.url.as_ref(),
            method: s.method,
            headers: s.headers.as_ref(),
            signing: s.signing.as_ref(),
            follow_redirects: s.follow_redirects,
            max_response_bytes: s.max_response_bytes,
        })),
    }
}

/// The `http` keys of a step or compensation.
struct HttpSettings<'a> {
    url: Option<&'a String>,
    method: Option<HttpMethodSpec>,
    headers: Option<&'a BTreeMap<String, String>>,
    signing: Option<&'a SigningSpec>,
    follow_redirects: Option<bool>,
    max_response_bytes: Option<u32>,
}

fn http(h: HttpSettings<'_>) -> HttpPlan {
    HttpPlan {
        url: h.url.cloned().unwrap_or_default(),
        method: match h.method {
            Some(HttpMethodSpec::Put) => "PUT",
            Some(HttpMethodSpec::Post) | None => "POST",
        }
        .to_owned(),
        headers: h
            .headers
            .into_iter()
            .flatten()
            .map(|(name, value)| HttpHeaderPlan { name: name.clone(), value: value.clone() })
            .collect(),
        signing: h.signing.map(|s| SigningPlan {
            secret: s.secret.clone(),
            header: s.header.clone().unwrap_or_else(|| DEFAULT_SIGNATURE_HEADER.to_owned()),
        }),
        follow_redirects: h.follow_redirects.unwrap_or(false),
        max_response_bytes: h.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
    }
}

fn handler(h: Option<&HandlerSpec>) -> HandlerPlan {
    let function = h.map(|h| h.function.clone()).unwrap_or_default();
    let crate_name = function.split("::").next().unwrap_or_default().to_owned();
    HandlerPlan {
        crate_path: h.and_then(|h| h.crate_path.clone()).unwrap_or_else(|| format!("steps/{crate_name}")),
        crate_name,
        function,
        side_effects: h.and_then(|h| h.side_effects).unwrap_or(true),
    }
}

fn compensation(c: &CompensationSpec, default_timeout: u64) -> CompensationPlan {
    CompensationPlan {
        name: c.name.clone(),
        action: match c.kind {
            CompensationKind::ReleaseInventory => CompensationAction::ReleaseInventory,
            CompensationKind::RefundPayment => CompensationAction::RefundPayment,
            CompensationKind::Custom => CompensationAction::Custom(handler(c.handler.as_ref())),
            CompensationKind::Http => CompensationAction::Http(http(HttpSettings {
                url: c.url.as_ref(),
                method: c.method,
                headers: c.headers.as_ref(),
                signing: c.signing.as_ref(),
                follow_redirects: c.follow_redirects,
                max_response_bytes: c.max_response_bytes,
            })),
        },
        retry: retry(c.retry.as_ref(), None, defaults::COMPENSATION_ATTEMPTS),
        timeout_ms: ms(c.timeout.as_ref(), default_timeout),
    }
}

fn api(spec: &Spec) -> ApiPlan {
    let a = spec.api.clone().unwrap_or_default();
    let path = a.path.unwrap_or_else(|| "/orders".to_owned());
    let id_param = "orderId".to_owned();
    let wanted = a.routes.unwrap_or_else(|| vec![RouteSpec::Create, RouteSpec::List, RouteSpec::Get]);
    let mut routes = Vec::new();
    for (route, action, method, p) in [
        (RouteSpec::Create, RouteAction::Create, "POST", path.clone()),
        (RouteSpec::List, RouteAction::List, "GET", path.clone()),
        (RouteSpec::Get, RouteAction::Get, "GET", format!("{path}/{{{id_param}}}")),
    ] {
        if wanted.contains(&route) {
            routes.push(RoutePlan { action, method: method.to_owned(), path: p });
        }
    }
    let kind = a.kind.unwrap_or(ApiKindSpec::Rest);
    let throttle = a.throttle.unwrap_or_default();
    let rate = throttle.rate.unwrap_or(defaults::THROTTLE_RATE);
    let list = a.list.unwrap_or_default();
    ApiPlan {
        path,
        id_param,
        routes,
        kind: match kind {
            ApiKindSpec::Rest => ApiKind::Rest,
            ApiKindSpec::Http => ApiKind::Http,
        },
        auth: match a.auth.unwrap_or(if kind == ApiKindSpec::Http { AuthSpec::Iam } else { AuthSpec::ApiKey }) {
            AuthSpec::ApiKey => AuthMode::ApiKey,
            AuthSpec::Iam => AuthMode::Iam,
            AuthSpec::None => AuthMode::None,
        },
        max_request_bytes: a.max_request_bytes.unwrap_or(defaults::MAX_REQUEST_BYTES),
        throttle_rate: rate,
        throttle_burst: throttle.burst.unwrap_or(rate.saturating_mul(2).min(5_000)),
        cors_origins: a.cors.map(|c| c.origins).unwrap_or_default(),
        default_limit: list.default_limit.unwrap_or(defaults::DEFAULT_LIMIT),
        max_limit: list.max_limit.unwrap_or(defaults::MAX_LIMIT),
    }
}

fn tables(spec: &Spec) -> TablesPlan {
    let t = spec.tables.clone().unwrap_or_default();
    let o = t.orders.unwrap_or_default();
    let plain = |logical: &str, key: &str, s: Option<TableSpec>| {
        let s = s.unwrap_or_default();
        TablePlan {
            logical: logical.to_owned(),
            name: s.name.unwrap_or_else(|| format!("{}-{logical}", spec.name)),
            key: key.to_owned(),
            ttl: None,
            status_index: None,
            recent_index: None,
            stream: false,
            point_in_time_recovery: s.point_in_time_recovery.unwrap_or(true),
            retain: s.retain.unwrap_or(true),
        }
    };
    TablesPlan {
        orders: TablePlan {
            logical: "orders".to_owned(),
            name: o.name.unwrap_or_else(|| format!("{}-orders", spec.name)),
            key: "order_id".to_owned(),
            ttl: Some(TtlPlan {
                attribute: "expires_at".to_owned(),
                days: o.ttl_days.and_then(|d| u32::try_from(d).ok()).filter(|d| *d > 0).unwrap_or(defaults::TTL_DAYS),
            }),
            status_index: Some(IndexPlan {
                name: o.status_index.unwrap_or_else(|| "by-status".to_owned()),
                partition_key: "status".to_owned(),
                sort_key: "created_at".to_owned(),
            }),
            recent_index: Some(IndexPlan {
                name: "by-created".to_owned(),
                partition_key: "kind".to_owned(),
                sort_key: "created_at".to_owned(),
            }),
            stream: true,
            point_in_time_recovery: o.point_in_time_recovery.unwrap_or(true),
            retain: o.retain.unwrap_or(true),
        },
        inventory: plain("inventory", "product_id", t.inventory),
        ledger: plain("ledger", "order_id", t.ledger),
        idempotency: {
            let mut table = plain("idempotency", "key", t.idempotency);
            table.ttl = Some(TtlPlan { attribute: "expires_at".to_owned(), days: 1 });
            table
        },
    }
}

fn stream(spec: &Spec) -> StreamPlan {
    let s = spec.stream.clone().unwrap_or_default();
    StreamPlan {
        batch_size: s.batch_size.unwrap_or(100),
        batching_window_s: (ms(s.batching_window.as_ref(), 0) / 1_000) as u32,
        max_retries: s.max_retries.unwrap_or(10),
        max_record_age_s: (ms(s.max_record_age.as_ref(), 3_600_000) / 1_000) as u32,
        bisect_on_error: s.bisect_on_error.unwrap_or(true),
        parallelization: s.parallelization.unwrap_or(1),
        chain_steps: s.chain_steps.unwrap_or(false),
        chain_budget_ms: if s.chain_steps.unwrap_or(false) { chain_budget_ms(spec) } else { 0 },
    }
}

/// Half the stream processor's timeout: a move that started chaining steps stops starting them then,
/// which leaves the other half for the step running at that point and the commit.
fn chain_budget_ms(spec: &Spec) -> u64 {
    let f = spec.functions.clone().unwrap_or_default();
    ms(f.processor_timeout.as_ref(), 60_000) / 2
}

fn functions(spec: &Spec) -> FunctionsPlan {
    let f = spec.functions.clone().unwrap_or_default();
    FunctionsPlan {
        architecture: match f.architecture.unwrap_or(ArchitectureSpec::X86_64) {
            ArchitectureSpec::Arm64 => Architecture::Arm64,
            ArchitectureSpec::X86_64 => Architecture::X86_64,
        },
        memory_mb: memory(f.memory, defaults::MEMORY_MB),
        api_timeout_ms: ms(f.api_timeout.as_ref(), 10_000),
        processor_timeout_ms: ms(f.processor_timeout.as_ref(), 60_000),
    }
}

fn monitoring(spec: &Spec) -> MonitoringPlan {
    let m = spec.monitoring.clone().unwrap_or_default();
    let a = m.alarms.unwrap_or_default();
    MonitoringPlan {
        alarm_email: m.alarm_email.unwrap_or_default(),
        log_retention_days: m.log_retention_days.unwrap_or(defaults::LOG_RETENTION_DAYS),
        alarms: AlarmsPlan {
            function_errors: a.function_errors.unwrap_or(1),
            function_throttles: a.function_throttles.unwrap_or(1),
            iterator_age_ms: ms(a.iterator_age.as_ref(), 60_000),
            dlq_messages: a.dlq_messages.unwrap_or(1),
            api_5xx_percent: a.api_5xx_percent.unwrap_or(1.0),
            api_p99_latency_ms: ms(a.api_p99_latency.as_ref(), 1_000),
            failed_orders_percent: a.failed_orders_percent.unwrap_or(5.0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_fields_override_one_by_one() {
        let inherited = RetryPlan { max_attempts: 5, base_delay_ms: 100, max_delay_ms: 1_000, jitter: Jitter::Equal };
        let spec = RetrySpec { max_attempts: Some(2), ..RetrySpec::default() };
        let r = retry(Some(&spec), Some(&inherited), 3);
        assert_eq!(r, RetryPlan { max_attempts: 2, ..inherited });
    }

    #[test]
    fn next_reorders_steps() {
        let step = |name: &str, next: Option<&str>| StepSpec {
            name: name.to_owned(),
            kind: StepKind::Notify,
            next: next.map(str::to_owned),
            ..serde_json::from_value(serde_json::json!({"name": name, "kind": "notify"})).unwrap()
        };
        let steps = vec![step("a", Some("c")), step("b", Some("end")), step("c", Some("b"))];
        assert_eq!(execution_order(&steps), vec![0, 2, 1]);
    }
}
