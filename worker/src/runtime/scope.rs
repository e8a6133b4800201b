//! How a script's source is evaluated so that its top-level state is fast.
//!
//! boa keeps a script's top-level `var`s and functions as properties of the
//! global object, and every read or write of one from `main()` is a property
//! lookup: a counter kept at top level and bumped from `main()` runs several
//! times slower than the same counter inside a function. So the worker
//! evaluates the source as the body of a function instead, called with the
//! global object as `this`; the top-level bindings become that function's
//! locals, which `main()` reaches as closure variables.
//!
//! What a script can see stays the same, with the exceptions that decide
//! when the worker does *not* do this:
//!
//! - The source is first parsed as an ordinary script, so syntax errors (and
//!   what counts as one, such as a top-level `return`) are those of a script.
//! - Top-level bindings are no longer properties of the global object. A
//!   script that could notice (it mentions `globalThis`, `this`, `eval`,
//!   `Function` or `arguments` anywhere outside strings and comments) is
//!   evaluated as an ordinary script.
//! - `init`, `main` and `cleanup` are looked up in the script's own scope,
//!   then on the global object, each time the worker needs them.

/// Words whose use could reveal that top-level bindings are function locals.
const REVEALING: &[&str] = &["globalThis", "this", "eval", "Function", "arguments"];

/// Whether `source` may be evaluated inside a function without any
/// difference it could observe.
pub fn can_wrap(source: &str) -> bool {
    !identifiers(source).any(|w| REVEALING.contains(&w))
}

/// The source wrapped as a function body; evaluating the text gives the
/// function, which the worker calls with the global object as `this`. Called
/// from the host rather than from the text itself, an error thrown by the
/// top-level code is reported at its own position, not at the call. The
/// function returns a lookup function for the lifecycle functions. The source
/// starts on the first line so that line numbers in errors stay right.
pub fn wrap(source: &str) -> String {
    format!(
        "(function(){{{source}\n;return function(n){{switch(n){{\
         case 'init':return typeof init==='function'?init:undefined;\
         case 'main':return typeof main==='function'?main:undefined;\
         case 'cleanup':return typeof cleanup==='function'?cleanup:undefined;\
         default:return undefined;}}}};}})"
    )
}

/// The identifier-like words of `source` outside comments and string or
/// template literals (see [`super::lexer`] for what the scanner cannot
/// tell: a word hidden by a quote inside a regular expression literal can
/// only make [`can_wrap`] say no where yes was possible, or, in the rare case
/// where such a hidden word is code, yes; scripts that depend on top-level
/// bindings being global properties name `globalThis` outside a regular
/// expression anyway).
fn identifiers(source: &str) -> impl Iterator<Item = &str> {
    super::lexer::tokens(source)
        .into_iter()
        .filter_map(|t| match t {
            super::lexer::Token::Word(w) => Some(w),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scripts_are_wrapped() {
        assert!(can_wrap("var n = 0; function main() { n++; }"));
        // The words only in comments or strings do not count.
        assert!(can_wrap(
            "// this thread counts\nvar s = 'this'; /* eval */ function main() {}"
        ));
        assert!(can_wrap("var t = `this is ${1 + 2} fine`;"));
    }

    #[test]
    fn scripts_that_could_notice_are_not() {
        assert!(!can_wrap("var n = 0; function main() { globalThis.n++; }"));
        assert!(!can_wrap("function main() { return this.n; }"));
        assert!(!can_wrap("var f = Function('return n');"));
        assert!(!can_wrap("(0, eval)('n')"));
        assert!(!can_wrap("var t = `${this.n}`;"));
        assert!(!can_wrap("var t = `a ${ {x: 1}.x } b`; globalThis.q = 1;"));
    }

    #[test]
    fn the_wrapper_keeps_the_first_line() {
        let w = wrap("throw new Error('x')");
        assert!(w.starts_with("(function(){throw new Error('x')\n"));
    }
}
