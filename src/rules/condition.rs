//! The Sigma condition grammar: `and`, `or`, `not`, parentheses, `1 of` / `all of` a
//! selection pattern or `them`. A pure parser from text to [`Expr`] (fuzzed), plus the
//! resolution of names and patterns against a rule's selections.
//!
//! Precedence, highest first: `not`, `and`, `or`; keywords are case-insensitive.

/// A parsed condition, before names are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Name(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `1 of pattern` (`any == true`) or `all of pattern`; pattern `None` is `them`.
    Of {
        all: bool,
        pattern: Option<String>,
    },
}

/// A condition syntax error: what was wrong and at which byte offset of the condition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("condition, column {}: {message}", .offset + 1)]
pub struct ConditionError {
    pub offset: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    LParen,
    RParen,
    Pipe,
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok<'_>)>, ConditionError> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((i, Tok::LParen));
                i += 1
            }
            b')' => {
                out.push((i, Tok::RParen));
                i += 1
            }
            b'|' => {
                out.push((i, Tok::Pipe));
                i += 1
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'(' | b')' | b'|')
                {
                    i += 1;
                }
                out.push((start, Tok::Word(&src[start..i])));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok<'a>)>,
    pos: usize,
    end: usize,
    depth: usize,
}

/// Parentheses deeper than this are refused (the parser is recursive).
const MAX_DEPTH: usize = 128;

fn is_kw(w: &str, kw: &str) -> bool {
    w.eq_ignore_ascii_case(kw)
}

fn is_reserved(w: &str) -> bool {
    ["and", "or", "not", "of", "them", "all"]
        .iter()
        .any(|k| is_kw(w, k))
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Tok<'a>> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.pos).map(|(o, _)| *o).unwrap_or(self.end)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ConditionError> {
        Err(ConditionError {
            offset: self.offset(),
            message: message.into(),
        })
    }
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if is_kw(w, kw))
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut items = vec![self.and()?];
        while self.peek_kw("or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut items = vec![self.unary()?];
        while self.peek_kw("and") {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        // Iterative so that a long run of `not`s cannot overflow the stack; pairs cancel.
        let mut nots = 0usize;
        while self.peek_kw("not") {
            self.pos += 1;
            nots += 1;
        }
        let e = self.primary()?;
        Ok(if nots % 2 == 1 {
            Expr::Not(Box::new(e))
        } else {
            e
        })
    }

    fn primary(&mut self) -> Result<Expr, ConditionError> {
        match self.peek().cloned() {
            None => self.err("expected a selection name, `not`, `1 of`, `all of` or `(`"),
            Some(Tok::LParen) => {
                if self.depth >= MAX_DEPTH {
                    return self.err("parentheses nested too deeply");
                }
                self.depth += 1;
                self.pos += 1;
                let e = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("expected `)`");
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(e)
            }
            Some(Tok::RParen) => self.err("unexpected `)`"),
            Some(Tok::Pipe) => self.err(
                "aggregation (`| count() ...`) is the deprecated Sigma 1 syntax; write a correlation rule (event_count / value_count) instead",
            ),
            Some(Tok::Word(w)) => {
                let quant = if is_kw(w, "all") {
                    Some(true)
                } else if w.parse::<u64>().is_ok() {
                    if w != "1" {
                        return self.err(format!(
                            "`{w} of` is not Sigma; use `1 of` or `all of`"
                        ));
                    }
                    Some(false)
                } else if is_kw(w, "any") {
                    Some(false)
                } else {
                    None
                };
                if let Some(all) = quant {
                    self.pos += 1;
                    if !self.peek_kw("of") {
                        return self.err(format!("expected `of` after `{w}`"));
                    }
                    self.pos += 1;
                    return match self.peek().cloned() {
                        Some(Tok::Word(p)) if is_kw(p, "them") => {
                            self.pos += 1;
                            Ok(Expr::Of { all, pattern: None })
                        }
                        Some(Tok::Word(p)) if !is_reserved(p) => {
                            self.pos += 1;
                            Ok(Expr::Of {
                                all,
                                pattern: Some(p.to_string()),
                            })
                        }
                        _ => self.err("expected a selection name pattern or `them` after `of`"),
                    };
                }
                if is_reserved(w) || is_kw(w, "near") {
                    return self.err(format!("unexpected `{w}`"));
                }
                self.pos += 1;
                Ok(Expr::Name(w.to_string()))
            }
        }
    }
}

/// Parses a condition.
pub fn parse(src: &str) -> Result<Expr, ConditionError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: src.len(),
        depth: 0,
    };
    let e = p.or()?;
    match p.peek() {
        None => Ok(e),
        Some(Tok::Pipe) => p.err(
            "aggregation (`| count() ...`) is the deprecated Sigma 1 syntax; write a correlation rule (event_count / value_count) instead",
        ),
        Some(Tok::Word(w)) if is_kw(w, "near") => {
            p.err("`near` is the deprecated Sigma 1 syntax; write a temporal correlation rule instead")
        }
        Some(_) => p.err("expected `and`, `or` or the end of the condition"),
    }
}

/// Matches a selection name against a pattern with `*` wildcards (`selection_*`).
/// Linear backtracking to the last star: hostile patterns (`****...`) cannot blow up.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// A condition with names resolved to selection indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    Sel(u32),
    Not(Box<Resolved>),
    And(Vec<Resolved>),
    Or(Vec<Resolved>),
    Const(bool),
}

/// Resolves names and patterns against `names` (the rule's selections, in order).
/// Sigma excludes selections starting with `_` from `them`.
pub fn resolve(e: &Expr, names: &[&str]) -> Result<Resolved, String> {
    Ok(match e {
        Expr::Name(n) => match names.iter().position(|s| s == n) {
            Some(i) => Resolved::Sel(i as u32),
            None => {
                let near = names
                    .iter()
                    .map(|s| (super::modifier::edit_distance(n, s), *s))
                    .filter(|(d, _)| *d <= 2)
                    .min()
                    .map(|(_, s)| format!("; did you mean '{s}'?"))
                    .unwrap_or_default();
                return Err(format!(
                    "condition names '{n}', which is not a selection of this rule{near}"
                ));
            }
        },
        Expr::Not(x) => Resolved::Not(Box::new(resolve(x, names)?)),
        Expr::And(xs) => Resolved::And(
            xs.iter()
                .map(|x| resolve(x, names))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Or(xs) => Resolved::Or(
            xs.iter()
                .map(|x| resolve(x, names))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Of { all, pattern } => {
            let sel: Vec<Resolved> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| match pattern {
                    None => !n.starts_with('_'),
                    Some(p) => name_matches(p, n),
                })
                .map(|(i, _)| Resolved::Sel(i as u32))
                .collect();
            if sel.is_empty() {
                return Err(format!(
                    "`of {}` matches no selection of this rule",
                    pattern.as_deref().unwrap_or("them")
                ));
            }
            if *all {
                Resolved::And(sel)
            } else {
                Resolved::Or(sel)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Expr {
        Expr::Name(s.into())
    }

    #[test]
    fn precedence_not_and_or() {
        let e = parse("a or b and not c").unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                n("a"),
                Expr::And(vec![n("b"), Expr::Not(Box::new(n("c")))])
            ])
        );
        let e = parse("(a or b) and c").unwrap();
        assert_eq!(e, Expr::And(vec![Expr::Or(vec![n("a"), n("b")]), n("c")]));
    }

    #[test]
    fn of_forms() {
        assert_eq!(
            parse("1 of selection_* and not all of filter*").unwrap(),
            Expr::And(vec![
                Expr::Of {
                    all: false,
                    pattern: Some("selection_*".into())
                },
                Expr::Not(Box::new(Expr::Of {
                    all: true,
                    pattern: Some("filter*".into())
                }))
            ])
        );
        assert_eq!(
            parse("ALL OF them").unwrap(),
            Expr::Of {
                all: true,
                pattern: None
            }
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("a and (b or c").unwrap_err();
        assert_eq!(e.offset, 13);
        assert!(parse("a | count() > 5")
            .unwrap_err()
            .message
            .contains("correlation"));
        assert!(parse("2 of x").is_err());
        assert!(parse("a b").is_err());
        assert!(parse("").is_err());
        assert!(parse("not").is_err());
    }

    #[test]
    fn resolution() {
        let names = ["selection_a", "selection_b", "filter", "_hidden"];
        let e = parse("1 of selection_* and not filter").unwrap();
        assert_eq!(
            resolve(&e, &names).unwrap(),
            Resolved::And(vec![
                Resolved::Or(vec![Resolved::Sel(0), Resolved::Sel(1)]),
                Resolved::Not(Box::new(Resolved::Sel(2)))
            ])
        );
        let them = resolve(&parse("all of them").unwrap(), &names).unwrap();
        assert_eq!(
            them,
            Resolved::And(vec![Resolved::Sel(0), Resolved::Sel(1), Resolved::Sel(2)])
        );
        let err = resolve(&parse("filtr").unwrap(), &names).unwrap_err();
        assert!(err.contains("did you mean 'filter'"));
    }

    #[test]
    fn wildcard_names() {
        assert!(name_matches("selection_*", "selection_a"));
        assert!(name_matches("*", "x"));
        assert!(name_matches("a*b*c", "axxbyyc"));
        assert!(!name_matches("a*b*c", "axxbyy"));
        assert!(!name_matches("sel", "selection"));
        assert!(name_matches(&"*".repeat(5000), "selection"));
        assert!(!name_matches(&("*a".repeat(2000) + "b"), &"a".repeat(50)));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let s = "(".repeat(10_000) + "a" + &")".repeat(10_000);
        assert!(parse(&s).is_err());
        let s = "not ".repeat(100_000) + "a";
        let _ = parse(&s);
    }
}
