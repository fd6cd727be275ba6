//! `landfall-runner`: runs one Terraform plan or apply inside a Kubernetes Job (or as a local
//! process) and reports back. Everything lives in [`landfall_function::runner`].

fn main() -> std::process::ExitCode {
    landfall_function::runner::main()
}
