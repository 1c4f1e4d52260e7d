//! `filter`'s `matches` patterns: the `regex` crate's syntax, compiled when the config
//! loads into a DFA of bounded size, so testing a value costs one table lookup per byte
//! of it whatever the pattern (a backtracking or Pike VM engine costs the pattern's size
//! per byte). A pattern whose NFA would pass [`MAX_NFA_BYTES`] or whose DFA would pass
//! [`MAX_DFA_BYTES`] is refused at load.
//!
//! `\d`, `\s`, `\w` and `\b` are ASCII (as regex-lite, the engine before, had them;
//! their Unicode forms would multiply DFA sizes); `.` and `[^…]` match one character;
//! `(?i)` folds Unicode case; `\p{…}` classes are refused.

use regex_automata::Input;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_syntax::ast::{self, Ast, ClassSet, ClassSetItem};

/// The most memory one pattern's DFA may take.
pub const MAX_DFA_BYTES: usize = 512 * 1024;

/// The most memory one pattern's NFA may take: it bounds the work of building the DFA
/// (each DFA state is a set of NFA states), which happens once per isolate.
pub const MAX_NFA_BYTES: usize = 32 * 1024;

/// A compiled `matches` pattern (boxed: a DFA's header is 800 bytes).
#[derive(Debug)]
pub struct Pattern(Box<dense::DFA<Vec<u32>>>);

crate::refusal! {
    /// Why a `matches` pattern is refused: not valid, or too costly to match.
    InvalidPattern
}

impl Pattern {
    /// Compiles `text`; the message says why it is not valid or is too costly to match.
    pub fn new(text: &str) -> Result<Pattern, InvalidPattern> {
        let invalid =
            |e: &dyn std::fmt::Display| format!("{text:?} is not a valid regular expression: {e}");
        let mut ast = ast::parse::ParserBuilder::new()
            .nest_limit(50)
            .build()
            .parse(text)
            .map_err(|e| invalid(&e))?;
        ast::visit(&ast, NoUnicodeClasses).map_err(|()| invalid(&"no \\p{…} classes"))?;
        ascii_classes(&mut ast);
        let hir = regex_syntax::hir::translate::Translator::new()
            .translate(text, &ast)
            .map_err(|e| invalid(&e))?;
        let too_costly = |e: &dyn std::fmt::Display| {
            format!(
                "{text:?} is too costly to match: its automaton passes the bound of \
                 {MAX_NFA_BYTES} bytes (NFA) or {MAX_DFA_BYTES} bytes (DFA) ({e}); bound \
                 its repetitions"
            )
        };
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().nfa_size_limit(Some(MAX_NFA_BYTES)))
            .build_from_hir(&hir)
            .map_err(|e| too_costly(&e))?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Unanchored)
                    .dfa_size_limit(Some(MAX_DFA_BYTES))
                    .determinize_size_limit(Some(2 * MAX_DFA_BYTES)),
            )
            .build_from_nfa(&nfa)
            .map_err(|e| too_costly(&e))?;
        Ok(Pattern(Box::new(dfa)))
    }

    /// Whether the pattern matches somewhere in `haystack`.
    pub fn is_match(&self, haystack: &str) -> bool {
        // The DFA has no quit bytes and no Unicode word boundary: a search cannot fail.
        matches!(
            self.0.try_search_fwd(&Input::new(haystack).earliest(true)),
            Ok(Some(_))
        )
    }
}

/// Refuses `\p{…}` / `\pL` classes: whether regex-syntax can translate them depends on
/// the features other crates turn on (the `regex` crate does), and their tables would
/// multiply DFA sizes; so they are refused whatever the build.
struct NoUnicodeClasses;

impl ast::Visitor for NoUnicodeClasses {
    type Output = ();
    type Err = ();

    fn finish(self) -> Result<(), ()> {
        Ok(())
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), ()> {
        match ast {
            Ast::ClassUnicode(_) => Err(()),
            _ => Ok(()),
        }
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
        match item {
            ClassSetItem::Unicode(_) => Err(()),
            _ => Ok(()),
        }
    }
}

/// Rewrites Perl classes to their ASCII forms and word boundaries to ASCII ones.
fn ascii_classes(ast: &mut Ast) {
    match ast {
        Ast::ClassPerl(perl) => {
            let (span, negated) = (perl.span, perl.negated);
            let class = ast::ClassAscii {
                negated: false,
                ..ascii(perl)
            };
            let kind = ClassSet::Item(ClassSetItem::Ascii(class));
            *ast = Ast::class_bracketed(ast::ClassBracketed {
                span,
                negated,
                kind,
            });
        }
        Ast::Assertion(a)
            if !matches!(
                a.kind,
                ast::AssertionKind::StartLine
                    | ast::AssertionKind::EndLine
                    | ast::AssertionKind::StartText
                    | ast::AssertionKind::EndText
            ) =>
        {
            // (?-u:\b): an ASCII word boundary.
            let span = a.span;
            let item = |kind| ast::FlagsItem { span, kind };
            let flags = ast::Flags {
                span,
                items: vec![
                    item(ast::FlagsItemKind::Negation),
                    item(ast::FlagsItemKind::Flag(ast::Flag::Unicode)),
                ],
            };
            let inner = std::mem::replace(ast, Ast::empty(span));
            *ast = Ast::group(ast::Group {
                span,
                kind: ast::GroupKind::NonCapturing(flags),
                ast: Box::new(inner),
            });
        }
        Ast::Repetition(r) => ascii_classes(&mut r.ast),
        Ast::Group(g) => ascii_classes(&mut g.ast),
        Ast::Alternation(a) => a.asts.iter_mut().for_each(ascii_classes),
        Ast::Concat(c) => c.asts.iter_mut().for_each(ascii_classes),
        Ast::ClassBracketed(b) => ascii_set(&mut b.kind),
        _ => {}
    }
}

fn ascii_set(set: &mut ClassSet) {
    match set {
        ClassSet::Item(item) => ascii_item(item),
        ClassSet::BinaryOp(op) => {
            ascii_set(&mut op.lhs);
            ascii_set(&mut op.rhs);
        }
    }
}

fn ascii_item(item: &mut ClassSetItem) {
    match item {
        ClassSetItem::Perl(perl) => *item = ClassSetItem::Ascii(ascii(perl)),
        ClassSetItem::Bracketed(b) => ascii_set(&mut b.kind),
        ClassSetItem::Union(u) => u.items.iter_mut().for_each(ascii_item),
        _ => {}
    }
}

/// `[[:digit:]]`, `[[:space:]]` or `[[:word:]]`, negated as `perl` is.
fn ascii(perl: &ast::ClassPerl) -> ast::ClassAscii {
    ast::ClassAscii {
        span: perl.span,
        kind: match perl.kind {
            ast::ClassPerlKind::Digit => ast::ClassAsciiKind::Digit,
            ast::ClassPerlKind::Space => ast::ClassAsciiKind::Space,
            ast::ClassPerlKind::Word => ast::ClassAsciiKind::Word,
        },
        negated: perl.negated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_as_the_regex_syntax_says_with_ascii_classes() {
        let cases: &[(&str, &str, bool)] = &[
            ("^order\\.", "order.created", true),
            ("^order\\.", "reorder.created", false),
            ("push", "a push event", true),
            ("^push$", "pushed", false),
            ("\\d{3}-\\d{4}", "call 555-1234", true),
            ("\\d", "٣", false),
            ("\\D", "٣", true),
            ("^\\w+$", "héllo", false),
            ("^[\\w.]+$", "a.b_c", true),
            ("^[^\\w]$", "é", true),
            ("^\\W$", "é", true),
            ("\\s", "a\tb", true),
            ("\\bcat\\b", "a cat!", true),
            ("\\bcat\\b", "concat", false),
            ("\\Bcat", "concat", true),
            ("^.$", "é", true),
            ("^[^a]$", "日", true),
            ("(?i)^HELLO$", "hello", true),
            ("(?i)^straße$", "STRASSE", false),
            ("(?i)^é$", "É", true),
            ("(?m)^b$", "a\nb\nc", true),
            ("", "", true),
            ("a|b", "xyz", false),
        ];
        for &(re, hay, want) in cases {
            let p = Pattern::new(re).unwrap_or_else(|e| panic!("{re}: {e}"));
            assert_eq!(p.is_match(hay), want, "{re} on {hay:?}");
        }
    }

    #[test]
    fn the_costliest_accepted_patterns_compile() {
        // The largest DFA of a family that doubles per step, and a long bounded repetition
        // (benches/core.rs measures them on 1 MiB).
        for re in ["(?:a|b)*a(?:a|b){12}c", "(?:a|b|c|d){1,200}x"] {
            let p = Pattern::new(re).unwrap_or_else(|e| panic!("{re}: {e}"));
            assert!(!p.is_match(&"ab".repeat(10_000)));
        }
    }

    #[test]
    fn a_costly_pattern_is_a_config_error_naming_the_step() {
        let e = super::super::testing::step(
            serde_json::json!({"kind": "filter", "when": {"payload": {"$.a": {"matches": "(?:a|b)*a(?:a|b){20}"}}}}),
            "none",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with(
                "collectors[0].steps[0].when.payload.\"$.a\": \"(?:a|b)*a(?:a|b){20}\" is too costly to match"
            ),
            "{e}"
        );
    }

    #[test]
    fn costly_and_invalid_patterns_are_refused_at_load() {
        // NFAs past the bound; DFAs past it (2^20 and 2^14 states); the pattern issue 18
        // found costing 2.1 s on 16 KB with regex-lite.
        let refused = [
            "a{1000}{1000}",
            "(?:a?){600}x",
            "(?:a|b)*a(?:a|b){20}",
            "(?:a|b)*a(?:a|b){13}c",
            "(?:a|b|c|d){1,1000}x",
        ];
        for re in refused {
            let e = Pattern::new(re)
                .err()
                .unwrap_or_else(|| panic!("{re} accepted"));
            assert!(e.0.contains("is too costly to match"), "{re}: {e}");
        }
        for re in ["(", "\\pL", "a{2,1}", "\\p{Greek}"] {
            let e = Pattern::new(re)
                .err()
                .unwrap_or_else(|| panic!("{re} accepted"));
            assert!(
                e.0.contains("is not a valid regular expression"),
                "{re}: {e}"
            );
        }
    }
}
