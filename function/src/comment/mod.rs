//! The PR comment: the body of runs' results ([`render`]), and splitting a long body at the
//! host's size limit (this module).
//!
//! Terraform output goes into a comment inside code fences, often inside `<details>` blocks. Cut
//! anywhere, the host would render the rest of the PR page as code. So each part closes the
//! fences and `<details>` blocks that are open where it is cut, and the next part reopens them
//! (same fence and info string, same summary marked "continued"). The number of parts is capped
//! ([`MAX_COMMENT_PARTS`]); when the output does not fit, the last part says how much was left out
//! and where the full log is.
//!
//! The first part edits the command's comment; the others are posted once and edited in place
//! afterwards ([`place`] says which comment shows which part). A part no longer needed because
//! the body shrank shows [`NOTHING_MORE`] rather than stale output.
//!
//! Sizes are counted in bytes, which is never less than the characters or UTF-16 units hosts
//! count, so a part within the limit is within every host's limit; cuts fall on character
//! boundaries.

pub mod render;
pub mod table;

use std::fmt::Write as _;

pub use render::{render, render_project};

/// How to split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitOptions {
    /// The most bytes in one comment (the adapter's `comment_limit`).
    pub limit: usize,
    /// The most comments one command run may post.
    pub max_parts: usize,
    /// Markdown saying where the full log is (links, how long they are valid), appended to the
    /// notice of a truncated last part.
    pub full_log: Option<String>,
}

impl SplitOptions {
    /// `limit` bytes, at most `max_parts` comments, no log link.
    #[must_use]
    pub fn new(limit: usize, max_parts: usize) -> Self {
        SplitOptions {
            limit,
            max_parts,
            full_log: None,
        }
    }
}

/// The smallest limit we split at; below it the markers alone would not fit.
pub const MIN_LIMIT: usize = 512;

/// The most comments one command run's output takes: the command's own comment and up to nine
/// more. Ten parts hold 640 KiB on GitHub (320 KiB on Bitbucket), more than a reviewer reads in
/// a PR; past that the last part links the full log instead, and the PR stays readable.
pub const MAX_COMMENT_PARTS: usize = 10;

/// What a part comment shows once the body no longer needs it (the output shrank on a re-run).
pub const NOTHING_MORE: &str = "*(Continued above; nothing more.)*";

/// What a part comment shows when a concurrent run posted the same part first: the other run's
/// comment is the one kept up to date. Hosts let us edit a comment, not always delete it.
pub const SUPERSEDED: &str = "*(Posted twice by runs finishing at once; the output continues in \
                              the comments above.)*";

const FOOTER: &str = "\n*Continued in the next comment.*";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Block {
    /// A code fence: the marker (```` ``` ```` or `~~~`, maybe longer) and the opening line.
    Fence { marker: String, open: String },
    /// A `<details>` block and its summary, if seen.
    Details { summary: Option<String> },
}

fn fence_marker(line: &str) -> Option<String> {
    let t = line.trim_start();
    let ch = t.chars().next()?;
    if ch != '`' && ch != '~' {
        return None;
    }
    let n = t.chars().take_while(|c| *c == ch).count();
    // CommonMark: the info string of a backtick fence cannot hold a backtick.
    let info_ok = ch != '`' || !t[n..].contains('`');
    (n >= 3 && info_ok).then(|| ch.to_string().repeat(n))
}

/// The longest opening line a reopened fence repeats: the marker and the start of its info
/// string (the language) are what matter, and a part must not fill up with openers.
const MAX_REOPEN: usize = 64;

fn summary_of(line: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let start = lower.find("<summary>")? + "<summary>".len();
    let end = lower[start..]
        .find("</summary>")
        .map_or(line.len(), |e| start + e);
    Some(line[start..end].trim().to_owned())
}

/// The block stack after `line`.
fn step(stack: &mut Vec<Block>, line: &str) {
    let content = line.trim_end_matches(['\n', '\r']);
    if let Some(Block::Fence { marker, .. }) = stack.last() {
        let t = content.trim();
        let m = marker.chars().next().unwrap_or('`');
        if t.len() >= marker.len() && t.chars().all(|c| c == m) {
            stack.pop();
        }
        return;
    }
    if let Some(marker) = fence_marker(content) {
        stack.push(Block::Fence {
            open: prefix_at_most(content.trim_start(), MAX_REOPEN.max(marker.len())).to_owned(),
            marker,
        });
        return;
    }
    let lower = content.to_ascii_lowercase();
    if lower.contains("<details") {
        stack.push(Block::Details {
            summary: summary_of(content),
        });
    } else if let Some(Block::Details { summary }) = stack.last_mut()
        && summary.is_none()
        && lower.contains("<summary>")
    {
        *summary = summary_of(content);
    }
    if lower.contains("</details>") && matches!(stack.last(), Some(Block::Details { .. })) {
        stack.pop();
    }
}

fn closers(stack: &[Block]) -> String {
    let mut out = String::new();
    for b in stack.iter().rev() {
        match b {
            Block::Fence { marker, .. } => {
                out.push_str(marker);
                out.push('\n');
            }
            Block::Details { .. } => out.push_str("</details>\n"),
        }
    }
    out
}

fn openers(stack: &[Block]) -> String {
    let mut out = String::new();
    for b in stack {
        match b {
            Block::Fence { open, .. } => {
                out.push_str(open);
                out.push('\n');
            }
            Block::Details { summary } => {
                let s = summary.as_deref().unwrap_or("Output");
                let _ = write!(out, "<details open><summary>{s} (continued)</summary>\n\n");
            }
        }
    }
    out
}

fn truncation_notice(left_out: usize, full_log: Option<&str>) -> String {
    match full_log {
        Some(full_log) => {
            format!("\n**Output truncated:** {left_out} more bytes are not shown. {full_log}")
        }
        None => format!("\n**Output truncated:** {left_out} more bytes are not shown."),
    }
}

/// The largest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix_at_most(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Splits `body` into comments of at most `options.limit` bytes each, at most
/// `options.max_parts` of them.
#[must_use]
pub fn split(body: &str, options: &SplitOptions) -> Vec<String> {
    let limit = options.limit.max(MIN_LIMIT);
    let max_parts = options.max_parts.max(1);
    if body.len() <= limit {
        return vec![body.to_owned()];
    }
    // The longest notice we could need: the whole body left out.
    let notice_reserve = truncation_notice(body.len(), options.full_log.as_deref()).len();

    let mut parts: Vec<String> = Vec::new();
    let mut stack: Vec<Block> = Vec::new();
    let mut current = String::new();
    let mut fresh = 0; // length of the header and openers of the current part
    // The rest of a line cut in two starts a line of the next part, and is parsed as one, the
    // way the host renders it.
    let mut pending: Vec<&str> = body.split_inclusive('\n').rev().collect();
    let mut consumed = 0usize;

    while let Some(line) = pending.pop() {
        let last_allowed = parts.len() + 1 == max_parts;
        let tail_reserve = if last_allowed {
            notice_reserve
        } else {
            FOOTER.len()
        };
        let mut after = stack.clone();
        step(&mut after, line);
        // A line that ends inside the body needs its newline before the closers.
        let newline = usize::from(!line.ends_with('\n'));
        let needed = current.len() + line.len() + newline + closers(&after).len() + tail_reserve;
        if needed <= limit {
            current.push_str(line);
            consumed += line.len();
            stack = after;
            continue;
        }
        if current.len() > fresh {
            // Close this part here and carry on in the next.
            if !current.ends_with('\n') {
                current.push('\n');
            }
            current.push_str(&closers(&stack));
            if last_allowed {
                let left_out = body.len() - consumed;
                current.push_str(&truncation_notice(left_out, options.full_log.as_deref()));
                parts.push(current);
                return parts;
            }
            current.push_str(FOOTER);
            parts.push(std::mem::take(&mut current));
            let _ = write!(
                current,
                "*Continued from the previous comment (part {}).*\n\n",
                parts.len() + 1
            );
            current.push_str(&openers(&stack));
            fresh = current.len();
            pending.push(line);
            continue;
        }
        // The line alone is too long for an empty part: cut it. The host renders its head as a
        // line of its own, so the head may open a block, which the cut then closes.
        let closing = closers(&stack).len().max(closers(&after).len());
        let room = limit
            .saturating_sub(current.len() + 1 + closing + tail_reserve)
            .max(1);
        let head = prefix_at_most(line, room);
        let head = if head.is_empty() {
            &line[..line.chars().next().map_or(0, char::len_utf8)]
        } else {
            head
        };
        current.push_str(head);
        consumed += head.len();
        step(&mut stack, head);
        pending.push(&line[head.len()..]);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Which comment shows which part of a split body. The first part always goes to the command's
/// own comment; the others to the extra comments posted for earlier versions of the body, in
/// order, and to new comments when there are not enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement<'a> {
    /// The extra comments to edit, each with the body it should now show: its part, or
    /// [`NOTHING_MORE`] when the body no longer reaches it.
    pub edits: Vec<(&'a str, &'a str)>,
    /// The parts that have no comment yet, to post in order.
    pub posts: &'a [String],
}

/// Places `parts` (from [`split`]) on the extra comments `ids` already posted for them.
#[must_use]
pub fn place<'a>(parts: &'a [String], ids: &'a [String]) -> Placement<'a> {
    let extra = parts.get(1..).unwrap_or_default();
    let edits = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                id.as_str(),
                extra.get(i).map_or(NOTHING_MORE, String::as_str),
            )
        })
        .collect();
    Placement {
        edits,
        posts: extra.get(ids.len()..).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fenced_plan(lines: usize) -> String {
        let mut s = String::from(
            "### Plan for `envs/prod`\n\n<details><summary>Show output</summary>\n\n```diff\n",
        );
        for i in 0..lines {
            let _ = writeln!(
                s,
                "+ resource \"terraform_data\" \"r{i}\" {{ input = \"{i}\" }}"
            );
        }
        s.push_str("```\n</details>\n\nPlan: many to add.\n");
        s
    }

    fn balanced(part: &str) -> bool {
        let mut stack = Vec::new();
        for line in part.split_inclusive('\n') {
            step(&mut stack, line);
        }
        stack.is_empty()
    }

    #[test]
    fn a_comment_within_the_limit_is_left_alone() {
        let body = fenced_plan(3);
        assert_eq!(split(&body, &SplitOptions::new(65_536, 10)), [body]);
    }

    #[test]
    fn every_part_fits_and_closes_what_it_opened() {
        let body = fenced_plan(2_000);
        let parts = split(&body, &SplitOptions::new(10_000, 50));
        assert!(parts.len() > 5);
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= 10_000, "part {i} is {} bytes", p.len());
            assert!(balanced(p), "part {i} leaves a block open:\n{p}");
        }
        assert!(parts[1].starts_with("*Continued from the previous comment (part 2).*\n\n<details open><summary>Show output (continued)</summary>\n\n```diff\n"));
        assert!(parts[0].ends_with("```\n</details>\n\n*Continued in the next comment.*"));
        assert!(parts.last().unwrap().ends_with("Plan: many to add.\n"));
    }

    #[test]
    fn no_line_is_lost_or_repeated() {
        let body = fenced_plan(1_500);
        let parts = split(&body, &SplitOptions::new(4_096, 100));
        let joined = parts.join("\n");
        for i in 0..1_500 {
            let needle = format!("\"r{i}\" ");
            assert_eq!(joined.matches(&needle).count(), 1, "{needle}");
        }
    }

    #[test]
    fn too_many_parts_are_capped_with_a_link_to_the_full_log() {
        let body = fenced_plan(5_000);
        let options = SplitOptions {
            limit: 8_000,
            max_parts: 3,
            full_log: Some("[Full log](https://logs.example.com/run/1)".into()),
        };
        let parts = split(&body, &options);
        assert_eq!(parts.len(), 3);
        let last = &parts[2];
        assert!(last.len() <= 8_000);
        assert!(balanced(last));
        assert!(last.contains("**Output truncated:** "));
        assert!(last.ends_with("[Full log](https://logs.example.com/run/1)"));
    }

    #[test]
    fn one_huge_line_is_cut_on_character_boundaries() {
        let body = format!("```\n{}\n```\n", "é".repeat(20_000));
        let parts = split(&body, &SplitOptions::new(4_096, 100));
        assert!(parts.len() >= 10);
        for p in &parts {
            assert!(p.len() <= 4_096);
            assert!(balanced(p), "{p}");
        }
        let total: usize = parts.iter().map(|p| p.matches('é').count()).sum();
        assert_eq!(total, 20_000);
    }

    #[test]
    fn tildes_and_longer_fences_are_closed_with_their_own_marker() {
        let mut body = String::from("~~~~hcl\n");
        for _ in 0..500 {
            body.push_str("x = 1\n");
        }
        body.push_str("~~~~\n");
        let parts = split(&body, &SplitOptions::new(1_024, 100));
        assert!(parts[0].contains("\n~~~~\n"));
        assert!(parts[1].contains("~~~~hcl\n"));
    }

    #[test]
    fn backticks_inside_a_long_line_never_open_or_close_a_fence_at_a_cut() {
        // Wherever the cuts fall, the pieces of this line start with backticks; none is a fence.
        for repeat in 3_000..3_008 {
            let mut body = format!("Output:\n{}\n", "x```".repeat(repeat));
            for i in 0..300 {
                let _ = writeln!(body, "line {i}");
            }
            let parts = split(&body, &SplitOptions::new(1_024, 100));
            for (i, p) in parts.iter().enumerate() {
                assert!(p.len() <= 1_024, "part {i} is {} bytes", p.len());
                assert!(
                    !p.contains("\n```\n"),
                    "part {i} closes a fence nobody opened:\n{p}"
                );
            }
            let backticks: usize = parts.iter().map(|p| p.matches('`').count()).sum();
            assert_eq!(backticks, 3 * repeat, "no backtick lost or added");
        }
    }

    #[test]
    fn a_fence_with_a_huge_opening_line_is_reopened_with_its_marker_and_language_only() {
        let mut body = format!("```hcl {}\n", "a".repeat(5_000));
        for i in 0..400 {
            let _ = writeln!(body, "x = {i}");
        }
        body.push_str("```\n");
        let parts = split(&body, &SplitOptions::new(1_024, 100));
        for p in &parts[1..] {
            assert!(p.len() <= 1_024 && balanced(p), "{p}");
        }
        let last = parts.last().unwrap();
        assert!(last.contains("\n```hcl aaaa"), "{last}");
        assert!(!last.contains(&"a".repeat(MAX_REOPEN)), "{last}");
        assert!(last.ends_with("x = 399\n```\n"), "{last}");
    }

    #[test]
    fn a_split_plan_reads_as_separate_well_formed_comments() {
        let body = fenced_plan(40);
        let options = SplitOptions {
            limit: 900,
            max_parts: 2,
            full_log: Some("[Full log](https://logs.example.com/run/1) (valid 7 days)".into()),
        };
        let parts = split(&body, &options);
        insta::assert_snapshot!(parts.join("\n\n======== next comment ========\n\n"));
    }

    fn parts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("part {i}")).collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn parts_without_a_comment_yet_are_posted_and_the_rest_edited_in_place() {
        let (parts, none) = (parts(3), ids(0));
        let first = place(&parts, &none);
        assert_eq!(first.edits, vec![]);
        assert_eq!(first.posts, ["part 2", "part 3"]);
        let known = ids(2);
        let again = place(&parts, &known);
        assert_eq!(again.edits, vec![("c1", "part 2"), ("c2", "part 3")]);
        assert!(again.posts.is_empty(), "nothing is posted twice");
        let one = ids(1);
        let grown = place(&parts, &one);
        assert_eq!(grown.edits, vec![("c1", "part 2")]);
        assert_eq!(grown.posts, ["part 3"]);
    }

    #[test]
    fn parts_a_shorter_body_no_longer_needs_say_so_instead_of_showing_stale_output() {
        let (single, known) = (parts(1), ids(2));
        let shrunk = place(&single, &known);
        assert_eq!(
            shrunk.edits,
            vec![("c1", NOTHING_MORE), ("c2", NOTHING_MORE)]
        );
        assert!(shrunk.posts.is_empty());
        let none: Vec<String> = Vec::new();
        assert_eq!(
            place(&none, &known).edits.len(),
            2,
            "an empty split is one empty part"
        );
    }
}
