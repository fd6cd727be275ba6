//! Rendering speed: a config with 200 and 2,000 apps, in memory and into a folder, and a
//! re-render of an unchanged config (which must write nothing).

use std::fmt::Write as _;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use landfall::config::Config;
use landfall::output;
use landfall::render::Renderer;

fn config_with_apps(count: usize) -> Config {
    let mut text = landfall::commands::demo::example_config().expect("the example renders");
    text.truncate(text.find("\n[[apps]]").expect("the example has apps"));
    for i in 0..count {
        write!(
            text,
            "\n[[apps]]\nname = \"app-{i}\"\nrepo_url = \"https://git.example.com/team-{}/app-{i}.git\"\npath = \"deploy/prod\"\nsync_wave = {}\n",
            i % 40,
            i % 7
        )
        .expect("writing to a string");
    }
    Config::parse(&text, Path::new("landfall.toml")).expect("a valid config")
}

fn render(c: &mut Criterion) {
    let renderer = Renderer::new();
    let mut group = c.benchmark_group("render");
    group.sample_size(20);
    for apps in [200, 2_000] {
        let config = config_with_apps(apps);
        group.bench_with_input(
            BenchmarkId::new("parse+render in memory", apps),
            &apps,
            |b, &apps| {
                b.iter(|| {
                    let tree = renderer.render(&config).expect("renders");
                    assert!(tree.len() > apps);
                    tree
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("render into an empty folder", apps),
            &apps,
            |b, _| {
                b.iter_batched(
                    || tempfile::tempdir().expect("a temporary folder"),
                    |dir| {
                        let tree = renderer.render(&config).expect("renders");
                        let changes = output::plan(dir.path(), &tree).expect("plans");
                        output::apply(dir.path(), &changes).expect("writes");
                        dir
                    },
                    criterion::BatchSize::PerIteration,
                );
            },
        );
        let dir = tempfile::tempdir().expect("a temporary folder");
        let tree = renderer.render(&config).expect("renders");
        output::apply(dir.path(), &output::plan(dir.path(), &tree).expect("plans"))
            .expect("writes");
        group.bench_with_input(
            BenchmarkId::new("re-render unchanged (writes nothing)", apps),
            &apps,
            |b, _| {
                b.iter(|| {
                    let tree = renderer.render(&config).expect("renders");
                    let changes = output::plan(dir.path(), &tree).expect("plans");
                    assert!(
                        changes.is_empty(),
                        "an unchanged config would write {} files",
                        changes.len()
                    );
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
