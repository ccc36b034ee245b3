//! Name patterns as GNU find's `-name` reads them: `fnmatch(3)` with no flags.
//!
//! `*` is any run of characters, `?` any one, `[...]` one of a set (`[!...]` or `[^...]`
//! negates it; ranges `a-z`; classes `[:alpha:]`; `[=c=]` and `[.c.]` stand for `c`), and
//! `\c` is `c` itself. With no flags nothing is special about `/` or a leading `.`: `*`
//! matches `.profile`, as find has done since findutils 4.2.2. A `[` with no closing `]`
//! is an ordinary character; a pattern ending in a lone `\` matches nothing (glibc).
//!
//! Matching simulates the pattern's NFA over the name, one set of states per character, so
//! its cost is bounded by `pattern length × name length` whatever the pattern: a
//! backtracking matcher takes exponential time on `*a*a*a*a*a*a*a*b` against a long name.

use std::fmt;

/// A compiled `-name` pattern.
#[derive(Debug, Clone)]
pub struct NamePattern {
    tokens: Vec<Token>,
}

/// Why a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

#[derive(Debug, Clone)]
enum Token {
    Char(char),
    Any,
    Star,
    Set {
        negated: bool,
        items: Vec<Item>,
    },
    /// A trailing lone backslash: glibc's fnmatch matches nothing with it.
    Never,
}

#[derive(Debug, Clone)]
enum Item {
    Range(char, char),
    Class(Class),
}

#[derive(Debug, Clone, Copy)]
enum Class {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl Class {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "alnum" => Self::Alnum,
            "alpha" => Self::Alpha,
            "blank" => Self::Blank,
            "cntrl" => Self::Cntrl,
            "digit" => Self::Digit,
            "graph" => Self::Graph,
            "lower" => Self::Lower,
            "print" => Self::Print,
            "punct" => Self::Punct,
            "space" => Self::Space,
            "upper" => Self::Upper,
            "xdigit" => Self::Xdigit,
            _ => return None,
        })
    }

    fn has(self, c: char) -> bool {
        match self {
            Self::Alnum => c.is_alphanumeric(),
            Self::Alpha => c.is_alphabetic(),
            Self::Blank => c == ' ' || c == '\t',
            Self::Cntrl => c.is_control(),
            Self::Digit => c.is_ascii_digit(),
            Self::Graph => !c.is_control() && !c.is_whitespace(),
            Self::Lower => c.is_lowercase(),
            Self::Print => !c.is_control(),
            Self::Punct => c.is_ascii_punctuation(),
            Self::Space => c.is_whitespace(),
            Self::Upper => c.is_uppercase(),
            Self::Xdigit => c.is_ascii_hexdigit(),
        }
    }
}

impl Token {
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Char(p) => *p == c,
            Token::Any => true,
            Token::Star | Token::Never => false,
            Token::Set { negated, items } => {
                let inside = items.iter().any(|i| match i {
                    Item::Range(lo, hi) => (*lo..=*hi).contains(&c),
                    Item::Class(k) => k.has(c),
                });
                inside != *negated
            }
        }
    }
}

impl NamePattern {
    /// Compiles `pattern`.
    ///
    /// # Errors
    /// An unknown character class (`[[:nope:]]`): glibc would silently match nothing.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        let p: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < p.len() {
            let (tok, next) = match p[i] {
                '*' => (Token::Star, i + 1),
                '?' => (Token::Any, i + 1),
                '\\' => match p.get(i + 1) {
                    Some(&c) => (Token::Char(c), i + 2),
                    None => (Token::Never, i + 1),
                },
                '[' => match bracket(&p, i + 1)? {
                    Some((tok, next)) => (tok, next),
                    None => (Token::Char('['), i + 1),
                },
                c => (Token::Char(c), i + 1),
            };
            // Runs of stars are one star; it keeps the state sets small.
            if !(matches!(tok, Token::Star) && matches!(tokens.last(), Some(Token::Star))) {
                tokens.push(tok);
            }
            i = next;
        }
        Ok(Self { tokens })
    }

    /// Whether `name` (one path component) matches.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        let n = self.tokens.len();
        // States are positions in `tokens`; state n accepts.
        let mut cur = vec![false; n + 1];
        let mut next = vec![false; n + 1];
        cur[0] = true;
        self.close(&mut cur);
        for c in name.chars() {
            next.fill(false);
            let mut any = false;
            for (s, tok) in self.tokens.iter().enumerate() {
                if !cur[s] {
                    continue;
                }
                if matches!(tok, Token::Star) {
                    next[s] = true;
                    any = true;
                } else if tok.accepts(c) {
                    next[s + 1] = true;
                    any = true;
                }
            }
            if !any {
                return false;
            }
            self.close(&mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        cur[n]
    }

    /// Adds the states reachable without a character: a star may match nothing.
    fn close(&self, states: &mut [bool]) {
        for (s, tok) in self.tokens.iter().enumerate() {
            if states[s] && matches!(tok, Token::Star) {
                states[s + 1] = true;
            }
        }
    }
}

/// The bracket expression whose body starts at `p[start]` (just after `[`), and the index
/// after its `]`; `None` when it never closes (then `[` is an ordinary character).
fn bracket(p: &[char], start: usize) -> Result<Option<(Token, usize)>, PatternError> {
    let mut i = start;
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = p.get(i) else { return Ok(None) };
        if c == ']' && !first {
            return Ok(Some((Token::Set { negated, items }, i + 1)));
        }
        first = false;
        if c == '[' && p.get(i + 1) == Some(&':') {
            if let Some(end) = find_close(p, i + 2, ':') {
                let name: String = p[i + 2..end].iter().collect();
                let class =
                    Class::named(&name).ok_or_else(|| PatternError(format!("unknown character class [:{name}:]")))?;
                items.push(Item::Class(class));
                i = end + 2;
                continue;
            }
        }
        let Some((lo, after)) = set_char(p, i) else { return Ok(None) };
        i = after;
        // `-` makes a range unless it is last (`[a-]` holds `a` and `-`).
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&c| c != ']') {
            let Some((hi, after)) = set_char(p, i + 1) else { return Ok(None) };
            items.push(Item::Range(lo, hi));
            i = after;
        } else {
            items.push(Item::Range(lo, lo));
        }
    }
}

/// One character of a bracket expression at `p[i]`: plain, `\c`, `[.c.]` or `[=c=]`.
fn set_char(p: &[char], i: usize) -> Option<(char, usize)> {
    let c = *p.get(i)?;
    if c == '\\' {
        return Some((*p.get(i + 1)?, i + 2));
    }
    if c == '[' {
        if let Some(&d @ ('.' | '=')) = p.get(i + 1) {
            if let Some(end) = find_close(p, i + 2, d) {
                if end == i + 3 {
                    return Some((p[i + 2], end + 2));
                }
            }
        }
    }
    Some((c, i + 1))
}

/// Index of the `d` in the first `d]` at or after `from`.
fn find_close(p: &[char], from: usize, d: char) -> Option<usize> {
    (from..p.len().saturating_sub(1)).find(|&j| p[j] == d && p[j + 1] == ']')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, name: &str) -> bool {
        NamePattern::new(pat).unwrap().matches(name)
    }

    #[test]
    fn stars_and_questions() {
        assert!(m("*", ""));
        assert!(m("*01*", "file.0100"));
        assert!(!m("*01*", "file.0200"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("**a", "bba"));
        assert!(m("*.txt", "a.b.txt"));
        assert!(!m("*.txt", "a.txt.gz"));
    }

    #[test]
    fn brackets_as_fnmatch() {
        assert!(m("[abc]x", "bx"));
        assert!(!m("[abc]x", "dx"));
        assert!(m("[!abc]x", "dx"));
        assert!(m("[^abc]x", "dx"));
        assert!(!m("[^abc]x", "ax"));
        assert!(m("f[0-9][0-9]", "f42"));
        assert!(!m("f[0-9]", "fa"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(!m("[!]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[[:alpha:]]1", "q1"));
        assert!(!m("[[:alpha:]]1", "71"));
        assert!(m("[[:digit:][:upper:]]", "Q"));
        assert!(m("[![:space:]]", "x"));
        assert!(m("[[.a.]-c]", "b"));
        assert!(m("[[=e=]]", "e"));
        assert!(m("[\\]]", "]"));
        // Never closed: an ordinary `[`.
        assert!(m("a[b", "a[b"));
        assert!(!m("a[b", "ab"));
    }

    #[test]
    fn escapes_and_dots() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?", "a?"));
        assert!(m("\\[x]", "[x]"));
        assert!(!m("a\\", "a\\"));
        assert!(!m("a\\", "a"));
        // No FNM_PERIOD: wildcards match a leading dot, as GNU find's -name does.
        assert!(m("*", ".hidden"));
        assert!(m("?bashrc", ".bashrc"));
        assert!(m("[.]x", ".x"));
    }

    #[test]
    fn unknown_class_is_an_error() {
        assert!(NamePattern::new("[[:nope:]]").unwrap_err().to_string().contains("nope"));
    }

    #[test]
    fn many_stars_stay_linear() {
        let name = "a".repeat(60);
        assert!(!m("*a*a*a*a*a*a*a*b", &name));
        assert!(m("*a*a*a*a*a*a*a*a", &name));
        let long = "ab".repeat(5000);
        assert!(!m(&"*a".repeat(200).chars().chain("*c".chars()).collect::<String>(), &long));
    }
}
