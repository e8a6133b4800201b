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
/// template literals (the text inside `${...}` of a template counts as code).
///
/// This is a scanner, not a parser: a regular expression literal is read as
/// code, so a quote inside one may hide the words after it until the next
/// quote. That can only make [`can_wrap`] say no where yes was possible,
/// except in the rare case where such a hidden word is code; scripts that
/// depend on top-level bindings being global properties should name
/// `globalThis` outside a regular expression, which they do anyway.
fn identifiers(source: &str) -> impl Iterator<Item = &str> {
    let bytes = source.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    // Nesting of template literals and of `${` inside them.
    let mut templates: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
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
            b'\'' | b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                i = skip_template(bytes, i + 1, &mut templates, braces);
            }
            b'{' => {
                braces += 1;
                i += 1;
            }
            b'}' => {
                if templates.last() == Some(&braces) {
                    templates.pop();
                    i = skip_template(bytes, i + 1, &mut templates, braces);
                } else {
                    braces = braces.saturating_sub(1);
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
                {
                    i += 1;
                }
                words.push(&source[start..i]);
            }
            _ => i += 1,
        }
    }
    words.into_iter()
}

/// Skips the text of a template literal from `i` (just after the opening
/// backtick or a closing `}` of a substitution) to its end or to the next
/// `${`, which opens code again; returns where scanning goes on.
fn skip_template(bytes: &[u8], mut i: usize, templates: &mut Vec<usize>, braces: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => return i + 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                templates.push(braces);
                return i + 2;
            }
            _ => i += 1,
        }
    }
    i
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
