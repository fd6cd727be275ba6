//! The fast `when_modified` index answers exactly as the naive loop does, on random projects,
//! patterns and files.

use landfall_function::projects::{PatternInput, ProjectIndex, naive_matching};
use proptest::prelude::*;

fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b",
        "modules",
        "env",
        "x.tf",
        "y.tfvars",
        "terragrunt.hcl",
        "README.md",
    ])
    .prop_map(str::to_owned)
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..5).prop_map(|v| v.join("/"))
}

fn dir() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(".".to_owned()),
        prop::collection::vec(prop::sample::select(vec!["a", "b", "env", "modules"]), 1..4)
            .prop_map(|v| v.join("/")),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::sample::select(vec!["", "../", "../../", "./"]),
        prop::sample::select(vec![
            "**/*.tf*",
            "*.tf",
            "**/terragrunt.hcl",
            "modules/**",
            "env",
            "a/*.tf",
            "**",
            "x.tf",
            "*/b/**/*.tfvars",
        ]),
    )
        .prop_map(|(neg, up, body)| format!("{}{up}{body}", if neg { "!" } else { "" }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]
    #[test]
    fn the_index_and_the_naive_loop_agree(
        projects in prop::collection::vec((dir(), prop::collection::vec(pattern(), 1..4)), 1..8),
        files in prop::collection::vec(path(), 0..12),
    ) {
        let inputs: Vec<PatternInput<'_>> = projects
            .iter()
            .map(|(d, p)| PatternInput { dir: d, patterns: p })
            .collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let fast = ProjectIndex::new(inputs.iter().copied()).unwrap().matching(&files);
        let naive = naive_matching(inputs.iter().copied(), &files).unwrap();
        prop_assert_eq!(fast, naive);
    }
}
