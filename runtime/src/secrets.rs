//! Secret references in pipeline values: `${env:NAME}`, `${ssm:NAME}`, `${secretsmanager:NAME}`.
//!
//! An `http` step's header values and its signing key may reference secrets. The plan, the
//! template, the logs and the dashboard hold only the reference; the value is read when the
//! request is made:
//!
//! - `${env:NAME}` — the environment variable `NAME`: `orchgen dev`'s environment locally; on AWS
//!   the step function's, which `orchgen deploy` fills from a NoEcho stack parameter;
//! - `${ssm:NAME}` — the SSM Parameter Store parameter `NAME` (a SecureString, decrypted), and
//!   `${secretsmanager:NAME}` — the string of the Secrets Manager secret `NAME` (a name or an
//!   ARN): on AWS the step function reads them (its role may read exactly those; feature
//!   `aws-secrets`, [`aws`]), cached for five minutes; locally `orchgen dev` reads them from the
//!   environment variable [`SecretRef::local_env`] names (`${ssm:/shop/token}` → `SSM_SHOP_TOKEN`).
//!
//! `$${` writes a literal `${`. Any other `${…}` is an error, so that a typo never reaches a
//! provider as text.
//!
//! No feature needed, but for [`aws`].

#[cfg(feature = "aws-secrets")]
pub mod aws;

use std::fmt;

/// A reference to a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretRef {
    /// `${env:NAME}`: the environment variable `NAME`.
    Env(String),
    /// `${ssm:NAME}`: an SSM Parameter Store parameter (SecureString), e.g. `/shop/payments/token`.
    Ssm(String),
    /// `${secretsmanager:NAME}`: a Secrets Manager secret's string, by name or ARN.
    SecretsManager(String),
}

impl SecretRef {
    /// The environment variable of an `${env:NAME}` reference.
    pub fn env_name(&self) -> Option<&str> {
        match self {
            SecretRef::Env(name) => Some(name),
            SecretRef::Ssm(_) | SecretRef::SecretsManager(_) => None,
        }
    }

    /// The environment variable `orchgen dev` reads the secret from: `NAME` for `${env:NAME}`;
    /// for the others the scheme and the name in capitals, every other character `_`
    /// (`${ssm:/shop/payments/token}` → `SSM_SHOP_PAYMENTS_TOKEN`, `${secretsmanager:shop/key}` →
    /// `SECRETSMANAGER_SHOP_KEY`; of an ARN, the part after `secret:`).
    pub fn local_env(&self) -> String {
        let (scheme, name) = match self {
            SecretRef::Env(name) => return name.clone(),
            SecretRef::Ssm(name) => ("SSM", name.as_str()),
            SecretRef::SecretsManager(name) => {
                ("SECRETSMANAGER", name.rsplit_once(":secret:").map_or(name.as_str(), |(_, n)| n))
            }
        };
        let mut out = String::from(scheme);
        for part in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
            out.push('_');
            out.push_str(&part.to_ascii_uppercase());
        }
        out
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "${{env:{name}}}"),
            SecretRef::Ssm(name) => write!(f, "${{ssm:{name}}}"),
            SecretRef::SecretsManager(name) => write!(f, "${{secretsmanager:{name}}}"),
        }
    }
}

/// A malformed reference: where it starts (byte offset in the value) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// Byte offset of the `${` in the value.
    pub offset: usize,
    /// Byte length of the reference (to the closing `}` or the end of the value).
    pub len: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// A referenced secret that is not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret {reference} is not set")]
pub struct MissingSecret {
    /// The reference.
    pub reference: SecretRef,
}

enum Piece<'a> {
    Text(&'a str),
    Secret(SecretRef),
}

fn pieces(value: &str) -> Result<Vec<Piece<'_>>, SyntaxError> {
    let mut out = Vec::new();
    let mut rest = value;
    let mut offset = 0;
    while let Some(at) = rest.find("${") {
        if at > 0 && rest.as_bytes()[at - 1] == b'$' {
            // `$${`: a literal `${`.
            out.push(Piece::Text(&rest[..at - 1]));
            out.push(Piece::Text("${"));
            rest = &rest[at + 2..];
            offset += at + 2;
            continue;
        }
        out.push(Piece::Text(&rest[..at]));
        let start = offset + at;
        let body = &rest[at + 2..];
        let Some(close) = body.find('}') else {
            return Err(SyntaxError {
                offset: start,
                len: rest.len() - at,
                message: "`${` starts a secret reference that is not closed".to_owned(),
                help: "write `${env:NAME}`, `${ssm:NAME}` or `${secretsmanager:NAME}`, or `$${` for a literal `${`"
                    .to_owned(),
            });
        };
        let inner = &body[..close];
        let len = close + 3;
        let reference = match inner.split_once(':') {
            Some(("env", name)) if is_env_name(name) => SecretRef::Env(name.to_owned()),
            Some(("env", name)) => {
                return Err(SyntaxError {
                    offset: start,
                    len,
                    message: format!("`{name}` is not an environment variable name"),
                    help:
                        "use capital letters, digits and `_`, not starting with a digit, e.g. `${env:PAYMENTS_TOKEN}`"
                            .to_owned(),
                });
            }
            Some(("ssm", name)) => match ssm_name_problem(name) {
                None => SecretRef::Ssm(name.to_owned()),
                Some(problem) => {
                    return Err(SyntaxError {
                        offset: start,
                        len,
                        message: format!("`{name}` is not an SSM parameter name: {problem}"),
                        help: "name the parameter like `${ssm:/shop/payments/token}`: letters, digits, `_`, `.`, `-`, and `/` between levels".to_owned(),
                    });
                }
            },
            Some(("secretsmanager", name)) => match secrets_manager_name_problem(name) {
                None => SecretRef::SecretsManager(name.to_owned()),
                Some(problem) => {
                    return Err(SyntaxError {
                        offset: start,
                        len,
                        message: format!("`{name}` is not a Secrets Manager secret name or ARN: {problem}"),
                        help: "name the secret like `${secretsmanager:shop/payments-signing-key}` (letters, digits and `/_+=.@-`), or give its ARN".to_owned(),
                    });
                }
            },
            _ => {
                return Err(SyntaxError {
                    offset: start,
                    len,
                    message: format!("`${{{inner}}}` is not a secret reference"),
                    help: "write `${env:NAME}`, `${ssm:NAME}` or `${secretsmanager:NAME}`, or `$${` for a literal `${`"
                        .to_owned(),
                });
            }
        };
        out.push(Piece::Secret(reference));
        rest = &body[close + 1..];
        offset = start + len;
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Why `name` cannot name an SSM parameter, if it cannot.
fn ssm_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 1011 {
        Some("it must have 1 to 1011 characters")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) {
        Some("only letters, digits, `_`, `.`, `-` and `/` are allowed")
    } else if name.ends_with('/') || name.contains("//") {
        Some("`/` separates levels: no empty level, no `/` at the end")
    } else if ["aws", "ssm"].iter().any(|p| name.trim_start_matches('/').to_ascii_lowercase().starts_with(p)) {
        Some("names starting with `aws` or `ssm` are reserved by AWS")
    } else {
        None
    }
}

/// Why `name` cannot name a Secrets Manager secret (a name or an ARN), if it cannot.
fn secrets_manager_name_problem(name: &str) -> Option<&'static str> {
    let allowed = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    if let Some(arn) = name.strip_prefix("arn:") {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let well_formed = parts.len() == 6
            && parts[0].starts_with("aws")
            && parts[1] == "secretsmanager"
            && !parts[2].is_empty()
            && parts[3].len() == 12
            && parts[3].chars().all(|c| c.is_ascii_digit())
            && parts[4] == "secret"
            && allowed(parts[5]);
        return (!well_formed).then_some("an ARN reads `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`");
    }
    if name.len() > 512 {
        Some("it must have 1 to 512 characters")
    } else if !allowed(name) {
        Some("only letters, digits and `/_+=.@-` are allowed")
    } else {
        None
    }
}

/// Why an environment variable cannot hold a secret, if it cannot: Lambda reserves `AWS_*`,
/// `LAMBDA_*`, `_*` and `TZ`, and orchgen sets `ORCHGEN_*` itself.
pub fn reserved_env(name: &str) -> Option<&'static str> {
    if name.starts_with("ORCHGEN_") {
        Some("orchgen sets the `ORCHGEN_` variables of its functions itself")
    } else if name.starts_with("AWS_") || name.starts_with("LAMBDA_") || name.starts_with('_') || name == "TZ" {
        Some("AWS Lambda reserves `AWS_*`, `LAMBDA_*`, `_*` and `TZ`: a function cannot be given it")
    } else {
        None
    }
}

/// The secrets `value` references, in order.
pub fn references(value: &str) -> Result<Vec<SecretRef>, SyntaxError> {
    Ok(pieces(value)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Secret(r) => Some(r),
            Piece::Text(_) => None,
        })
        .collect())
}

/// `value` with each reference replaced by the secret `lookup` finds for it.
pub fn expand(value: &str, lookup: impl Fn(&SecretRef) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(value.len());
    for piece in pieces(value).map_err(ExpandError::Syntax)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Secret(reference) => match lookup(&reference) {
                Some(secret) => out.push_str(&secret),
                None => return Err(ExpandError::Missing(MissingSecret { reference })),
            },
        }
    }
    Ok(out)
}

/// `value` with each reference replaced from the process environment, as `orchgen dev` reads
/// secrets ([`SecretRef::local_env`]).
pub fn expand_from_env(value: &str) -> Result<String, ExpandError> {
    expand(value, |r| std::env::var(r.local_env()).ok())
}

/// Why a value could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A malformed reference.
    #[error(transparent)]
    Syntax(SyntaxError),
    /// A secret that is not set.
    #[error(transparent)]
    Missing(MissingSecret),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> SecretRef {
        SecretRef::Env(name.to_owned())
    }

    #[test]
    fn references_are_found_in_order() {
        assert_eq!(references("Bearer ${env:TOKEN}").unwrap(), [env("TOKEN")]);
        assert_eq!(references("${env:A}:${env:B_2}").unwrap(), [env("A"), env("B_2")]);
        assert_eq!(references("plain").unwrap(), []);
        assert_eq!(references("costs $5 or $${env:X}").unwrap(), []);
    }

    #[test]
    fn expansion_replaces_references_and_keeps_text() {
        let lookup = |r: &SecretRef| (r.env_name() == Some("TOKEN")).then(|| "s3cr3t".to_owned());
        assert_eq!(expand("Bearer ${env:TOKEN}!", lookup).unwrap(), "Bearer s3cr3t!");
        assert_eq!(expand("$${env:TOKEN}", lookup).unwrap(), "${env:TOKEN}");
        assert_eq!(
            expand("${env:OTHER}", lookup),
            Err(ExpandError::Missing(MissingSecret { reference: env("OTHER") }))
        );
    }

    #[test]
    fn malformed_references_say_where_and_why() {
        let e = references("x ${env:token}").unwrap_err();
        assert_eq!((e.offset, e.len), (2, 12));
        assert!(e.message.contains("`token` is not an environment variable name"), "{e}");
        let e = references("${ssm:/shop//key}").unwrap_err();
        assert!(e.message.contains("not an SSM parameter name"), "{e}");
        let e = references("${ssm:/aws/reference/x}").unwrap_err();
        assert!(e.message.contains("reserved by AWS"), "{e}");
        let e = references("${secretsmanager:shop key}").unwrap_err();
        assert!(e.message.contains("not a Secrets Manager secret name or ARN"), "{e}");
        let e = references("${secretsmanager:arn:aws:secretsmanager:us-east-1:12:secret:x}").unwrap_err();
        assert!(e.message.contains("an ARN reads"), "{e}");
        let e = references("${env:A").unwrap_err();
        assert!(e.message.contains("not closed"), "{e}");
        let e = references("${TOKEN}").unwrap_err();
        assert!(e.message.contains("`${TOKEN}` is not a secret reference"), "{e}");
    }

    #[test]
    fn aws_references_parse_and_name_their_local_variable() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/key-AbCdEf";
        assert_eq!(
            references(&format!(
                "${{ssm:/shop/payments/token}} ${{secretsmanager:shop/signing-key}} ${{secretsmanager:{arn}}}"
            ))
            .unwrap(),
            [
                SecretRef::Ssm("/shop/payments/token".to_owned()),
                SecretRef::SecretsManager("shop/signing-key".to_owned()),
                SecretRef::SecretsManager(arn.to_owned())
            ]
        );
        assert_eq!(SecretRef::Ssm("/shop/payments/token".to_owned()).local_env(), "SSM_SHOP_PAYMENTS_TOKEN");
        assert_eq!(
            SecretRef::SecretsManager("shop/signing-key".to_owned()).local_env(),
            "SECRETSMANAGER_SHOP_SIGNING_KEY"
        );
        assert_eq!(SecretRef::SecretsManager(arn.to_owned()).local_env(), "SECRETSMANAGER_SHOP_KEY_ABCDEF");
        assert_eq!(SecretRef::Env("TOKEN".to_owned()).local_env(), "TOKEN");
        assert_eq!(SecretRef::Ssm("/a/b".to_owned()).to_string(), "${ssm:/a/b}");
    }

    #[test]
    fn lambda_and_orchgen_variables_cannot_hold_secrets() {
        assert!(reserved_env("AWS_SECRET_ACCESS_KEY").is_some());
        assert!(reserved_env("ORCHGEN_TABLE_ORDERS").is_some());
        assert!(reserved_env("TZ").is_some());
        assert_eq!(reserved_env("PAYMENTS_TOKEN"), None);
    }

    #[test]
    fn a_missing_secret_names_the_reference_not_a_value() {
        let e = expand_from_env("${env:ORCHGEN_TEST_SURELY_UNSET_VARIABLE}").unwrap_err();
        assert_eq!(e.to_string(), "the secret ${env:ORCHGEN_TEST_SURELY_UNSET_VARIABLE} is not set");
    }
}
