//! Secret references in pipeline values: `${env:NAME}`.
//!
//! An `http` step's header values and its signing key may reference secrets. The plan, the
//! template, the logs and the dashboard hold only the reference; the value is read from the
//! process environment when the request is made (`orchgen dev`'s environment locally; on AWS, the
//! step function's environment, which `orchgen deploy` fills from NoEcho stack parameters).
//!
//! Syntax: `${env:NAME}` with `NAME` made of `A-Z`, `0-9` and `_`, not starting with a digit;
//! `$${` writes a literal `${`. Any other `${…}` is an error, so that a typo never reaches a
//! provider as text.
//!
//! No feature needed.

use std::fmt;

/// A reference to a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `${env:NAME}`: the environment variable `NAME`.
    Env(String),
}

impl SecretRef {
    /// The environment variable holding the secret.
    pub fn name(&self) -> &str {
        match self {
            SecretRef::Env(name) => name,
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "${{env:{name}}}"),
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
                help: "write `${env:NAME}`, or `$${` for a literal `${`".to_owned(),
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
            Some((scheme @ ("ssm" | "secretsmanager"), _)) => {
                return Err(SyntaxError {
                    offset: start,
                    len,
                    message: format!("`${{{scheme}:…}}` secrets are not supported yet"),
                    help: "use `${env:NAME}`: `orchgen dev` reads it from its environment, `orchgen deploy` passes it \
                           to the step's function as a NoEcho stack parameter"
                        .to_owned(),
                });
            }
            _ => {
                return Err(SyntaxError {
                    offset: start,
                    len,
                    message: format!("`${{{inner}}}` is not a secret reference"),
                    help: "write `${env:NAME}`, or `$${` for a literal `${`".to_owned(),
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

/// `value` with each reference replaced from the process environment.
pub fn expand_from_env(value: &str) -> Result<String, ExpandError> {
    expand(value, |r| match r {
        SecretRef::Env(name) => std::env::var(name).ok(),
    })
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
        let lookup = |r: &SecretRef| (r.name() == "TOKEN").then(|| "s3cr3t".to_owned());
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
        let e = references("${ssm:/shop/key}").unwrap_err();
        assert!(e.message.contains("not supported yet"), "{e}");
        let e = references("${env:A").unwrap_err();
        assert!(e.message.contains("not closed"), "{e}");
        let e = references("${TOKEN}").unwrap_err();
        assert!(e.message.contains("`${TOKEN}` is not a secret reference"), "{e}");
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
