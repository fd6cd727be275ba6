//! Project selection on a generated monorepo of 5,000 projects with a PR touching 3,000 files,
//! side by side in one run:
//!
//! - `index`: [`ProjectIndex`], compiling included in the timing;
//! - `naive`: the loop Atlantis runs, every project x every file x every pattern (the project dir
//!   joined to the pattern), with every glob compiled once *outside* the timing, which favours it;
//! - `pruned_loop`: [`naive_matching`], every project x every file x every pattern but skipping
//!   the glob when the file is not under the pattern's directory (the reference the tests use).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use globset::{GlobBuilder, GlobMatcher};
use landfall_function::projects::{PatternInput, ProjectIndex, naive_matching};
use landfall_function::repo_config::normalize_dir;

/// One project's patterns joined to its directory and compiled, as Atlantis does: the pattern
/// and "everything under it", and whether it negates. `None`: climbs out of the repo.
type Compiled = Vec<(Option<(GlobMatcher, GlobMatcher)>, bool)>;

fn compile_joined(dir: &str, patterns: &[String]) -> Compiled {
    let glob = |p: &str| {
        GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .unwrap()
            .compile_matcher()
    };
    patterns
        .iter()
        .map(|p| {
            let (neg, body) = p
                .strip_prefix('!')
                .map_or((false, p.as_str()), |b| (true, b));
            let joined = normalize_dir(&format!("{dir}/{body}"));
            (joined.map(|j| (glob(&j), glob(&format!("{j}/**")))), neg)
        })
        .collect()
}

fn naive_loop(projects: &[Compiled], files: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, patterns) in projects.iter().enumerate() {
        let hit = files.iter().any(|f| {
            let mut selected = false;
            for (glob, neg) in patterns {
                if let Some((g, under)) = glob
                    && (g.is_match(f) || under.is_match(f))
                {
                    selected = !neg;
                }
            }
            selected
        });
        if hit {
            out.push(i);
        }
    }
    out
}

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
    assert_eq!(fast, naive, "the index and the pruned loop must agree");
    let compiled: Vec<Compiled> = projects
        .iter()
        .map(|(dir, patterns)| compile_joined(dir, patterns))
        .collect();
    assert_eq!(
        fast,
        naive_loop(&compiled, &files),
        "the index and the naive loop must agree"
    );
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
