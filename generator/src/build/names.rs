//! Names in the generated CloudFormation template: logical ids, parameters and the physical names
//! (as `Fn::Sub` strings over the `Stage` parameter).
//!
//! Function names and environment variables follow the runtime's conventions
//! (`orchgen_runtime::functions`): the runtime reads what this module writes.

use orchgen_runtime::functions::Function;

/// The `Stage` parameter's pattern: short, lowercase, so every physical name stays within AWS limits.
pub const STAGE_PATTERN: &str = "^[a-z][a-z0-9]{0,9}$";

/// Longest stage [`STAGE_PATTERN`] accepts.
pub const MAX_STAGE_CHARS: usize = 10;

/// Longest Lambda function name AWS accepts.
pub const MAX_FUNCTION_NAME_CHARS: usize = 64;

/// `reserve-inventory` → `ReserveInventory`: a kebab-case name as part of a logical id
/// (which allows ASCII letters and digits only).
pub fn pascal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// The NoEcho stack parameter carrying the secret an `http` step reads as `${env:NAME}`:
/// `PAYMENTS_TOKEN` → `SecretPaymentsToken`.
pub fn secret_parameter(env: &str) -> String {
    format!("Secret{}", pascal(&env.to_ascii_lowercase()))
}

/// The stem of every logical id about a function: `Api`, `StreamProcessor`, `StepChargePayment`,
/// `CompensationRefundPayment`.
pub fn function_stem(function: &Function) -> String {
    match function {
        Function::Api => "Api".to_owned(),
        Function::StreamProcessor => "StreamProcessor".to_owned(),
        Function::Step(name) => format!("Step{}", pascal(name)),
        Function::Compensation(name) => format!("Compensation{}", pascal(name)),
    }
}

/// Logical id of a function's `AWS::Lambda::Function`.
pub fn function_id(function: &Function) -> String {
    format!("{}Function", function_stem(function))
}

/// Logical id of a function's execution role.
pub fn role_id(function: &Function) -> String {
    format!("{}Role", function_stem(function))
}

/// Logical id of a function's log group.
pub fn log_group_id(function: &Function) -> String {
    format!("{}LogGroup", function_stem(function))
}

/// The template parameter holding the S3 key of a function's zipped `bootstrap`
/// (`ApiCodeKey`, `StreamProcessorCodeKey`, `StepValidateCodeKey`, ...).
pub fn code_key_parameter(function: &Function) -> String {
    format!("{}CodeKey", function_stem(function))
}

/// Logical id of a table (`orders` → `OrdersTable`).
pub fn table_id(logical: &str) -> String {
    format!("{}Table", pascal(logical))
}

/// Escapes text for a literal part of an `Fn::Sub` string (`${` would start a variable).
pub fn sub_literal(text: &str) -> String {
    text.replace("${", "${!")
}

/// The prefix of every physical name: `${Stage}-<pipeline>-`, as an `Fn::Sub` string.
pub fn prefix_sub(pipeline: &str) -> String {
    format!("${{Stage}}-{}-", sub_literal(pipeline))
}

/// A table's physical name as an `Fn::Sub` string: `${Stage}-<plan table name>`.
pub fn table_name_sub(plan_name: &str) -> String {
    format!("${{Stage}}-{}", sub_literal(plan_name))
}

/// A function's physical name as an `Fn::Sub` string, `${Stage}-<pipeline>-<function name>`, when
/// it fits Lambda's 64 characters with the longest stage; `None` lets CloudFormation name it.
pub fn function_name_sub(pipeline: &str, function: &Function) -> Option<String> {
    let name = function.name();
    let longest = MAX_STAGE_CHARS + 1 + pipeline.len() + 1 + name.len();
    (longest <= MAX_FUNCTION_NAME_CHARS).then(|| format!("{}{}", prefix_sub(pipeline), sub_literal(&name)))
}

/// The longest physical name [`function_name_sub`] can give (with the longest stage), for size estimates.
pub fn function_name_len(pipeline: &str, function: &Function) -> usize {
    match function_name_sub(pipeline, function) {
        Some(_) => MAX_STAGE_CHARS + 1 + pipeline.len() + 1 + function.name().len(),
        None => MAX_FUNCTION_NAME_CHARS,
    }
}

/// A function's log group name as an `Fn::Sub` string: `/aws/lambda/${Stage}-<pipeline>-<function name>`.
pub fn log_group_name_sub(pipeline: &str, function: &Function) -> String {
    format!("/aws/lambda/{}{}", prefix_sub(pipeline), sub_literal(&function.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_are_alphanumeric_and_keep_kinds_apart() {
        assert_eq!(pascal("reserve-inventory"), "ReserveInventory");
        assert_eq!(pascal("step2-go"), "Step2Go");
        assert_eq!(function_id(&Function::step("charge-payment")), "StepChargePaymentFunction");
        assert_eq!(code_key_parameter(&Function::compensation("refund-payment")), "CompensationRefundPaymentCodeKey");
        assert_ne!(function_id(&Function::step("api")), function_id(&Function::Api));
        assert_eq!(table_id("idempotency"), "IdempotencyTable");
    }

    #[test]
    fn physical_names_fit_aws_limits() {
        assert_eq!(
            function_name_sub("shop", &Function::step("validate")).as_deref(),
            Some("${Stage}-shop-step-validate")
        );
        let long = "a".repeat(48);
        assert_eq!(function_name_sub("shop", &Function::compensation(&long)), None);
        assert_eq!(function_name_len("shop", &Function::compensation(&long)), 64);
        assert_eq!(sub_literal("a${b}"), "a${!b}");
    }
}
