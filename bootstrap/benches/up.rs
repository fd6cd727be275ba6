//! `landfall up`'s own overhead beside the Terraform it runs: a first run from a rendered folder
//! and no-op second runs, against moto, the real `terraform` and a fake GitHub (the test
//! stages of `tests/integration/up.rs`). `landfall up` reports the time its Terraform children
//! took; the rest is its own (SDK calls, the host's API, files). Run with
//! `cargo bench -p landfall --bench up`; targets: at most 2 s of our own per run, a no-op
//! second run under 5 s.

#[allow(dead_code, clippy::all, clippy::pedantic)]
#[path = "../tests/integration/up.rs"]
mod fixture;

use std::time::Instant;

fn own_time(stdout: &str) -> (f64, f64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("took "))
        .unwrap_or_else(|| panic!("no timing line in: {stdout}"));
    let numbers: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|s| s.parse().ok())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("up: bench");
        return;
    }
    let f = fixture::Fixture::new();
    f.fake_github();
    let runs = [("first run", 1), ("no-op second run", 5)];
    for (label, n) in runs {
        let mut own = Vec::new();
        for _ in 0..n {
            let started = Instant::now();
            // The fixture names the runner image (`--runner-image`): nothing is built.
            let out = f.up(&[]);
            let wall = started.elapsed().as_secs_f64();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (total, tf, mine) = own_time(&stdout);
            println!(
                "{label}: wall {wall:.2}s, reported {total:.2}s = Terraform {tf:.2}s + landfall {mine:.2}s"
            );
            own.push(mine);
        }
        own.sort_by(f64::total_cmp);
        println!(
            "{label}: landfall's own time median {:.2}s over {n} run(s)",
            own[own.len() / 2]
        );
    }
}
