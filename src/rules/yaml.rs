//! A small YAML tree that remembers the line of every node.
//!
//! Rule errors must point at a line, so rules are read through yaml-rust2's event parser into
//! this tree instead of a serde model that forgets positions. Scalars keep whether they were
//! quoted, because Sigma gives plain `null`, `true` and numbers their YAML types.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A parsed YAML node with its 1-based source line.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: u32,
    pub kind: NodeKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar: its text and whether it was written without quotes (plain).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error with its line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    pub line: u32,
    pub message: String,
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
    /// True for a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true }
            if text.is_empty() || text == "null" || text == "~" || text == "Null" || text == "NULL")
    }
    /// Looks a key up in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            NodeKind::Map(entries) => entries,
            _ => &[],
        }
    }
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// Parses every document of a YAML stream (rule files may hold several, separated by `---`).
pub fn parse_documents(src: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        line: e.marker().line() as u32,
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.docs)
}

enum Frame {
    Seq(Node, usize),
    Map(Node, usize, Option<Node>),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    /// Nodes copied by alias expansion so far, over the whole stream.
    alias_nodes: usize,
    error: Option<YamlError>,
}

/// Deeply nested or alias-expanded documents are refused so that a hostile rule file cannot
/// exhaust memory (the "billion laughs" pattern).
const MAX_DEPTH: usize = 64;
const MAX_NODES_FROM_ALIASES: usize = 100_000;

impl Builder {
    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(seq, _)) => {
                if let NodeKind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, _, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let NodeKind::Map(entries) = &mut map.kind {
                        if entries
                            .iter()
                            .any(|(k, _)| k.as_str().is_some() && k.as_str() == key.as_str())
                        {
                            self.error.get_or_insert(YamlError {
                                line: key.line,
                                message: format!(
                                    "duplicate key '{}'; remove one of them",
                                    key.as_str().unwrap_or_default()
                                ),
                            });
                        }
                        entries.push((key, node));
                    }
                }
            },
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn fail(&mut self, line: usize, message: &str) {
        self.error.get_or_insert(YamlError {
            line: line as u32,
            message: message.to_string(),
        });
    }
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(e) => {
            1 + e
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line() as u32;
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain && !is_str_tag(&tag);
                let node = Node {
                    line,
                    kind: NodeKind::Scalar { text, plain },
                };
                self.remember(anchor, &node);
                self.push_node(node);
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(mark.line(), "nesting too deep");
                }
                let node = Node {
                    line,
                    kind: NodeKind::Seq(Vec::new()),
                };
                self.stack.push(Frame::Seq(node, anchor));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(mark.line(), "nesting too deep");
                }
                let node = Node {
                    line,
                    kind: NodeKind::Map(Vec::new()),
                };
                self.stack.push(Frame::Map(node, anchor, None));
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(node, anchor)) | Some(Frame::Map(node, anchor, _)) => {
                    self.remember(anchor, &node);
                    self.push_node(node);
                }
                None => self.fail(mark.line(), "unbalanced collection end"),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    self.alias_nodes += count_nodes(node);
                    if self.alias_nodes > MAX_NODES_FROM_ALIASES {
                        return self.fail(mark.line(), "aliases expand to too many nodes");
                    }
                    let node = node.clone();
                    self.push_node(node)
                }
                None => self.fail(mark.line(), "alias to an unknown anchor"),
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

fn is_str_tag(tag: &Option<Tag>) -> bool {
    tag.as_ref().is_some_and(|t| t.suffix == "str")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_quoting_are_kept() {
        let docs = parse_documents("a: 1\nb:\n  - 'x'\n  - null\n---\nc: d\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        let NodeKind::Seq(items) = &b.kind else {
            panic!()
        };
        assert_eq!(items[0].line, 3);
        assert_eq!(
            items[0].kind,
            NodeKind::Scalar {
                text: "x".into(),
                plain: false
            }
        );
        assert!(items[1].is_null());
        assert_eq!(docs[1].get("c").unwrap().line, 6);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            src.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(parse_documents(&src).is_err());
    }

    #[test]
    fn syntax_errors_have_lines() {
        let e = parse_documents("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.line >= 1);
    }
}
