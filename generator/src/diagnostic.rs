//! Located problems found in a pipeline file, and how they are shown.
//!
//! Every check (YAML syntax, schema, semantics) produces [`Diagnostic`]s; a [`Report`] gathers all of
//! them so the user sees every problem at once. They render as miette reports (a snippet with labels,
//! `file:line:col`, help) or as JSON for tools.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

use crate::source::{SourceFile, Span};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The pipeline cannot be used.
    Error,
    /// The pipeline works but probably not as meant.
    Warning,
}

/// A marked place in the source with a short text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What is there.
    pub text: String,
}

/// One problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, e.g. `orchgen::unknown-key`.
    pub code: &'static str,
    /// One sentence saying what is wrong.
    pub message: String,
    /// The main place; `None` for problems of the whole file.
    pub primary: Option<Label>,
    /// Other places that explain the problem (e.g. the first of two duplicate keys).
    pub related: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Some(Label { span, text: label.into() }),
            related: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message, span, label) }
    }

    /// An error about the whole file.
    pub fn file_error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: None,
            related: Vec::new(),
            help: None,
        }
    }

    /// Adds help.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds help when there is some.
    pub fn with_optional_help(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Adds a related place.
    pub fn with_related(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.related.push(Label { span, text: text.into() });
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// All the problems of one file, in source order.
#[derive(Debug, Clone)]
pub struct Report {
    source: SourceFile,
    diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// A report of `diagnostics` on `source`, sorted by position (errors before warnings at a tie).
    pub fn new(source: SourceFile, mut diagnostics: Vec<Diagnostic>) -> Report {
        diagnostics.sort_by_key(|d| (d.primary.as_ref().map_or(0, |l| l.span.start), d.severity));
        diagnostics.dedup();
        Report { source, diagnostics }
    }

    /// The file and the problems, to add more.
    pub fn into_parts(self) -> (SourceFile, Vec<Diagnostic>) {
        (self.source, self.diagnostics)
    }

    /// The file.
    pub fn source(&self) -> &SourceFile {
        &self.source
    }

    /// The problems.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    /// Whether there is at least one error.
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// Renders every problem as a miette report with snippets, without colours, `width` columns wide.
    pub fn render(&self, width: usize) -> String {
        let handler =
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(width).with_links(false);
        let named = NamedSource::new(self.source.name(), self.source.text().to_owned());
        let mut out = String::new();
        for diagnostic in &self.diagnostics {
            let shown = Shown { diagnostic, source: &named, file: &self.source };
            if self.line_too_long(diagnostic) {
                out.push_str(&shown.plain());
            } else if handler.render_report(&mut out, &shown).is_err() {
                out.push_str(&format!("{}: {}\n", shown.location(), diagnostic.message));
            }
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// Whether the snippet of a diagnostic would show a line too long to read (minified or binary input).
    fn line_too_long(&self, diagnostic: &Diagnostic) -> bool {
        const LONGEST_SNIPPET_LINE: usize = 400;
        let Some(label) = &diagnostic.primary else { return false };
        self.source.line_span(label.span.start).len() > LONGEST_SNIPPET_LINE
    }

    /// One line: how many errors and warnings.
    pub fn summary(&self) -> String {
        let (e, w) = (self.error_count(), self.warning_count());
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        if e == 0 && w == 0 {
            format!("{}: valid", self.source.name())
        } else {
            format!("{}: {}, {}", self.source.name(), plural(e, "error"), plural(w, "warning"))
        }
    }

    /// The problems as JSON values (what `--format json` prints).
    pub fn to_json(&self) -> serde_json::Value {
        let items: Vec<_> = self
            .diagnostics
            .iter()
            .map(|d| {
                let (start, end) = match &d.primary {
                    Some(l) => (Some(self.source.position(l.span.start)), Some(self.source.position(l.span.end))),
                    None => (None, None),
                };
                serde_json::json!({
                    "severity": d.severity,
                    "code": d.code,
                    "message": d.message,
                    "file": self.source.name(),
                    "line": start.map(|p| p.line),
                    "column": start.map(|p| p.column),
                    "end_line": end.map(|p| p.line),
                    "end_column": end.map(|p| p.column),
                    "label": d.primary.as_ref().map(|l| l.text.clone()),
                    "help": d.help,
                })
            })
            .collect();
        serde_json::json!({
            "file": self.source.name(),
            "valid": !self.has_errors(),
            "errors": self.error_count(),
            "warnings": self.warning_count(),
            "diagnostics": items,
        })
    }
}

/// A diagnostic as miette sees it.
struct Shown<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a NamedSource<String>,
    file: &'a SourceFile,
}

impl Shown<'_> {
    fn location(&self) -> String {
        match &self.diagnostic.primary {
            Some(l) => {
                let p = self.file.position(l.span.start);
                format!("{}:{}:{}", self.file.name(), p.line, p.column)
            }
            None => self.file.name().to_owned(),
        }
    }
}

impl Shown<'_> {
    /// The diagnostic without a snippet.
    fn plain(&self) -> String {
        let d = self.diagnostic;
        let word = if d.is_error() { "error" } else { "warning" };
        let mut s =
            format!("{}\n\n  × {word}: {}\n   ╰─[{}] (line too long to show)\n", d.code, d.message, self.location());
        if let Some(help) = &d.help {
            s.push_str(&format!("  help: {help}\n"));
        }
        s.push('\n');
        s
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.diagnostic.primary.is_none() {
            write!(f, "{}: ", self.file.name())?;
        }
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Shown<'_> {}

impl miette::Diagnostic for Shown<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.diagnostic.primary.as_ref().map(|_| self.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = self.diagnostic.primary.as_ref()?;
        let to_span = |s: Span| SourceSpan::new(s.start.into(), s.len());
        let first = LabeledSpan::new_primary_with_span(Some(primary.text.clone()), to_span(primary.span));
        let rest = self
            .diagnostic
            .related
            .iter()
            .map(move |l| LabeledSpan::new_with_span(Some(l.text.clone()), to_span(l.span)));
        Some(Box::new(std::iter::once(first).chain(rest)))
    }
}
