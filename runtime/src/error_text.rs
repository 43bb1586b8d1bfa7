//! An error as one line of text with its causes, for errors that are not the AWS SDK's (those are
//! printed with the SDK's `DisplayErrorContext`, which adds the error's `Debug` form: right for an
//! SDK error's metadata, noise in a message about an unreachable URL). No feature needed.

/// `error` and its sources, `: `-separated; a source whose text an earlier part already holds is
/// left out (reqwest's and hyper's errors repeat their cause in their own text).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn causes_follow_the_error_once_each() {
        let io = Layer("connection refused", None);
        let connect = Layer("tcp connect error: connection refused", Some(Box::new(io)));
        let top = Layer("error sending request", Some(Box::new(connect)));
        assert_eq!(error_chain(&top), "error sending request: tcp connect error: connection refused");
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}
