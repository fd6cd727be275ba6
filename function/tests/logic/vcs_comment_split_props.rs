//! Comment splitting never panics, never exceeds the limit or the part cap, and leaves no fence
//! or `<details>` block open where it cuts, for arbitrary Markdown-ish input.

use landfall_function::comment::{SplitOptions, split};
use proptest::prelude::*;

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("```diff".to_owned()),
        Just("```".to_owned()),
        Just("~~~".to_owned()),
        Just("<details><summary>Plan</summary>".to_owned()),
        Just("</details>".to_owned()),
        "[a-zé +=\"{}-]{0,300}",
    ]
}

fn open_blocks(part: &str) -> i64 {
    // Count fences outside fences and details outside fences, the way a renderer would.
    let mut fence: Option<char> = None;
    let mut details = 0i64;
    for l in part.lines() {
        let t = l.trim();
        match fence {
            Some(c) => {
                if t.len() >= 3 && t.chars().all(|x| x == c) {
                    fence = None;
                }
            }
            None => {
                if t.starts_with("```") || t.starts_with("~~~") {
                    fence = t.chars().next();
                } else if t.contains("<details") {
                    details += 1;
                } else if t.contains("</details>") && details > 0 {
                    details -= 1;
                }
            }
        }
    }
    details + i64::from(fence.is_some())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn parts_fit_are_capped_and_balanced(lines in prop::collection::vec(line(), 0..200), limit in 512usize..3000, max_parts in 1usize..6) {
        let body = lines.join("\n");
        let parts = split(&body, &SplitOptions { limit, max_parts, full_log: Some("[Full log](https://x/log)".into()) });
        prop_assert!(parts.len() <= max_parts);
        if body.len() > limit {
            for (i, p) in parts.iter().enumerate() {
                prop_assert!(p.len() <= limit, "part of {} bytes over {limit}", p.len());
                // The input itself may leave blocks open; every cut must not.
                let cut_here = i + 1 < parts.len() || p.contains("**Output truncated:**");
                if cut_here {
                    prop_assert_eq!(open_blocks(p), 0, "unbalanced part:\n{}", p);
                }
            }
        }
    }
}
