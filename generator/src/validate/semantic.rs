//! The semantic checks: what the schema cannot say. References between steps and compensations,
//! the step graph, AWS limits, keys that belong to another kind, and warnings about pipelines that
//! work but probably not as meant.

use std::collections::{BTreeSet, HashMap};

use orchgen_runtime::secrets;
use orchgen_runtime::steps::http::{RESERVED_HEADERS, UrlKind, check_url};

use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::spec::{
    ApiKindSpec, AuthSpec, CompensationKind, Duration, OnFailureSpec, RetrySpec, Spec, StepKind, execution_order,
    parse_duration_ms, success_status,
};
use crate::suggest::did_you_mean;
use crate::validate::schema_check::head_span;
use crate::yaml::Node;

/// Lambda's longest timeout.
pub const MAX_LAMBDA_TIMEOUT_MS: u64 = 900_000;
/// API Gateway's longest integration timeout.
pub const MAX_API_TIMEOUT_MS: u64 = 29_000;
/// Lambda's memory range, in MB.
pub const LAMBDA_MEMORY_MB: std::ops::RangeInclusive<i64> = 128..=10_240;

/// Statuses the runtime gives orders itself; a step may not take one of them.
const RESERVED_STATUSES: [&str; 7] =
    ["RECEIVED", "PROCESSING", "COMPLETED", "REJECTED", "FAILED", "COMPENSATING", "CANCELLED"];

struct Checker<'a> {
    spec: &'a Spec,
    root: &'a Node,
    out: Vec<Diagnostic>,
}

/// Every semantic problem of a pipeline that passed the schema check.
pub fn check(spec: &Spec, root: &Node) -> Vec<Diagnostic> {
    let mut c = Checker { spec, root, out: Vec::new() };
    c.steps_exist();
    c.unique_names();
    c.kind_settings();
    c.graph();
    c.compensations();
    c.limits();
    c.retries();
    c.api();
    c.stream_and_functions();
    c.out
}

impl Checker<'_> {
    fn node(&self, pointer: &str) -> &Node {
        // The pointer comes from the spec, which came from this tree; fall back to the root if not.
        self.root.pointer(pointer).unwrap_or(self.root)
    }

    fn span(&self, pointer: &str) -> Span {
        self.node(pointer).span
    }

    fn key_span(&self, pointer: &str, key: &str) -> Span {
        let node = self.node(pointer);
        node.key(key).map_or_else(|| head_span(node), |k| k.span)
    }

    fn steps_exist(&mut self) {
        if self.spec.steps.is_empty() {
            let span = self.span("/steps");
            self.out.push(
                Diagnostic::error("orchgen::no-steps", "the pipeline has no steps", span, "empty list")
                    .with_help("add at least one step, e.g. `- { name: validate, kind: validate }`"),
            );
        }
    }

    fn unique_names(&mut self) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, step) in self.spec.steps.iter().enumerate() {
            if let Some(&first) = seen.get(step.name.as_str()) {
                let d = Diagnostic::error(
                    "orchgen::duplicate-step",
                    format!("two steps are named `{}`", step.name),
                    self.span(&format!("/steps/{i}/name")),
                    "second step with this name",
                )
                .with_related(self.span(&format!("/steps/{first}/name")), "first one here")
                .with_help("step names must be unique: rename one of them");
                self.out.push(d);
            } else {
                seen.insert(&step.name, i);
            }
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, comp) in self.spec.compensations.iter().enumerate() {
            if let Some(&first) = seen.get(comp.name.as_str()) {
                let d = Diagnostic::error(
                    "orchgen::duplicate-compensation",
                    format!("two compensations are named `{}`", comp.name),
                    self.span(&format!("/compensations/{i}/name")),
                    "second compensation with this name",
                )
                .with_related(self.span(&format!("/compensations/{first}/name")), "first one here")
                .with_help("compensation names must be unique: rename one of them");
                self.out.push(d);
            } else {
                seen.insert(&comp.name, i);
            }
        }
        let mut statuses: HashMap<String, usize> = HashMap::new();
        for (i, step) in self.spec.steps.iter().enumerate() {
            let status = success_status(step);
            if RESERVED_STATUSES.contains(&status.as_str()) {
                let at = if step.status.is_some() { format!("/steps/{i}/status") } else { format!("/steps/{i}/name") };
                self.out.push(
                    Diagnostic::error(
                        "orchgen::reserved-status",
                        format!("step `{}` would set the status `{status}`, which the runtime reserves", step.name),
                        self.span(&at),
                        "reserved status",
                    )
                    .with_help(format!(
                        "reserved statuses are {}; choose another `status:`",
                        RESERVED_STATUSES.join(", ")
                    )),
                );
            } else if let Some(&first) = statuses.get(&status) {
                let at = if step.status.is_some() { format!("/steps/{i}/status") } else { format!("/steps/{i}/kind") };
                self.out.push(
                    Diagnostic::error(
                        "orchgen::duplicate-status",
                        format!(
                            "steps `{}` and `{}` both set the status `{status}`",
                            self.spec.steps[first].name, step.name
                        ),
                        self.span(&at),
                        "same status as an earlier step",
                    )
                    .with_help("give one of them its own `status:` so orders show which step they passed"),
                );
            } else {
                statuses.insert(status, i);
            }
        }
    }

    /// Keys that belong to another kind, and keys a kind needs.
    fn kind_settings(&mut self) {
        for (i, step) in self.spec.steps.iter().enumerate() {
            let at = format!("/steps/{i}");
            let present: [(&str, bool, &[StepKind]); 15] = [
                ("rules", step.rules.is_some(), &[StepKind::Validate]),
                ("provider", step.provider.is_some(), &[StepKind::ChargePayment]),
                ("currency", step.currency.is_some(), &[StepKind::ChargePayment]),
                ("decline", step.decline.is_some(), &[StepKind::ChargePayment]),
                ("carrier", step.carrier.is_some(), &[StepKind::Fulfil]),
                ("tracking_prefix", step.tracking_prefix.is_some(), &[StepKind::Fulfil]),
                ("channel", step.channel.is_some(), &[StepKind::Notify]),
                ("subject", step.subject.is_some(), &[StepKind::Notify]),
                ("handler", step.handler.is_some(), &[StepKind::Custom]),
                ("url", step.url.is_some(), &[StepKind::Http]),
                ("method", step.method.is_some(), &[StepKind::Http]),
                ("headers", step.headers.is_some(), &[StepKind::Http]),
                ("signing", step.signing.is_some(), &[StepKind::Http]),
                ("follow_redirects", step.follow_redirects.is_some(), &[StepKind::Http]),
                ("max_response_bytes", step.max_response_bytes.is_some(), &[StepKind::Http]),
            ];
            for (key, is_set, kinds) in present {
                if is_set && !kinds.contains(&step.kind) {
                    let owner = kind_name(kinds[0]);
                    self.out.push(
                        Diagnostic::error(
                            "orchgen::key-for-other-kind",
                            format!(
                                "`{key}` belongs to `{owner}` steps, but step `{}` is `{}`",
                                step.name,
                                kind_name(step.kind)
                            ),
                            self.key_span(&at, key),
                            format!("only for `{owner}` steps"),
                        )
                        .with_help(format!("remove `{key}`, or change `kind` to `{owner}`")),
                    );
                }
            }
            match step.kind {
                StepKind::Custom => match &step.handler {
                    None => self.out.push(
                        Diagnostic::error(
                            "orchgen::missing-handler",
                            format!("custom step `{}` has no `handler`", step.name),
                            self.key_span(&at, "kind"),
                            "custom steps name a Rust function",
                        )
                        .with_help("add `handler: { function: my_crate::my_step }`"),
                    ),
                    Some(handler) => self.handler(&handler.function, &format!("{at}/handler/function")),
                },
                StepKind::Http => match &step.url {
                    None => self.out.push(
                        Diagnostic::error(
                            "orchgen::missing-url",
                            format!("http step `{}` has no `url`", step.name),
                            self.key_span(&at, "kind"),
                            "http steps call a URL",
                        )
                        .with_help("add `url: https://…`"),
                    ),
                    Some(url) => {
                        self.url(url, &format!("{at}/url"));
                        self.http_settings(&at, step.headers.as_ref(), step.signing.as_ref());
                    }
                },
                StepKind::ChargePayment => {
                    for (j, rule) in step.decline.iter().flatten().enumerate() {
                        if rule.amount_above.is_none() && rule.payment_method.is_none() && rule.customer_id.is_none() {
                            self.out.push(
                                Diagnostic::error(
                                    "orchgen::decline-everything",
                                    "this decline rule has no condition, so every payment would be declined",
                                    head_span(self.node(&format!("{at}/decline/{j}"))),
                                    "no condition",
                                )
                                .with_help("add `amount_above`, `payment_method` or `customer_id`"),
                            );
                        }
                    }
                }
                StepKind::Validate => {
                    if let Some(rules) = &step.rules
                        && let (Some(min), Some(max)) = (rules.min_items, rules.max_items)
                        && min > max
                    {
                        self.out.push(Diagnostic::error(
                            "orchgen::empty-range",
                            format!("`min_items` ({min}) is above `max_items` ({max}): no order can pass"),
                            self.span(&format!("{at}/rules/min_items")),
                            "above max_items",
                        ));
                    }
                }
                _ => {}
            }
        }
        for (i, comp) in self.spec.compensations.iter().enumerate() {
            let at = format!("/compensations/{i}");
            if comp.handler.is_some() && comp.kind != CompensationKind::Custom {
                self.out.push(
                    Diagnostic::error(
                        "orchgen::key-for-other-kind",
                        format!(
                            "`handler` belongs to `custom` compensations, but `{}` is `{}`",
                            comp.name,
                            comp_kind_name(comp.kind)
                        ),
                        self.key_span(&at, "handler"),
                        "only for `custom` compensations",
                    )
                    .with_help("remove `handler`, or change `kind` to `custom`"),
                );
            }
            let http_keys = [
                ("url", comp.url.is_some()),
                ("method", comp.method.is_some()),
                ("headers", comp.headers.is_some()),
                ("signing", comp.signing.is_some()),
                ("follow_redirects", comp.follow_redirects.is_some()),
                ("max_response_bytes", comp.max_response_bytes.is_some()),
            ];
            for (key, is_set) in http_keys {
                if is_set && comp.kind != CompensationKind::Http {
                    self.out.push(
                        Diagnostic::error(
                            "orchgen::key-for-other-kind",
                            format!(
                                "`{key}` belongs to `http` compensations, but `{}` is `{}`",
                                comp.name,
                                comp_kind_name(comp.kind)
                            ),
                            self.key_span(&at, key),
                            "only for `http` compensations",
                        )
                        .with_help(format!("remove `{key}`, or change `kind` to `http`")),
                    );
                }
            }
            match (comp.kind, &comp.handler, &comp.url) {
                (CompensationKind::Custom, None, _) => self.out.push(
                    Diagnostic::error(
                        "orchgen::missing-handler",
                        format!("custom compensation `{}` has no `handler`", comp.name),
                        self.key_span(&at, "kind"),
                        "custom compensations name a Rust function",
                    )
                    .with_help("add `handler: { function: my_crate::undo_my_step }`"),
                ),
                (CompensationKind::Custom, Some(h), _) => self.handler(&h.function, &format!("{at}/handler/function")),
                (CompensationKind::Http, _, None) => self.out.push(
                    Diagnostic::error(
                        "orchgen::missing-url",
                        format!("http compensation `{}` has no `url`", comp.name),
                        self.key_span(&at, "kind"),
                        "http compensations call a URL",
                    )
                    .with_help("add `url: https://…`"),
                ),
                (CompensationKind::Http, _, Some(url)) => {
                    self.url(url, &format!("{at}/url"));
                    self.http_settings(&at, comp.headers.as_ref(), comp.signing.as_ref());
                }
                _ => {}
            }
        }
    }

    fn handler(&mut self, function: &str, pointer: &str) {
        if !is_rust_path(function) {
            self.out.push(
                Diagnostic::error(
                    "orchgen::bad-handler",
                    format!("`{function}` is not a Rust path to a function"),
                    self.span(pointer),
                    "not a Rust path",
                )
                .with_help("write `crate_name::module::function`: identifiers joined by `::`, the first one the crate"),
            );
        }
    }

    /// An `http` step's or compensation's URL: https, or plain http to this machine (a warning).
    fn url(&mut self, url: &str, pointer: &str) {
        if url.contains("${") {
            self.out.push(
                Diagnostic::error(
                    "orchgen::secret-in-url",
                    format!("`{url}` reads a secret: URLs end up in logs, errors and the template"),
                    self.span(pointer),
                    "a secret in a URL",
                )
                .with_help("send the secret in a header instead: `headers: { Authorization: \"Bearer ${env:NAME}\" }`"),
            );
            return;
        }
        match check_url(url) {
            Ok(UrlKind::Https) => {}
            Ok(UrlKind::LoopbackHttp) => self.out.push(
                Diagnostic::warning(
                    "orchgen::http-to-loopback",
                    format!("`{url}` is plain http to this machine: fine for `orchgen dev`, unreachable once deployed"),
                    self.span(pointer),
                    "local development only",
                )
                .with_help("use the service's https URL before `orchgen deploy`"),
            ),
            Err(message) => self.out.push(
                Diagnostic::error("orchgen::bad-url", message, self.span(pointer), "not a URL http steps can call")
                    .with_help(
                        "http steps call https URLs; plain http only to `localhost` or 127.0.0.1, for `orchgen dev`",
                    ),
            ),
        }
    }

    /// An `http` step's or compensation's headers and signing.
    fn http_settings(
        &mut self,
        at: &str,
        headers: Option<&std::collections::BTreeMap<String, String>>,
        signing: Option<&crate::spec::SigningSpec>,
    ) {
        for (name, value) in headers.into_iter().flatten() {
            let key = self.key_span(&format!("{at}/headers"), name);
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.out.push(
                    Diagnostic::error(
                        "orchgen::bad-header",
                        format!("`{name}` is not an HTTP header name"),
                        key,
                        "not a header name",
                    )
                    .with_help("use letters, digits and `-`, e.g. `X-Api-Version`"),
                );
            } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                self.out.push(
                    Diagnostic::error(
                        "orchgen::reserved-header",
                        format!("orchgen sets `{name}` itself"),
                        key,
                        "set by orchgen",
                    )
                    .with_help(
                        "remove it: the body is JSON and `Idempotency-Key` is the same for every attempt of the step",
                    ),
                );
            }
            self.secret_template(value, &format!("{at}/headers/{name}"), false);
            if value.chars().any(|c| c.is_control()) {
                self.out.push(Diagnostic::error(
                    "orchgen::bad-header",
                    format!("the value of header `{name}` holds a control character"),
                    self.span(&format!("{at}/headers/{name}")),
                    "not a header value",
                ));
            }
        }
        if let Some(signing) = signing {
            self.secret_template(&signing.secret, &format!("{at}/signing/secret"), true);
            if let Some(header) = &signing.header
                && http::HeaderName::from_bytes(header.as_bytes()).is_err()
            {
                self.out.push(Diagnostic::error(
                    "orchgen::bad-header",
                    format!("`{header}` is not an HTTP header name"),
                    self.span(&format!("{at}/signing/header")),
                    "not a header name",
                ));
            }
        }
    }

    /// A value that may read secrets; `required` when it must read one (a signing key).
    fn secret_template(&mut self, value: &str, pointer: &str, required: bool) {
        match secrets::references(value) {
            Err(e) => self.out.push(
                Diagnostic::error("orchgen::bad-secret", e.message, self.span(pointer), "not a secret reference")
                    .with_help(e.help),
            ),
            Ok(refs) if refs.iter().any(|r| r.env_name().and_then(secrets::reserved_env).is_some()) => {
                for r in refs {
                    if let Some(why) = r.env_name().and_then(secrets::reserved_env) {
                        self.out.push(
                            Diagnostic::error(
                                "orchgen::reserved-secret-name",
                                format!("{r} cannot hold a secret: {why}"),
                                self.span(pointer),
                                "a reserved variable",
                            )
                            .with_help("name the variable after the service, e.g. `${env:PAYMENTS_TOKEN}`"),
                        );
                    }
                }
            }
            Ok(refs) if required && refs.is_empty() => self.out.push(
                Diagnostic::error(
                    "orchgen::literal-secret",
                    "a signing key written in the pipeline file is no secret",
                    self.span(pointer),
                    "the key itself",
                )
                .with_help("reference it: `secret: ${env:SIGNING_KEY}`, `${ssm:/shop/signing-key}` or `${secretsmanager:shop/signing-key}`"),
            ),
            Ok(_) => {}
        }
    }

    /// `next` references, cycles and unreachable steps.
    fn graph(&mut self) {
        let steps = &self.spec.steps;
        let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        let mut successor: Vec<Option<usize>> = Vec::with_capacity(steps.len());
        let mut broken = false;
        for (i, step) in steps.iter().enumerate() {
            match step.next.as_deref() {
                None => successor.push((i + 1 < steps.len()).then_some(i + 1)),
                Some("end") => successor.push(None),
                Some(target) => match index.get(target) {
                    Some(&j) if j == i => {
                        broken = true;
                        successor.push(None);
                        self.out.push(
                            Diagnostic::error(
                                "orchgen::cycle",
                                format!("step `{}` names itself as `next`", step.name),
                                self.span(&format!("/steps/{i}/next")),
                                "loops forever",
                            )
                            .with_help("point `next` at a later step, or write `end`"),
                        );
                    }
                    Some(&j) => successor.push(Some(j)),
                    None => {
                        broken = true;
                        successor.push(None);
                        let help = did_you_mean(target, names.iter().copied().chain(["end"]))
                            .unwrap_or_else(|| format!("`next` names a step ({}) or `end`", names.join(", ")));
                        self.out.push(
                            Diagnostic::error(
                                "orchgen::unknown-step",
                                format!("step `{}` goes next to `{target}`, which is not a step", step.name),
                                self.span(&format!("/steps/{i}/next")),
                                "unknown step",
                            )
                            .with_help(help),
                        );
                    }
                },
            }
        }
        if broken || steps.is_empty() {
            return;
        }
        // Walk from the first step; a revisit is a cycle.
        let mut visited = vec![false; steps.len()];
        let mut at = Some(0);
        let mut path = Vec::new();
        while let Some(i) = at {
            if visited[i] {
                let from = *path.last().unwrap_or(&i);
                let cycle: Vec<&str> = path[path.iter().position(|&p| p == i).unwrap_or(0)..]
                    .iter()
                    .map(|&p| names[p])
                    .chain([names[i]])
                    .collect();
                self.out.push(
                    Diagnostic::error(
                        "orchgen::cycle",
                        format!("the steps form a cycle: {}", cycle.join(" → ")),
                        self.span(&format!("/steps/{from}/next")),
                        "goes back to an earlier step",
                    )
                    .with_help("every order must reach the end: point `next` forward, or write `end`"),
                );
                return;
            }
            visited[i] = true;
            path.push(i);
            at = successor[i];
        }
        for (i, seen) in visited.iter().enumerate() {
            if !seen {
                self.out.push(
                    Diagnostic::error(
                        "orchgen::unreachable-step",
                        format!("step `{}` is never reached", steps[i].name),
                        self.span(&format!("/steps/{i}/name")),
                        "no step leads here",
                    )
                    .with_help("remove the step, or make an earlier step's `next` lead to it"),
                );
            }
        }
    }

    fn compensations(&mut self) {
        let names: Vec<&str> = self.spec.compensations.iter().map(|c| c.name.as_str()).collect();
        let mut used = BTreeSet::new();
        let on_failure_default =
            self.spec.defaults.as_ref().and_then(|d| d.on_failure).unwrap_or(OnFailureSpec::Compensate);
        let mut any_compensating = false;
        for (i, step) in self.spec.steps.iter().enumerate() {
            if step.on_failure.unwrap_or(on_failure_default) == OnFailureSpec::Compensate {
                any_compensating = true;
            }
            let side_effects = match step.kind {
                StepKind::Custom => step.handler.as_ref().and_then(|h| h.side_effects).unwrap_or(true),
                kind => kind.has_side_effects(),
            };
            match &step.compensate {
                Some(target) => {
                    used.insert(target.as_str());
                    if !names.contains(&target.as_str()) {
                        let help = did_you_mean(target, names.iter().copied()).unwrap_or_else(|| {
                            if names.is_empty() {
                                format!("declare it under `compensations:`, e.g. `- {{ name: {target}, kind: release_inventory }}`")
                            } else {
                                format!("declared compensations: {}", names.join(", "))
                            }
                        });
                        self.out.push(
                            Diagnostic::error(
                                "orchgen::unknown-compensation",
                                format!("step `{}` is compensated by `{target}`, which is not declared", step.name),
                                self.span(&format!("/steps/{i}/compensate")),
                                "unknown compensation",
                            )
                            .with_help(help),
                        );
                    } else if !side_effects {
                        self.out.push(
                            Diagnostic::error(
                                "orchgen::compensation-without-effect",
                                format!(
                                    "step `{}` ({}) changes nothing, so there is nothing to compensate",
                                    step.name,
                                    kind_name(step.kind)
                                ),
                                self.span(&format!("/steps/{i}/compensate")),
                                "nothing to undo",
                            )
                            .with_help("remove `compensate` from this step"),
                        );
                    } else if let Some(comp) = self.spec.compensations.iter().find(|c| &c.name == target) {
                        let fits = match comp.kind {
                            CompensationKind::ReleaseInventory => step.kind == StepKind::ReserveInventory,
                            CompensationKind::RefundPayment => step.kind == StepKind::ChargePayment,
                            CompensationKind::Custom | CompensationKind::Http => true,
                        };
                        if !fits {
                            self.out.push(
                                Diagnostic::error(
                                    "orchgen::compensation-mismatch",
                                    format!(
                                        "`{target}` ({}) cannot undo step `{}` ({})",
                                        comp_kind_name(comp.kind),
                                        step.name,
                                        kind_name(step.kind)
                                    ),
                                    self.span(&format!("/steps/{i}/compensate")),
                                    "wrong compensation",
                                )
                                .with_help(
                                    "release_inventory undoes reserve_inventory; refund_payment undoes charge_payment",
                                ),
                            );
                        }
                    }
                }
                None if matches!(step.kind, StepKind::ReserveInventory | StepKind::ChargePayment) => {
                    self.out.push(
                        Diagnostic::warning(
                            "orchgen::uncompensated-effect",
                            format!(
                                "step `{}` ({}) has no compensation: a later failure will not undo it",
                                step.name,
                                kind_name(step.kind)
                            ),
                            self.span(&format!("/steps/{i}/kind")),
                            "never undone",
                        )
                        .with_help(format!(
                            "declare `compensate: {}` and the matching entry under `compensations:`",
                            if step.kind == StepKind::ReserveInventory {
                                "release-inventory"
                            } else {
                                "refund-payment"
                            }
                        )),
                    );
                }
                None => {}
            }
        }
        for (i, comp) in self.spec.compensations.iter().enumerate() {
            if !used.contains(comp.name.as_str()) {
                self.out.push(
                    Diagnostic::warning(
                        "orchgen::unused-compensation",
                        format!("compensation `{}` is not used by any step", comp.name),
                        self.span(&format!("/compensations/{i}/name")),
                        "unused",
                    )
                    .with_help("name it in a step's `compensate:`, or remove it"),
                );
            }
        }
        let _ = any_compensating;
        // Fulfilment commits what inventory reserved: it needs a reserve step to run before it, in the
        // order steps run (`next` may differ from the order they are written in).
        let mut reserved = false;
        for i in execution_order(&self.spec.steps) {
            let step = &self.spec.steps[i];
            reserved |= step.kind == StepKind::ReserveInventory;
            if step.kind == StepKind::Fulfil && !reserved {
                self.out.push(
                    Diagnostic::error(
                        "orchgen::fulfil-without-reservation",
                        format!(
                            "step `{}` fulfils the order, but no `reserve_inventory` step runs before it",
                            step.name
                        ),
                        self.span(&format!("/steps/{i}/kind")),
                        "nothing reserved to commit",
                    )
                    .with_help("add a `reserve_inventory` step before this one"),
                );
            }
        }
    }

    /// Timeouts and memory within Lambda's limits.
    fn limits(&mut self) {
        if let Some(defaults) = &self.spec.defaults {
            if let Some(t) = &defaults.timeout {
                self.timeout(t, "/defaults/timeout", MAX_LAMBDA_TIMEOUT_MS, "Lambda's limit of 15m");
            }
            if let Some(m) = defaults.memory {
                self.memory(m, "/defaults/memory");
            }
        }
        for (i, step) in self.spec.steps.iter().enumerate() {
            if let Some(t) = &step.timeout {
                self.timeout(t, &format!("/steps/{i}/timeout"), MAX_LAMBDA_TIMEOUT_MS, "Lambda's limit of 15m");
            }
            if let Some(m) = step.memory {
                self.memory(m, &format!("/steps/{i}/memory"));
            }
        }
        for (i, comp) in self.spec.compensations.iter().enumerate() {
            if let Some(t) = &comp.timeout {
                self.timeout(t, &format!("/compensations/{i}/timeout"), MAX_LAMBDA_TIMEOUT_MS, "Lambda's limit of 15m");
            }
        }
        if let Some(ttl) = self.spec.tables.as_ref().and_then(|t| t.orders.as_ref()).and_then(|o| o.ttl_days)
            && ttl <= 0
        {
            self.out.push(
                Diagnostic::error(
                    "orchgen::ttl",
                    format!("`ttl_days` must be a positive number of days, found {ttl}"),
                    self.span("/tables/orders/ttl_days"),
                    "not positive",
                )
                .with_help("leave `ttl_days` out to keep orders 90 days"),
            );
        }
    }

    fn timeout(&mut self, t: &Duration, pointer: &str, max_ms: u64, limit: &str) {
        let Some(ms) = parse_duration_ms(&t.0) else { return };
        if ms == 0 {
            self.out.push(Diagnostic::error(
                "orchgen::timeout",
                "a timeout of zero would fail every attempt",
                self.span(pointer),
                "zero",
            ));
        } else if ms > max_ms {
            self.out.push(
                Diagnostic::error(
                    "orchgen::timeout",
                    format!("timeout `{}` is above {limit}", t.0),
                    self.span(pointer),
                    "too long",
                )
                .with_help(format!("use at most {}", format_ms(max_ms))),
            );
        }
    }

    fn memory(&mut self, mb: i64, pointer: &str) {
        if !LAMBDA_MEMORY_MB.contains(&mb) {
            self.out.push(
                Diagnostic::error(
                    "orchgen::memory",
                    format!("memory {mb} MB is outside Lambda's range of 128 to 10240 MB"),
                    self.span(pointer),
                    "out of range",
                )
                .with_help("256 MB suits most steps; memory also buys CPU"),
            );
        }
    }

    fn retries(&mut self) {
        let mut policies: Vec<(String, &RetrySpec)> = Vec::new();
        if let Some(r) = self.spec.defaults.as_ref().and_then(|d| d.retry.as_ref()) {
            policies.push(("/defaults/retry".to_owned(), r));
        }
        for (i, step) in self.spec.steps.iter().enumerate() {
            if let Some(r) = &step.retry {
                policies.push((format!("/steps/{i}/retry"), r));
            }
        }
        for (i, comp) in self.spec.compensations.iter().enumerate() {
            if let Some(r) = &comp.retry {
                policies.push((format!("/compensations/{i}/retry"), r));
            }
        }
        for (at, retry) in policies {
            let backoff = retry.backoff.as_ref().and_then(|b| parse_duration_ms(&b.0));
            let max_backoff = retry.max_backoff.as_ref().and_then(|b| parse_duration_ms(&b.0));
            if retry.max_attempts.unwrap_or(1) > 1 && backoff == Some(0) {
                self.out.push(
                    Diagnostic::warning(
                        "orchgen::retry-without-backoff",
                        "retries without backoff hit a struggling service again at once",
                        self.span(&format!("{at}/backoff")),
                        "no delay between attempts",
                    )
                    .with_help("use a backoff of at least `100ms`"),
                );
            }
            if let (Some(b), Some(m)) = (backoff, max_backoff)
                && m < b
            {
                self.out.push(
                    Diagnostic::error(
                        "orchgen::backoff-range",
                        format!("`max_backoff` ({}) is below `backoff` ({})", format_ms(m), format_ms(b)),
                        self.span(&format!("{at}/max_backoff")),
                        "below backoff",
                    )
                    .with_help("`max_backoff` caps the doubling delay: make it at least `backoff`"),
                );
            }
        }
    }

    fn api(&mut self) {
        let Some(api) = &self.spec.api else { return };
        if api.kind == Some(ApiKindSpec::Http) && api.auth == Some(AuthSpec::ApiKey) {
            self.out.push(
                Diagnostic::error(
                    "orchgen::http-api-key",
                    "an HTTP API cannot require an API key: API Gateway has API keys and usage plans only for REST APIs",
                    self.span("/api/auth"),
                    "not on an HTTP API",
                )
                .with_help("use `auth: iam` (signed requests) with `kind: http`, or `kind: rest` to keep the API key"),
            );
        }
        if api.auth == Some(AuthSpec::None) {
            self.out.push(
                Diagnostic::warning(
                    "orchgen::public-api",
                    "the API has no authentication: anyone who finds its URL can submit orders",
                    self.span("/api/auth"),
                    "anonymous access",
                )
                .with_help("use `auth: api_key` or `auth: iam` unless the API really is public"),
            );
        }
        if let Some(list) = &api.list
            && let (Some(d), Some(m)) = (list.default_limit, list.max_limit)
            && d > m
        {
            self.out.push(Diagnostic::error(
                "orchgen::list-limits",
                format!("`default_limit` ({d}) is above `max_limit` ({m})"),
                self.span("/api/list/default_limit"),
                "above max_limit",
            ));
        }
        if let Some(routes) = &api.routes {
            if routes.is_empty() {
                self.out.push(
                    Diagnostic::error(
                        "orchgen::no-routes",
                        "the API serves no routes: orders could not be submitted",
                        self.span("/api/routes"),
                        "empty",
                    )
                    .with_help("leave `routes` out to serve all three"),
                );
            } else if !routes.contains(&crate::spec::RouteSpec::Create) {
                self.out.push(Diagnostic::warning(
                    "orchgen::no-create-route",
                    "the API has no `create` route: no order can enter the pipeline through it",
                    self.span("/api/routes"),
                    "no create",
                ));
            }
        }
        if let Some(t) = &api.throttle
            && let (Some(rate), Some(burst)) = (t.rate, t.burst)
            && burst < rate
        {
            self.out.push(
                Diagnostic::warning(
                    "orchgen::burst-below-rate",
                    format!("burst {burst} is below the rate {rate}: the stage can never reach its rate"),
                    self.span("/api/throttle/burst"),
                    "below rate",
                )
                .with_help("make `burst` at least `rate`"),
            );
        }
    }

    fn stream_and_functions(&mut self) {
        if let Some(stream) = &self.spec.stream {
            if let Some(w) = &stream.batching_window {
                self.timeout_allow_zero(
                    w,
                    "/stream/batching_window",
                    300_000,
                    "the event source mapping's limit of 5m",
                );
            }
            if let Some(age) = &stream.max_record_age
                && let Some(ms) = parse_duration_ms(&age.0)
                && !(60_000..=604_800_000).contains(&ms)
            {
                self.out.push(
                    Diagnostic::error(
                        "orchgen::record-age",
                        format!("`max_record_age` `{}` is outside the range 60s to 7 days", age.0),
                        self.span("/stream/max_record_age"),
                        "out of range",
                    )
                    .with_help("DynamoDB Streams keep records 24 hours: `60m` to `1440m` is the useful range"),
                );
            }
        }
        if let Some(f) = &self.spec.functions {
            if let Some(m) = f.memory {
                self.memory(m, "/functions/memory");
            }
            if let Some(t) = &f.api_timeout {
                self.timeout(t, "/functions/api_timeout", MAX_API_TIMEOUT_MS, "API Gateway's limit of 29s");
            }
            if let Some(t) = &f.processor_timeout {
                self.timeout(t, "/functions/processor_timeout", MAX_LAMBDA_TIMEOUT_MS, "Lambda's limit of 15m");
            }
        }
    }

    fn timeout_allow_zero(&mut self, t: &Duration, pointer: &str, max_ms: u64, limit: &str) {
        if let Some(ms) = parse_duration_ms(&t.0)
            && ms > max_ms
        {
            self.out.push(
                Diagnostic::error(
                    "orchgen::timeout",
                    format!("`{}` is above {limit}", t.0),
                    self.span(pointer),
                    "too long",
                )
                .with_help(format!("use at most {}", format_ms(max_ms))),
            );
        }
    }
}

/// A step kind as written in pipeline files.
pub fn kind_name(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Validate => "validate",
        StepKind::ReserveInventory => "reserve_inventory",
        StepKind::ChargePayment => "charge_payment",
        StepKind::Fulfil => "fulfil",
        StepKind::Notify => "notify",
        StepKind::Custom => "custom",
        StepKind::Http => "http",
    }
}

fn comp_kind_name(kind: CompensationKind) -> &'static str {
    match kind {
        CompensationKind::ReleaseInventory => "release_inventory",
        CompensationKind::RefundPayment => "refund_payment",
        CompensationKind::Custom => "custom",
        CompensationKind::Http => "http",
    }
}

/// Whether `text` is a Rust path of at least two identifiers (`crate::function`).
pub fn is_rust_path(text: &str) -> bool {
    let segments: Vec<&str> = text.split("::").collect();
    segments.len() >= 2
        && segments.iter().all(|s| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                && *s != "_"
        })
}

fn format_ms(ms: u64) -> String {
    if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::is_rust_path;

    #[test]
    fn rust_paths() {
        assert!(is_rust_path("fraud_check::score"));
        assert!(is_rust_path("a::b::c"));
        assert!(!is_rust_path("score"));
        assert!(!is_rust_path("fraud-check::score"));
        assert!(!is_rust_path("a::"));
        assert!(!is_rust_path("a:b"));
        assert!(!is_rust_path("1a::b"));
    }
}
