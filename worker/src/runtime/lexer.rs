//! A small scanner of JavaScript source, for the checks the worker makes
//! before the engine sees a script ([`super::scope`], [`super::nesting`]).
//!
//! It reads past comments, string literals and template text (the code
//! inside a template's `${...}` is read as code), and reports the words and
//! brackets that remain. It does not parse: a regular expression literal is
//! read as code, except that a backslash skips the character after it, so
//! `/\(/` holds no bracket. A quote inside a regular expression can hide the
//! code after it up to the next quote; both users of the scanner only ever
//! err on the cautious side when that happens, as their docs say.

/// What the scanner reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// An identifier or keyword.
    Word(&'a str),
    /// `(`, `[`, `{`, or the `${` that opens a template substitution.
    Open,
    /// `)`, `]`, `}`, or the `}` that closes a template substitution.
    Close,
}

/// The words and brackets of `source` outside comments, strings and
/// template text.
pub fn tokens(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    // Bracket depth, and the depths at which template substitutions were
    // opened, so the `}` closing one goes back into template text.
    let mut depth = 0usize;
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
            b'`' => i = template(bytes, i + 1, &mut depth, &mut templates, &mut out),
            b'}' if templates.last() == Some(&depth) => {
                templates.pop();
                depth -= 1;
                out.push(Token::Close);
                i = template(bytes, i + 1, &mut depth, &mut templates, &mut out);
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                out.push(Token::Open);
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                out.push(Token::Close);
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
                {
                    i += 1;
                }
                out.push(Token::Word(&source[start..i]));
            }
            _ => i += 1,
        }
    }
    out
}

/// Skips template text from `i` (after a backtick or the `}` closing a
/// substitution) to the closing backtick or the next `${`, which opens a
/// substitution; returns where scanning goes on.
fn template<'a>(
    bytes: &[u8],
    mut i: usize,
    depth: &mut usize,
    templates: &mut Vec<usize>,
    out: &mut Vec<Token<'a>>,
) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => return i + 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                *depth += 1;
                templates.push(*depth);
                out.push(Token::Open);
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
    fn comments_strings_and_template_text_are_skipped() {
        let t = tokens("// this\nvar s = 'globalThis'; /* eval */ f(`a ${b} c`);");
        assert_eq!(
            t,
            vec![
                Token::Word("var"),
                Token::Word("s"),
                Token::Word("f"),
                Token::Open,
                Token::Open,
                Token::Word("b"),
                Token::Close,
                Token::Close,
            ]
        );
    }
}
