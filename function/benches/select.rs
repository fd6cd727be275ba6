//! Project selection on a generated monorepo of 5,000 projects with a PR touching 3,000 files:
//! the index (distinct pattern lists compiled once, each project scanning only the sorted files
//! under its literal prefixes) against the naive loop (every project x every file x every
//! pattern, each distinct glob compiled once), side by side in one run. Both include compiling.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use landfall_function::projects::{PatternInput, ProjectIndex, naive_matching};

const PROJECTS: usize = 5_000;
const FILES: usize = 3_000;

fn monorepo() -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let defaults: Vec<String> = ["**/*.tf*", "**/terragrunt.hcl", "**/.terraform.lock.hcl"]
        .map(str::to_owned)
        .to_vec();
    let with_module: Vec<String> = ["**/*.tf*", "../../../modules/net/**/*.tf"]
        .map(str::to_owned)
        .to_vec();
    let custom: Vec<String> = ["*.tf", "*.tfvars", "!generated.tf", "../../shared/**/*.hcl"]
        .map(str::to_owned)
        .to_vec();
    let projects = (0..PROJECTS)
        .map(|i| {
            let dir = format!("stacks/g{}/p{i}/live", i / 100);
            let patterns = match i % 25 {
                0 => custom.clone(),
                n if n % 10 == 0 => with_module.clone(),
                _ => defaults.clone(),
            };
            (dir, patterns)
        })
        .collect();
    let files = (0..FILES)
        .map(|i| match i % 6 {
            0..=2 => format!(
                "stacks/g{}/p{}/live/main.tf",
                (i * 7 % PROJECTS) / 100,
                i * 7 % PROJECTS
            ),
            3 => format!(
                "stacks/g{}/p{}/live/env/prod.tfvars",
                (i * 11 % PROJECTS) / 100,
                i * 11 % PROJECTS
            ),
            4 => format!("modules/m{}/main.tf", i % 50),
            _ => format!("docs/page{i}.md"),
        })
        .collect();
    (projects, files)
}

fn select(c: &mut Criterion) {
    let (projects, files) = monorepo();
    let inputs: Vec<PatternInput<'_>> = projects
        .iter()
        .map(|(dir, patterns)| PatternInput { dir, patterns })
        .collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();

    let fast = ProjectIndex::new(inputs.iter().copied())
        .unwrap()
        .matching(&files);
    let naive = naive_matching(inputs.iter().copied(), &files).unwrap();
    assert_eq!(fast, naive, "the index and the naive loop must agree");
    println!(
        "selected {} of {PROJECTS} projects for {FILES} changed files",
        fast.len()
    );

    let mut group = c.benchmark_group("select_5000_projects_3000_files");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("index", |b| {
        b.iter(|| {
            let index = ProjectIndex::new(black_box(&inputs).iter().copied()).unwrap();
            black_box(index.matching(black_box(&files)))
        });
    });
    group.bench_function("naive", |b| {
        b.iter(|| {
            black_box(
                naive_matching(black_box(&inputs).iter().copied(), black_box(&files)).unwrap(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
