//! Every environment variable Landfall reads, named once. The names are the product's interface:
//! the rendered Terraform, the Job spec and the docs use them. Only [`super::process`] reads
//! the process environment; everything else parses the values it is given.

pub use crate::run::env_vars as run;

/// The VCS host: `github`, `gitlab`, `azure-devops`, `bitbucket-cloud`, `bitbucket-server`, `gitea`.
pub const VCS: &str = "LANDFALL_VCS";
/// The host's API base URL.
pub const VCS_URL: &str = "LANDFALL_VCS_URL";
/// The API token.
pub const VCS_TOKEN: &str = "LANDFALL_VCS_TOKEN";
/// The Secrets Manager ARN holding the API token.
pub const VCS_TOKEN_ARN: &str = "LANDFALL_VCS_TOKEN_ARN";
/// A GitHub App's numeric id (instead of a token, with `LANDFALL_VCS=github`).
pub const GITHUB_APP_ID: &str = "LANDFALL_GITHUB_APP_ID";
/// The GitHub App's private key (PEM).
pub const GITHUB_APP_KEY: &str = "LANDFALL_GITHUB_APP_KEY";
/// The Secrets Manager ARN holding the GitHub App's private key.
pub const GITHUB_APP_KEY_ARN: &str = "LANDFALL_GITHUB_APP_KEY_ARN";
/// The GitHub App installation to act as (optional: else found per repository).
pub const GITHUB_INSTALLATION_ID: &str = "LANDFALL_GITHUB_INSTALLATION_ID";
/// The webhook secret (for Azure DevOps, the basic-auth `user:password`).
pub const WEBHOOK_SECRET: &str = "LANDFALL_WEBHOOK_SECRET";
/// The Secrets Manager ARN holding the webhook secret.
pub const WEBHOOK_SECRET_ARN: &str = "LANDFALL_WEBHOOK_SECRET_ARN";
/// `true` to accept legacy SHA-1 signatures (`X-Hub-Signature: sha1=`).
pub const WEBHOOK_ALLOW_SHA1: &str = "LANDFALL_WEBHOOK_ALLOW_SHA1";
/// Comma-separated globs of repositories that may use this deployment.
pub const REPO_ALLOWLIST: &str = "LANDFALL_REPO_ALLOWLIST";
/// `dynamodb` or `embedded`.
pub const STORE: &str = "LANDFALL_STORE";
/// The DynamoDB table (with `LANDFALL_STORE=dynamodb`).
pub const TABLE: &str = "LANDFALL_TABLE";
/// The S3 bucket (with `LANDFALL_STORE=dynamodb`).
pub const BUCKET: &str = "LANDFALL_BUCKET";
/// The data directory (with `LANDFALL_STORE=embedded`).
pub const DATA_DIR: &str = "LANDFALL_DATA_DIR";
/// `kubernetes` or `local`.
pub const DISPATCH: &str = "LANDFALL_DISPATCH";
/// The runners' namespace (with `LANDFALL_DISPATCH=kubernetes`).
pub const RUNNER_NAMESPACE: &str = "LANDFALL_RUNNER_NAMESPACE";
/// The runner image (with `LANDFALL_DISPATCH=kubernetes`).
pub const RUNNER_IMAGE: &str = "LANDFALL_RUNNER_IMAGE";
/// The runners' service account (with `LANDFALL_DISPATCH=kubernetes`).
pub const RUNNER_SERVICE_ACCOUNT: &str = "LANDFALL_RUNNER_SERVICE_ACCOUNT";
/// The service account of apply Jobs (with `LANDFALL_DISPATCH=kubernetes`; default: the plan
/// Jobs' `LANDFALL_RUNNER_SERVICE_ACCOUNT`).
pub const RUNNER_APPLY_SERVICE_ACCOUNT: &str = "LANDFALL_RUNNER_APPLY_SERVICE_ACCOUNT";
/// The operator's server-side policy (Atlantis `repos.yaml` format).
pub const POLICY: &str = "LANDFALL_POLICY";
/// The Slack-compatible webhook that drift checks report to (a credential: https only, http
/// only for localhost).
pub const DRIFT_WEBHOOK_URL: &str = "LANDFALL_DRIFT_WEBHOOK_URL";
/// The Secrets Manager ARN holding the drift webhook's URL.
pub const DRIFT_WEBHOOK_URL_ARN: &str = "LANDFALL_DRIFT_WEBHOOK_URL_ARN";
/// `true`: PR events plan nothing on any repository (comments still work); Atlantis'
/// `--disable-autoplan`.
pub const DISABLE_AUTOPLAN: &str = "LANDFALL_DISABLE_AUTOPLAN";
/// The comment commands this deployment runs, comma-separated (`all`, or names such as
/// `plan,apply,unlock,version`); Atlantis' `--allow-commands`. Default: all but `import` and
/// `state`.
pub const ALLOW_COMMANDS: &str = "LANDFALL_ALLOW_COMMANDS";
/// The login comments may address the bot by (`@landfall-bot plan`), beside the words
/// `landfall` and `atlantis`; Atlantis' `--gh-user`, `--gitlab-user`, ... Unset: an @-mention
/// addresses nothing.
pub const BOT_USER: &str = "LANDFALL_BOT_USER";
/// `true`: a draft pull request is planned by its events like any other; Atlantis'
/// `--allow-draft-prs`. Default: a draft is planned once marked ready, or by a comment.
pub const ALLOW_DRAFT_PRS: &str = "LANDFALL_ALLOW_DRAFT_PRS";
/// The name statuses start with (`<name>/plan`, `<name>/plan: <project>`); Atlantis'
/// `--vcs-status-name`. `atlantis` keeps the checks branch protection already requires.
/// Default: `landfall`.
pub const VCS_STATUS_NAME: &str = "LANDFALL_VCS_STATUS_NAME";
/// The largest webhook body accepted, in bytes.
pub const MAX_BODY_BYTES: &str = "LANDFALL_MAX_BODY_BYTES";
/// `serve` only: seconds a client has to send its request headers, and then its whole body.
pub const BODY_TIMEOUT_SECS: &str = "LANDFALL_BODY_TIMEOUT_SECS";
/// `serve` only: the most connections served at once (more wait in the accept queue).
pub const MAX_CONNECTIONS: &str = "LANDFALL_MAX_CONNECTIONS";
/// `serve` only: the bytes all request bodies being read may hold together.
pub const BODY_BUDGET_BYTES: &str = "LANDFALL_BODY_BUDGET_BYTES";
/// `serve` only: seconds between sweeps (default 60; `0` turns the sweeper off).
pub const SWEEP_SECS: &str = "LANDFALL_SWEEP_SECS";
/// `serve` only: seconds between drift sweeps (default 3600; `0` turns drift checks off).
pub const DRIFT_SECS: &str = "LANDFALL_DRIFT_SECS";
/// The log filter (`tracing` directives, e.g. `info,landfall_function=debug`).
pub const LOG: &str = "LANDFALL_LOG";
/// `true` to let runners clone `file://` URLs (local use and tests; never in production).
pub const ALLOW_FILE_CLONE: &str = "LANDFALL_ALLOW_FILE_CLONE";
/// Set by AWS Lambda: the runtime API's address. Its presence means "running under Lambda".
pub const LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// The SDK's endpoint override (moto in tests); S3 then uses path-style addressing.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// The AWS SDK's S3-only endpoint override.
pub const AWS_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
/// Set by the Lambda runtime: the function's name.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// Set by the Lambda runtime: the version it runs (`$LATEST` or a number).
pub const AWS_LAMBDA_FUNCTION_VERSION: &str = "AWS_LAMBDA_FUNCTION_VERSION";
/// How a Lambda invocation hands work on (`LANDFALL_HANDOFF`), see `handoff.rs`.
pub const HANDOFF: &str = "LANDFALL_HANDOFF";
/// The function hand-offs are sent to (a name or an ARN); unset, the function itself.
pub const HANDOFF_FUNCTION: &str = "LANDFALL_HANDOFF_FUNCTION";
/// The EKS cluster to dispatch Jobs to (with `LANDFALL_DISPATCH=kubernetes` under Lambda).
pub const EKS_CLUSTER: &str = "LANDFALL_EKS_CLUSTER";
/// The EKS cluster's API endpoint.
pub const EKS_ENDPOINT: &str = "LANDFALL_EKS_ENDPOINT";
/// The EKS cluster's CA bundle, base64.
pub const EKS_CA_DATA: &str = "LANDFALL_EKS_CA_DATA";
/// The kubeconfig files to read outside a cluster (`:`-separated).
pub const KUBECONFIG: &str = "KUBECONFIG";
/// The user's home directory (the default kubeconfig, and Terraform's CLI config).
pub const HOME: &str = "HOME";
/// Where the runner finds `terraform` and `tofu` when they are given by name (at start-up).
pub const PATH: &str = "PATH";
/// The `landfall-runner` binary local dispatch starts (default: beside this binary).
pub const RUNNER: &str = "LANDFALL_RUNNER";
/// The fallback log filter when `LANDFALL_LOG` is unset.
pub const RUST_LOG: &str = "RUST_LOG";

// The runner's own settings (its run is the `LANDFALL_RUN_*` variables of [`crate::run::env`]).

/// Where the runner clones and writes (default: `<tmp>/landfall-run`).
pub const WORK_DIR: &str = "LANDFALL_WORK_DIR";
/// The `terraform` binary (default: `terraform` on `PATH`).
pub const TERRAFORM: &str = "LANDFALL_TERRAFORM";
/// The `tofu` binary, for projects with `terraform_distribution: opentofu` (default: `tofu` on
/// `PATH`).
pub const TOFU: &str = "LANDFALL_TOFU";
/// The shared provider plugin cache (default: `<work dir>/plugin-cache`).
pub const PLUGIN_CACHE_DIR: &str = "LANDFALL_PLUGIN_CACHE_DIR";
/// A folder of Terraform versions, `<dir>/<version>/terraform`, for projects that pin
/// `terraform_version`.
pub const TERRAFORM_VERSIONS_DIR: &str = "LANDFALL_TERRAFORM_VERSIONS_DIR";
/// The grace period between SIGINT and SIGKILL, in seconds (default 30).
pub const RUN_GRACE: &str = "LANDFALL_RUN_GRACE";
/// The file where a local runner writes its [`crate::run::RunReport`].
pub const RUN_REPORT: &str = "LANDFALL_RUN_REPORT";
/// The host the git credential helper answers for.
pub const GIT_CREDENTIAL_HOST: &str = "LANDFALL_GIT_CREDENTIAL_HOST";
/// The file the git credential helper reads the token from.
pub const GIT_TOKEN_FILE: &str = "LANDFALL_GIT_TOKEN_FILE";
/// The git credential user name (`x-access-token` by default).
pub const GIT_USERNAME: &str = "LANDFALL_GIT_USERNAME";
/// Set on the runner when it re-executes itself with its token on standard input.
pub const VCS_TOKEN_ON_STDIN: &str = "LANDFALL_VCS_TOKEN_ON_STDIN";
/// The function's own base URL as runners reach it: they post their report to `<it>/runs/report`.
/// Under Lambda the default is the function's URL (read with `lambda:GetFunctionUrlConfig`);
/// `serve` with local dispatch waits for its runners' reports instead.
pub const REPORT_URL: &str = "LANDFALL_REPORT_URL";
/// Where the runner posts its report (`<LANDFALL_REPORT_URL>/runs/report`), given per run.
pub const RUN_REPORT_URL: &str = "LANDFALL_RUN_REPORT_URL";
/// The run's report credential, minted by the function for this run only (see
/// [`crate::run::report_auth`]); taken off the runner's environment with its token.
pub const RUN_REPORT_TOKEN: &str = "LANDFALL_RUN_REPORT_TOKEN";
/// The run's artifact links (JSON): a presigned PUT for each key the run may write and a
/// presigned GET for the planfile an apply reads; taken off the environment with the token.
pub const RUN_ARTIFACTS: &str = "LANDFALL_RUN_ARTIFACTS";
