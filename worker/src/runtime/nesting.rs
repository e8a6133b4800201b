//! A guard against sources nested deeper than the engine's parser can take.
//!
//! boa's parser descends on the native stack for every level of brackets and
//! has no depth limit of its own. Each level of parentheses or array
//! brackets costs it a large piece of stack (about 130 KiB in one build),
//! so a source with a few hundred nested parentheses overflows even a
//! script thread's generous stack. A stack overflow aborts the whole worker process, not the
//! one thread, and every worker that then takes the thread over aborts the
//! same way: one short script could take a whole cluster down.
//!
//! So before the engine parses a source, the worker measures how deep its
//! brackets nest, and refuses one deeper than [`MAX_NESTING`] with a
//! `SyntaxError`: the script's own source when it is loaded (the thread
//! crashes with that error), and every string handed to `eval` or to the
//! `Function` constructors (the call throws, as for any syntax error).
//!
//! The count covers `(`, `[`, `{` and the `${` of template literals, outside
//! comments, string literals and template text, as [`super::lexer`] reads
//! them; it does not parse: a bracket inside a regular expression literal
//! counts too, except one escaped with a backslash. It
//! does not count operator chains without brackets (thousands of `!` in a
//! row, or of `a ? b : c ? ...`), which the parser also recurses on but
//! takes far more of before its stack runs out; such a source can still
//! abort the worker.

use boa_engine::{Context, JsNativeError, JsResult, JsString};

use super::lexer::Token;

/// The deepest bracket nesting a source may have. Well under what the
/// parser survives on a script thread's stack, and far beyond what written
/// code reaches (generated bundles stay within a few dozen levels).
pub const MAX_NESTING: usize = 200;

/// How deep the brackets of `source` nest at most.
pub fn depth(source: &str) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    for token in super::lexer::tokens(source) {
        match token {
            Token::Open => {
                depth += 1;
                max = max.max(depth);
            }
            Token::Close => depth = depth.saturating_sub(1),
            Token::Word(_) => {}
        }
    }
    max
}

/// `Ok` when `source` nests no deeper than [`MAX_NESTING`]; else the
/// `SyntaxError` the script gets. `what` names the source in the message.
pub fn check(source: &str, what: &str) -> JsResult<()> {
    let d = depth(source);
    if d > MAX_NESTING {
        return Err(JsNativeError::syntax()
            .with_message(format!(
                "{what} nests brackets {d} levels deep; the worker accepts at most \
                 {MAX_NESTING}, since deeper nesting would overflow the parser's stack: \
                 split the expression, or build deep data at run time"
            ))
            .into());
    }
    Ok(())
}

/// The engine's host hooks for scripts: the default behaviour, plus the
/// nesting check on every string compiled at run time.
pub struct Hooks;

impl boa_engine::context::HostHooks for Hooks {
    fn ensure_can_compile_strings(
        &self,
        _realm: boa_engine::realm::Realm,
        parameters: &[JsString],
        body: &JsString,
        direct: bool,
        _context: &mut Context,
    ) -> JsResult<()> {
        let what = if parameters.is_empty() && direct {
            "the source given to eval()"
        } else if parameters.is_empty() {
            "the source given to eval() or Function()"
        } else {
            "the parameters given to Function()"
        };
        for p in parameters {
            check(&p.to_std_string_lossy(), what)?;
        }
        check(&body.to_std_string_lossy(), what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_counted_in_code_only() {
        assert_eq!(depth("var a = 1;"), 0);
        assert_eq!(depth("f(g([1, {a: 2}]))"), 4);
        assert_eq!(depth("// (((((\nvar s = '((((' + \"[[[[\"; /* {{{{ */"), 0);
        assert_eq!(depth("var t = `((( ${ f(1) } )))`;"), 2);
        assert_eq!(depth("var t = `a ${ `b ${ [1] }` }`;"), 3);
        assert_eq!(depth("var r = /\\(\\(\\(/;"), 0);
        assert_eq!(depth("function main() { if (x) { y(); } }"), 3);
    }

    #[test]
    fn deep_sources_are_refused() {
        let deep = format!(
            "var z = {}1{};",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        let err = check(&deep, "the script").unwrap_err();
        assert!(err.to_string().contains("201 levels deep"), "{err}");
        let fine = format!(
            "var z = {}1{};",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(check(&fine, "the script").is_ok());
    }
}
