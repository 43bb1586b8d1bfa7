//! YAML text → a tree of [`Node`]s that remember where they were written.
//!
//! Built on saphyr-parser's event stream (YAML 1.2), so every value and every key keeps its span.
//! The loader is iterative and bounded: nesting deeper than [`MAX_DEPTH`], more than [`MAX_NODES`]
//! nodes (aliases included, which defuses "billion laughs"), several documents, or a syntax error
//! each stop it with a located [`Diagnostic`]. Duplicate keys are reported and loading goes on.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span};

/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a file may expand to, aliases expanded.
pub const MAX_NODES: usize = 200_000;

/// A value with its place in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value was written.
    pub span: Span,
    /// The value.
    pub value: NodeValue,
}

/// The kinds of YAML value (core schema).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Where the key was written.
    pub span: Span,
    /// The key's text.
    pub text: String,
}

impl Node {
    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key `key` when this is a mapping.
    pub fn key(&self, key: &str) -> Option<&Key> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.text == key).map(|(k, _)| k),
            _ => None,
        }
    }

    /// The node at a JSON pointer (`/steps/0/kind`), if there is one.
    pub fn pointer(&self, pointer: &str) -> Option<&Node> {
        let mut node = self;
        if pointer.is_empty() {
            return Some(node);
        }
        for raw in pointer.strip_prefix('/')?.split('/') {
            let token = raw.replace("~1", "/").replace("~0", "~");
            node = match &node.value {
                NodeValue::Map(_) => node.get(&token)?,
                NodeValue::Seq(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// A short name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) | NodeValue::Float(_) => "a number",
            NodeValue::String(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// The tree as JSON (what the schema check and serde see).
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::Number((*i).into()),
            NodeValue::Float(f) => Number::from_f64(*f).map_or_else(|| Value::String(f.to_string()), Value::Number),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.entry(k.text.clone()).or_insert_with(|| v.to_json());
                }
                Value::Object(map)
            }
        }
    }

    fn count(&self) -> usize {
        1 + match &self.value {
            NodeValue::Seq(items) => items.iter().map(Node::count).sum(),
            NodeValue::Map(entries) => entries.iter().map(|(_, v)| 1 + v.count()).sum(),
            _ => 0,
        }
    }
}

/// The result of loading: the root node (unless loading had to stop) and every problem found.
#[derive(Debug)]
pub struct Loaded {
    /// The document's root, `None` when the file is empty or a problem stopped the loader.
    pub root: Option<Node>,
    /// Problems, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

enum Frame {
    Seq { start: usize, anchor: usize, items: Vec<Node> },
    Map { start: usize, anchor: usize, entries: Vec<(Key, Node)>, key: Option<Key>, seen: HashMap<String, Span> },
}

struct Loader<'a> {
    source: &'a SourceFile,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    diagnostics: Vec<Diagnostic>,
    root: Option<Node>,
    /// The line, column and byte offset of the last marker converted (see [`Loader::offset`]).
    cursor: Cell<(usize, usize, usize)>,
}

/// Loads the single YAML document of `source`.
pub fn load(source: &SourceFile) -> Loaded {
    let mut loader = Loader {
        source,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        diagnostics: Vec::new(),
        root: None,
        cursor: Cell::new((0, 0, 0)),
    };
    let stopped = loader.run().is_err();
    let root = if stopped { None } else { loader.root };
    Loaded { root, diagnostics: loader.diagnostics }
}

/// Stop loading: the problem is already recorded.
struct Stop;

impl Loader<'_> {
    fn span(&self, s: saphyr_parser::Span) -> Span {
        let start = self.offset(s.start);
        let end = self.offset(s.end);
        Span::new(start, end)
    }

    /// The byte offset of a marker. Events come in source order, so the walk over a non-ASCII line's
    /// characters goes on from the last marker on the same line instead of from the line's start:
    /// a long line costs its length once, not once per value on it.
    fn offset(&self, m: saphyr_parser::Marker) -> usize {
        let (line, col, byte) = self.cursor.get();
        let text = self.source.text();
        let at = if m.line() == line && m.col() >= col && byte <= text.len() {
            let (mut at, mut left) = (byte, m.col() - col);
            for c in text[byte..].chars() {
                if left == 0 || c == '\n' {
                    break;
                }
                at += c.len_utf8();
                left -= 1;
            }
            at
        } else {
            self.source.offset(m.line(), m.col())
        };
        self.cursor.set((m.line(), m.col(), at));
        at
    }

    fn stop(&mut self, diagnostic: Diagnostic) -> Result<(), Stop> {
        self.diagnostics.push(diagnostic);
        Err(Stop)
    }

    fn run(&mut self) -> Result<(), Stop> {
        let mut documents = 0;
        for event in Parser::new_from_str(self.source.text()) {
            let (event, raw_span) = match event {
                Ok(e) => e,
                Err(e) => {
                    let m = e.marker();
                    let mut at = self.source.offset(m.line(), m.col());
                    if mentions_tab(e.info()) {
                        at = offending_tab(self.source.text(), at).unwrap_or(at);
                    }
                    let end = self.source.text()[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                    if e.info().contains("recursion limit") {
                        return self.stop(too_deep(Span::new(at, end)));
                    }
                    let (message, help) = describe_scan_error(e.info());
                    let mut diagnostic = Diagnostic::error("orchgen::yaml-syntax", message, Span::new(at, end), "here")
                        .with_optional_help(help);
                    if let Some((open, close)) = self.unclosed_flow(at) {
                        // At the end of the file the snippet has nothing to point at: show the opening bracket.
                        diagnostic = diagnostic
                            .with_related(open, "opened here, never closed")
                            .with_help(format!("add the closing `{close}`"));
                    }
                    return self.stop(diagnostic);
                }
            };
            let span = self.span(raw_span);
            match event {
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return self.stop(
                            Diagnostic::error(
                                "orchgen::yaml-documents",
                                "a pipeline file holds one YAML document, this one has more",
                                span,
                                "a second document starts here",
                            )
                            .with_help("put each pipeline in its own file"),
                        );
                    }
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let forced_string = tag.as_ref().is_some_and(|t| t.suffix == "str");
                    let value = scalar_value(text, style, forced_string);
                    let node = Node { span, value };
                    self.finish(node, anchor)?;
                }
                Event::Alias(id) => {
                    let Some(node) = self.anchors.get(&id).cloned() else {
                        return self.stop(Diagnostic::error(
                            "orchgen::yaml-alias",
                            "this alias refers to an anchor that is not defined before it",
                            span,
                            "unknown anchor",
                        ));
                    };
                    let node = Node { span, value: node.value };
                    self.count(node.count(), span)?;
                    self.finish_counted(node, 0)?;
                }
                Event::SequenceStart(anchor, _) => {
                    self.open(span)?;
                    self.stack.push(Frame::Seq { start: span.start, anchor, items: Vec::new() });
                }
                Event::MappingStart(anchor, _) => {
                    self.open(span)?;
                    self.stack.push(Frame::Map {
                        start: span.start,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                        seen: HashMap::new(),
                    });
                }
                Event::SequenceEnd => {
                    if let Some(Frame::Seq { start, anchor, items }) = self.stack.pop() {
                        let end =
                            items.last().map_or(span.end.max(start), |n| n.span.end.max(span.end.min(n.span.end)));
                        let node = Node { span: Span::new(start, end), value: NodeValue::Seq(items) };
                        self.finish_counted(node, anchor)?;
                    }
                }
                Event::MappingEnd => {
                    if let Some(Frame::Map { start, anchor, entries, .. }) = self.stack.pop() {
                        let end = entries.last().map_or(span.end.max(start), |(_, n)| n.span.end);
                        let node = Node { span: Span::new(start, end), value: NodeValue::Map(entries) };
                        self.finish_counted(node, anchor)?;
                    }
                }
            }
        }
        if documents == 0 || self.root.is_none() {
            self.diagnostics.push(
                Diagnostic::file_error("orchgen::empty", "the pipeline file is empty")
                    .with_help("start from `orchgen init`, or declare at least `name:` and `steps:`"),
            );
        }
        Ok(())
    }

    /// When the error is at the end of the text, the innermost flow collection (`[` or `{`) still
    /// open, and the bracket that would close it.
    fn unclosed_flow(&self, at: usize) -> Option<(Span, char)> {
        let text = self.source.text();
        if !text.get(at..).is_some_and(|rest| rest.trim().is_empty()) {
            return None;
        }
        self.stack.iter().rev().find_map(|frame| {
            let start = match frame {
                Frame::Seq { start, .. } | Frame::Map { start, .. } => *start,
            };
            match text[start..].chars().next() {
                Some('[') => Some((Span::new(start, start + 1), ']')),
                Some('{') => Some((Span::new(start, start + 1), '}')),
                _ => None,
            }
        })
    }

    fn open(&mut self, span: Span) -> Result<(), Stop> {
        self.count(1, span)?;
        if self.stack.len() >= MAX_DEPTH {
            return self.stop(too_deep(span));
        }
        Ok(())
    }

    fn count(&mut self, n: usize, span: Span) -> Result<(), Stop> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return self.stop(
                Diagnostic::error(
                    "orchgen::yaml-size",
                    format!("the YAML expands to more than {MAX_NODES} values (aliases included)"),
                    span,
                    "the limit is passed here",
                )
                .with_help(
                    "aliases that refer to aliases grow exponentially (\"billion laughs\"); write the values out",
                ),
            );
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Stop> {
        self.count(1, node.span)?;
        self.finish_counted(node, anchor)
    }

    fn finish_counted(&mut self, node: Node, anchor: usize) -> Result<(), Stop> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, seen, .. }) => match key.take() {
                Some(k) => {
                    entries.push((k, node));
                }
                None => {
                    let text = match &node.value {
                        NodeValue::String(s) => s.clone(),
                        NodeValue::Int(i) => i.to_string(),
                        NodeValue::Float(f) => f.to_string(),
                        NodeValue::Bool(b) => b.to_string(),
                        NodeValue::Null => "null".to_owned(),
                        NodeValue::Seq(_) | NodeValue::Map(_) => {
                            let d = Diagnostic::error(
                                "orchgen::yaml-key",
                                "a mapping key must be plain text, not a list or mapping",
                                node.span,
                                "complex key",
                            );
                            return self.stop(d);
                        }
                    };
                    if let Some(first) = seen.get(&text).copied() {
                        self.diagnostics.push(
                            Diagnostic::error(
                                "orchgen::duplicate-key",
                                format!("the key `{text}` appears twice in the same mapping"),
                                node.span,
                                "duplicate key",
                            )
                            .with_related(first, "first defined here")
                            .with_help("remove one of them; YAML would silently keep only one"),
                        );
                    } else {
                        seen.insert(text.clone(), node.span);
                    }
                    *key = Some(Key { span: node.span, text });
                }
            },
        }
        Ok(())
    }
}

fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::error(
        "orchgen::yaml-depth",
        format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
        span,
        "too deep",
    )
    .with_help("a pipeline needs a handful of levels; this is likely generated or corrupt input")
}

fn scalar_value(text: Cow<'_, str>, style: ScalarStyle, forced_string: bool) -> NodeValue {
    if style != ScalarStyle::Plain || forced_string {
        return NodeValue::String(text.into_owned());
    }
    let t = text.as_ref();
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return NodeValue::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(t) {
        return NodeValue::Int(i);
    }
    if is_float(t)
        && let Ok(f) = t.parse::<f64>()
    {
        return NodeValue::Float(f);
    }
    NodeValue::String(text.into_owned())
}

fn parse_int(t: &str) -> Option<i64> {
    if let Some(hex) = t.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn is_float(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_ok = {
        let mut parts = mantissa.splitn(2, '.');
        let whole = parts.next().unwrap_or("");
        let frac = parts.next();
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        digits(whole) && frac.is_none_or(digits) && (!whole.is_empty() || frac.is_some_and(|f| !f.is_empty()))
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some())
}

/// Whether a scanner message is about a tab character (not merely containing "tab", like "unprintable").
fn mentions_tab(info: &str) -> bool {
    info.to_ascii_lowercase().split(|c: char| !c.is_ascii_alphabetic()).any(|w| w == "tab" || w == "tabs")
}

/// The tab a tab error is about. The scanner reports some at the tab, some just after the tabs of an
/// indentation, and some at the start of the plain scalar it was reading, a line or more before the
/// tab; the culprit is then the first tab in the indentation of a non-blank line from the marker's on.
fn offending_tab(text: &str, at: usize) -> Option<usize> {
    if text[at..].starts_with('\t') {
        return Some(at);
    }
    let mut start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    for line in text[start..].split('\n') {
        let rest = line.trim_start_matches([' ', '\t']);
        let indent = &line[..line.len() - rest.len()];
        if !rest.trim_end_matches('\r').is_empty()
            && let Some(i) = indent.find('\t')
        {
            return Some(start + i);
        }
        start += line.len() + 1;
    }
    None
}

/// A readable message and help for a scanner error.
fn describe_scan_error(info: &str) -> (String, Option<String>) {
    let lower = info.to_ascii_lowercase();
    if mentions_tab(info) {
        (
            format!("YAML syntax error: {info}"),
            Some("YAML indents with spaces; replace the tab characters with spaces".to_owned()),
        )
    } else if lower.contains("quoted scalar")
        || lower.contains("unclosed")
        || lower.contains("end of stream") && lower.contains("quot")
    {
        (format!("YAML syntax error: {info}"), Some("a quoted string is not closed; add the closing quote".to_owned()))
    } else if lower.contains("mapping values are not allowed")
        || lower.contains("did not find expected key")
        || lower.contains("block")
    {
        (
            format!("YAML syntax error: {info}"),
            Some("check the indentation: keys of one mapping line up in the same column".to_owned()),
        )
    } else {
        (format!("YAML syntax error: {info}"), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Loaded {
        load(&SourceFile::new("t.yaml", text))
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let loaded = load_str("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: text\ng: 1e3\nh: 0x1f\n");
        let json = loaded.root.unwrap().to_json();
        assert_eq!(
            json,
            serde_json::json!({"a": 1, "b": 1.5, "c": true, "d": null, "e": "1", "f": "text", "g": 1000.0, "h": 31})
        );
    }

    #[test]
    fn keys_and_values_keep_their_spans() {
        let text = "name: orders\nsteps:\n  - kind: validate\n";
        let root = load_str(text).root.unwrap();
        let kind = root.pointer("/steps/0/kind").unwrap();
        assert_eq!(&text[kind.span.start..kind.span.end], "validate");
        let key = root.key("steps").unwrap();
        assert_eq!(&text[key.span.start..key.span.end], "steps");
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_places() {
        let loaded = load_str("name: a\nname: b\n");
        assert_eq!(loaded.diagnostics.len(), 1);
        assert_eq!(loaded.diagnostics[0].code, "orchgen::duplicate-key");
        assert_eq!(loaded.diagnostics[0].related.len(), 1);
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let loaded = load_str(&text);
        assert!(loaded.root.is_none());
        assert_eq!(loaded.diagnostics[0].code, "orchgen::yaml-size");
    }

    #[test]
    fn deep_nesting_is_stopped() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let loaded = load_str(&text);
        assert!(loaded.root.is_none());
        assert_eq!(loaded.diagnostics[0].code, "orchgen::yaml-depth");
    }

    #[test]
    fn empty_and_comment_only_files_are_empty() {
        for text in ["", "# nothing\n"] {
            let loaded = load_str(text);
            assert!(loaded.diagnostics.iter().any(|d| d.code == "orchgen::empty"), "{text:?}");
        }
        let loaded = load_str("---\n");
        assert_eq!(loaded.root.map(|r| r.value), Some(NodeValue::Null));
    }
}
