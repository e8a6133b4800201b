//! A guard against sources nested deeper than the engine's parser can take.
//!
//! boa's parser descends on the native stack for every level of brackets and
//! has no depth limit of its own. Each level of parentheses or array
//! brackets costs it about 130 KiB of stack in this build, so on a script
//! thread's 64 MiB stack a source with some 400 nested parentheses
//! overflows it. A stack overflow aborts the whole worker process, not the
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
//! comments, string literals and template text. Like the scanner of
//! [`super::scope`], it does not parse: a bracket inside a regular
//! expression literal counts too, except one escaped with a backslash. It
//! does not count operator chains without brackets (thousands of `!` in a
//! row, or of `a ? b : c ? ...`), which the parser also recurses on but
//! takes far more of before its stack runs out; such a source can still
//! abort the worker.

use boa_engine::{Context, JsNativeError, JsResult, JsString};

/// The deepest bracket nesting a source may have. Well under what the
/// parser survives on a script thread's stack, and far beyond what written
/// code reaches (generated bundles stay within a few dozen levels).
pub const MAX_NESTING: usize = 200;

/// How deep the brackets of `source` nest at most.
pub fn depth(source: &str) -> usize {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut max = 0usize;
    // The depths at which template literals were opened by `${`, so that the
    // `}` closing a substitution goes back into template text.
    let mut templates: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                let (next, opened) = template_text(bytes, i + 1);
                i = next;
                if opened {
                    depth += 1;
                    templates.push(depth);
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' if templates.last() == Some(&depth) => {
                templates.pop();
                depth -= 1;
                let (next, opened) = template_text(bytes, i + 1);
                i = next;
                if opened {
                    depth += 1;
                    templates.push(depth);
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
        max = max.max(depth);
    }
    max
}

/// Skips template text from `i` (after a backtick or the `}` of a
/// substitution) to the closing backtick or the next `${`; where scanning
/// goes on, and whether a `${` opened a substitution.
fn template_text(bytes: &[u8], mut i: usize) -> (usize, bool) {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => return (i + 1, false),
            b'$' if bytes.get(i + 1) == Some(&b'{') => return (i + 2, true),
            _ => i += 1,
        }
    }
    (i, false)
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
