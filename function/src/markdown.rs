//! Text as Markdown code that nothing in it can close: a fenced block or an inline span sized
//! by the longest run of backticks inside. Pull-request code, Terraform output and names from
//! a repository's config are shown this way, so none of it renders as Markdown.

/// The longest run of backticks in `text`.
fn longest_backticks(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    "`".repeat(longest_backticks(text).max(2) + 1)
}

/// `text` as a fenced code block (with info string `info`) that nothing in it can close.
#[must_use]
pub fn fenced(text: &str, info: &str) -> String {
    let fence = fence_for(text);
    let text = text.trim_end_matches('\n');
    format!("{fence}{info}\n{text}\n{fence}\n")
}

/// `text` fit for one cell of a GFM table: on one line, with `|` escaped, for text the pull
/// request may choose (a project's name, a summary). A backslash is escaped first: GFM reads
/// `\\` as an escaped backslash, so the text's own `\|` would otherwise end the cell.
#[must_use]
pub fn table_cell(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
        .replace('\\', "\\\\")
        .replace('|', "\\|")
}

/// `text` as inline code, whatever backticks it holds, on one line (a line break would let the
/// next line start a block of its own, a heading or a list, before the span is read).
pub(crate) fn inline_code(text: &str) -> String {
    let text = &text.replace(['\n', '\r'], " ");
    let ticks = "`".repeat(longest_backticks(text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// Where a text stands in CommonMark's fenced code blocks, line by line: a fence of three or
/// more backticks or tildes indented at most three spaces opens a block, the same character at
/// least as many times, alone on its line, closes it.
#[derive(Debug, Default)]
struct Fences {
    open: Option<(char, usize)>,
}

impl Fences {
    /// Takes the next line; whether it is Markdown (not a fence line, not inside a block).
    fn markdown(&mut self, line: &str) -> bool {
        let rest = line.trim_start_matches(' ');
        let indent = line.len() - rest.len();
        let run_of = |c: char| rest.chars().take_while(|x| *x == c).count();
        if let Some((c, n)) = self.open {
            let run = run_of(c);
            if indent <= 3 && run >= n && rest[run..].trim().is_empty() {
                self.open = None;
            }
            return false;
        }
        let c = rest.chars().next().unwrap_or(' ');
        let run = if matches!(c, '`' | '~') { run_of(c) } else { 0 };
        let info_ok = c != '`' || !rest[run..].contains('`');
        if indent <= 3 && run >= 3 && info_ok {
            self.open = Some((c, run));
            return false;
        }
        true
    }
}

/// `text` with a fenced code block it leaves open closed at its end, so that what follows it in
/// a comment (another project's output) is not read as code, nor the open block's text, cut
/// short, as closing a later block and turning the rest into Markdown.
#[must_use]
pub fn with_fences_closed(text: &str) -> String {
    let mut fences = Fences::default();
    for line in text.lines() {
        fences.markdown(line);
    }
    match fences.open {
        Some((c, n)) => format!(
            "{}\n{}",
            text.trim_end_matches('\n'),
            c.to_string().repeat(n)
        ),
        None => text.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The lines of `body` a host renders as Markdown, not as code: outside every fenced code
    /// block, by CommonMark's rules ([`Fences`]). What a run printed must never stand here.
    pub(crate) fn lines_outside_code(body: &str) -> Vec<&str> {
        let mut fences = Fences::default();
        body.lines().filter(|line| fences.markdown(line)).collect()
    }

    /// `line` without its inline code spans (CommonMark: a run of backticks closed by the next
    /// run of the same length).
    pub(crate) fn outside_inline_code(line: &str) -> String {
        let mut out = String::new();
        let mut rest = line;
        while let Some(start) = rest.find('`') {
            out.push_str(&rest[..start]);
            let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
            let after = &rest[start + ticks..];
            let mut search = 0;
            let close = loop {
                let Some(at) = after[search..].find('`') else {
                    break None;
                };
                let at = search + at;
                let n = after[at..].chars().take_while(|c| *c == '`').count();
                if n == ticks {
                    break Some(at);
                }
                search = at + n;
            };
            if let Some(at) = close {
                rest = &after[at + ticks..];
            } else {
                out.push_str(&rest[start..start + ticks]);
                rest = after;
            }
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn a_block_left_open_is_closed_at_the_end_and_a_closed_one_left_alone() {
        let cut = format!("Stale.\n\n{}", fenced("line\n````\nmore", ""));
        let cut = &cut[..cut.len() - 6];
        let closed = with_fences_closed(cut);
        assert!(closed.ends_with("\n`````"), "{closed}");
        let next = format!("{closed}\n{}", fenced("# from another project", ""));
        assert_eq!(lines_outside_code(&next), ["Stale.", ""]);
        for whole in ["no code", "~~~\nx\n~~~", "   ```sh\nx\n```\nafter"] {
            assert_eq!(with_fences_closed(whole), whole);
        }
        assert_eq!(with_fences_closed("~~~~\nx\n~~~"), "~~~~\nx\n~~~\n~~~~");
    }

    #[test]
    fn a_fence_is_longer_than_any_backticks_inside() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }

    #[test]
    fn inline_code_holds_whatever_backticks_and_lines_it_is_given() {
        assert_eq!(inline_code("echo hi"), "`echo hi`");
        assert_eq!(inline_code("echo `date`"), "`` echo `date` ``");
        assert_eq!(inline_code("a `b` c"), "``a `b` c``");
        assert_eq!(inline_code("a\n# b"), "`a # b`");
    }
}
