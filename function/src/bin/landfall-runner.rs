//! `landfall-runner`: runs one Terraform plan or apply inside a Kubernetes Job.

fn main() {
    eprintln!("landfall-runner: nothing to run yet");
    std::process::exit(2);
}
