//! Globs over event types: `*` is any run of characters, `?` one character.

/// One compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.chars().collect(),
        }
    }

    /// Whether the glob matches all of `text`.
    ///
    /// Greedy matching with backtracking to the last `*` only: linear in
    /// practice and O(pattern × text) at worst, never exponential.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0, 0);
        // Where the last `*` was, and where in `text` it started matching.
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.pattern.get(p) {
                Some('*') => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(&c) if c == '?' || c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    // Let the last `*` swallow one more character, and retry.
                    Some((star_p, star_t)) => {
                        star = Some((star_p, star_t + 1));
                        p = star_p + 1;
                        t = star_t + 1;
                    }
                    None => return false,
                },
            }
        }
        self.pattern[p..].iter().all(|&c| c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).matches(text)
    }

    #[test]
    fn literals_match_themselves_only() {
        assert!(matches("order.paid", "order.paid"));
        assert!(!matches("order.paid", "order.paid2"));
        assert!(!matches("order.paid", "Order.paid"));
        assert!(matches("", ""));
        assert!(!matches("", "x"));
    }

    #[test]
    fn star_matches_any_run_including_dots() {
        assert!(matches("*", ""));
        assert!(matches("*", "a.b.c"));
        assert!(matches("order.*", "order."));
        assert!(matches("order.*", "order.refund.created"));
        assert!(matches("*.paid", "order.paid"));
        assert!(matches("a*b*c", "a-b-x-c"));
        assert!(matches("a*b*c", "abbbc"));
        assert!(!matches("a*b*c", "a-c"));
        assert!(matches("**", "x"));
    }

    #[test]
    fn question_mark_matches_one_character() {
        assert!(matches("v?", "v2"));
        assert!(!matches("v?", "v"));
        assert!(!matches("v?", "v10"));
        assert!(matches("?", "é"));
        assert!(matches("*?", "a"));
        assert!(!matches("*?", ""));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let text = "a".repeat(10_000);
        assert!(!matches(
            &"a*".repeat(50).chars().chain(['b']).collect::<String>(),
            &text
        ));
    }
}
