//! `landfall.toml`: the platform's one configuration file, its defaults, and its validation.
//!
//! Parsing keeps the byte span of every value that can be wrong, so each diagnostic names the file,
//! the line, the problem and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

mod unknown;
mod validate;
mod vcs_url;
pub(crate) use vcs_url::{VcsUrlIssue, vcs_url_issue};

/// The default name of the configuration file.
pub const DEFAULT_CONFIG_FILE: &str = "landfall.toml";

/// The Argo CD Application of the cluster-wide objects Landfall renders (`manifests/platform/`,
/// such as the default StorageClass); no app of `landfall.toml` may take its name.
pub const PLATFORM_APP: &str = "landfall-platform";
/// The root Application's name (the app of apps).
pub const ROOT_APP: &str = "landfall-root";
/// The file name (under `manifests/apps/`) of the runner's Application, whatever its namespace.
pub const RUNNER_APP_FILE: &str = "landfall-runner";

/// The retention periods CloudWatch Logs accepts, in days.
const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A parsed and validated `landfall.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub platform: Platform,
    #[serde(default)]
    pub state: State,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub cluster: Cluster,
    #[serde(default)]
    pub argocd: ArgoCd,
    pub gitops: GitOps,
    #[serde(default)]
    pub function: Function,
    #[serde(default)]
    pub apps: Vec<Spanned<App>>,
}

/// `[platform]`: what the platform is called and where it runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// Prefix of every AWS resource name; a DNS-1123 label of at most 24 characters.
    pub name: Spanned<String>,
    pub region: Spanned<String>,
    /// Extra tags on every AWS resource.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// `[state]`: the Terraform state backend created by the bootstrap stage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub bucket: Option<Spanned<String>>,
    pub lock_table: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    /// Days a noncurrent state version is kept.
    pub noncurrent_version_days: Option<Spanned<u32>>,
}

/// `[network]`: the VPC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default = "defaults::vpc_cidr")]
    pub vpc_cidr: Spanned<String>,
    #[serde(default = "defaults::availability_zones")]
    pub availability_zones: Spanned<u8>,
    /// One NAT gateway for the whole VPC (cheaper) instead of one per zone (resilient).
    #[serde(default = "defaults::yes")]
    pub single_nat_gateway: bool,
    /// Private blocks outside the VPC that runner pods may reach (a VCS host over peering, a
    /// transit gateway or a VPN); every other private address is closed to pull-request code.
    #[serde(default)]
    pub runner_private_egress: Vec<Spanned<String>>,
}

/// `[cluster]`: the EKS cluster and its managed node group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    #[serde(default = "defaults::kubernetes_version")]
    pub kubernetes_version: Spanned<String>,
    #[serde(default = "defaults::instance_types")]
    pub instance_types: Vec<String>,
    #[serde(default = "defaults::min_size")]
    pub min_size: Spanned<u32>,
    #[serde(default = "defaults::max_size")]
    pub max_size: Spanned<u32>,
    #[serde(default = "defaults::desired_size")]
    pub desired_size: Spanned<u32>,
    /// CIDR blocks allowed to reach the public API endpoint; empty means a private endpoint only.
    #[serde(default = "defaults::public_access_cidrs")]
    pub public_access_cidrs: Vec<Spanned<String>>,
}

/// `[argocd]`: Argo CD, installed with the Helm provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgoCd {
    #[serde(default = "defaults::argocd_namespace")]
    pub namespace: Spanned<String>,
    #[serde(default = "defaults::argocd_chart_version")]
    pub chart_version: Spanned<String>,
    #[serde(default = "defaults::argocd_apps_chart_version")]
    pub apps_chart_version: Spanned<String>,
}

/// `[gitops]`: the Git repository Argo CD syncs the rendered `manifests/` from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitOps {
    pub repo_url: Spanned<String>,
    #[serde(default = "defaults::revision")]
    pub revision: Spanned<String>,
    /// Where the rendered `manifests/` folder sits inside that repository.
    #[serde(default = "defaults::manifests_path")]
    pub path: Spanned<String>,
}

/// `[function]`: the Landfall function and its runners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    #[serde(default = "defaults::vcs")]
    pub vcs: Spanned<String>,
    pub vcs_url: Option<Spanned<String>>,
    #[serde(default)]
    pub repo_allowlist: Vec<Spanned<String>>,
    #[serde(default = "defaults::runner_namespace")]
    pub runner_namespace: Spanned<String>,
    /// The image runner Jobs run. Unset: the platform's own ECR repository at Landfall's version,
    /// which `landfall up` builds and pushes.
    pub runner_image: Option<Spanned<String>>,
    #[serde(default = "defaults::memory_mb")]
    pub memory_mb: Spanned<u32>,
    #[serde(default = "defaults::log_retention_days")]
    pub log_retention_days: Spanned<u32>,
    #[serde(default = "defaults::artifact_retention_days")]
    pub artifact_retention_days: Spanned<u32>,
    /// How often the function looks for projects due a drift check (EventBridge's `rate(...)` or
    /// `cron(...)`); each project's own schedule says when it is due.
    #[serde(default = "defaults::drift_check_interval")]
    pub drift_check_interval: Spanned<String>,
    /// The operator's policy (Atlantis' `repos.yaml`), relative to landfall.toml: checked by the
    /// function's own loader, and shipped in the function's package with its policy sets.
    pub policy: Option<Spanned<String>>,
    /// The comment commands the function runs (`LANDFALL_ALLOW_COMMANDS`, Atlantis'
    /// `--allow-commands`); unset, all but `import` and `state`.
    pub allow_commands: Option<Spanned<Vec<String>>>,
    /// The login comments may address the function by (`@login plan`; `LANDFALL_BOT_USER`).
    pub bot_user: Option<Spanned<String>>,
    /// The name statuses start with (`LANDFALL_VCS_STATUS_NAME`, Atlantis' `--vcs-status-name`);
    /// unset, `landfall`.
    pub vcs_status_name: Option<Spanned<String>>,
    /// No plan on pull request events anywhere (`LANDFALL_DISABLE_AUTOPLAN`).
    #[serde(default)]
    pub disable_autoplan: bool,
    /// Draft pull requests are planned by their events too (`LANDFALL_ALLOW_DRAFT_PRS`).
    #[serde(default)]
    pub allow_draft_prs: bool,
}

/// `[[apps]]`: one Argo CD Application of the app of apps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub name: Spanned<String>,
    pub repo_url: Spanned<String>,
    /// Folder inside `repo_url` (a Git source).
    pub path: Option<Spanned<String>>,
    /// Chart name inside `repo_url` (a Helm repository source).
    pub chart: Option<Spanned<String>>,
    pub chart_version: Option<Spanned<String>>,
    pub namespace: Option<Spanned<String>>,
    pub revision: Option<Spanned<String>>,
    #[serde(default)]
    pub sync_wave: i32,
    /// Trusted with the whole cluster: its AppProject admits every namespace and every
    /// cluster-wide object (a controller's chart: ClusterRoles, CRDs, webhooks). Off: the app's
    /// repository may deploy into its own namespace only.
    #[serde(default)]
    pub cluster_wide: bool,
    /// The Pod Security level enforced in the namespace of an app not trusted with the cluster,
    /// which Landfall renders: `baseline` unless set; `restricted`, or `privileged` for pods
    /// that need the node (a service mesh's init container, a log agent reading host paths).
    pub pod_security: Option<Spanned<PodSecurity>>,
}

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurity {
    /// Everything hardened: non-root, no capabilities, a seccomp profile.
    Restricted,
    /// No privileged pod, host path, host network, host PID or added capability.
    #[default]
    Baseline,
    /// Anything, the node included.
    Privileged,
}

impl App {
    /// The Pod Security level its namespace enforces.
    #[must_use]
    pub fn pod_security(&self) -> PodSecurity {
        self.pod_security
            .as_ref()
            .map(|p| *p.get_ref())
            .unwrap_or_default()
    }

    /// The namespace the app deploys into: its own name unless set.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.namespace.as_ref().unwrap_or(&self.name).get_ref()
    }
}

mod defaults {
    use toml::Spanned;

    fn s(value: &str) -> Spanned<String> {
        Spanned::new(0..0, value.to_owned())
    }
    pub fn yes() -> bool {
        true
    }
    pub fn vpc_cidr() -> Spanned<String> {
        s("10.0.0.0/16")
    }
    pub fn availability_zones() -> Spanned<u8> {
        Spanned::new(0..0, 3)
    }
    pub fn kubernetes_version() -> Spanned<String> {
        s("1.34")
    }
    pub fn instance_types() -> Vec<String> {
        vec!["m6i.large".to_owned()]
    }
    pub fn min_size() -> Spanned<u32> {
        Spanned::new(0..0, 2)
    }
    pub fn max_size() -> Spanned<u32> {
        Spanned::new(0..0, 6)
    }
    pub fn desired_size() -> Spanned<u32> {
        Spanned::new(0..0, 3)
    }
    pub fn public_access_cidrs() -> Vec<Spanned<String>> {
        Vec::new()
    }
    pub fn argocd_namespace() -> Spanned<String> {
        s("argocd")
    }
    pub fn argocd_chart_version() -> Spanned<String> {
        s("9.1.0")
    }
    pub fn argocd_apps_chart_version() -> Spanned<String> {
        s("2.0.2")
    }
    pub fn revision() -> Spanned<String> {
        s("HEAD")
    }
    pub fn manifests_path() -> Spanned<String> {
        s("manifests")
    }
    pub fn vcs() -> Spanned<String> {
        s("github")
    }
    pub fn runner_namespace() -> Spanned<String> {
        s("landfall-runner")
    }
    pub fn memory_mb() -> Spanned<u32> {
        Spanned::new(0..0, 512)
    }
    pub fn log_retention_days() -> Spanned<u32> {
        Spanned::new(0..0, 365)
    }
    pub fn artifact_retention_days() -> Spanned<u32> {
        Spanned::new(0..0, 30)
    }
    pub fn drift_check_interval() -> Spanned<String> {
        s("rate(1 hour)")
    }
}

impl Default for Network {
    fn default() -> Self {
        toml::from_str("").expect("every network setting has a default")
    }
}
impl Default for Cluster {
    fn default() -> Self {
        toml::from_str("").expect("every cluster setting has a default")
    }
}
impl Default for ArgoCd {
    fn default() -> Self {
        toml::from_str("").expect("every argocd setting has a default")
    }
}
impl Default for Function {
    fn default() -> Self {
        toml::from_str("").expect("every function setting has a default")
    }
}

/// One problem found in a configuration file, at a line when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: Option<usize>,
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// A configuration file that cannot be used, with every problem found in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (the reason is its source, shown once by `{:#}`).
    #[error("cannot read {}{}", path.display(), missing_hint(source))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", render_diagnostics(path, diagnostics))]
    Invalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
}

/// What to do when the file is not there.
fn missing_hint(source: &std::io::Error) -> &'static str {
    if source.kind() == std::io::ErrorKind::NotFound {
        " (create one with `landfall init`, or name it with --config or LANDFALL_CONFIG)"
    } else {
        ""
    }
}

fn render_diagnostics(path: &Path, diagnostics: &[Diagnostic]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = match d.line {
            Some(line) => write!(out, "{}:{line}: {}", path.display(), d.message),
            None => write!(out, "{}: {}", path.display(), d.message),
        };
        if let Some(help) = &d.help {
            let _ = write!(out, "\n  help: {help}");
        }
    }
    out
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Config {
    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&Self::read(path)?, path)
    }

    /// [`Config::load`], and the operator's policy checked as the rendered platform ships it:
    /// for the commands that render or deploy (`down` and `app list` need no policy).
    pub fn load_to_render(path: &Path) -> Result<Self, ConfigError> {
        Self::parse_to_render(&Self::read(path)?, path)
    }

    fn read(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })
    }

    /// Parses and validates configuration text; `path` only names the file in diagnostics.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::parse_with(text, path, false)
    }

    /// [`Config::parse`], and the operator's policy (relative to `path`) read and checked by the
    /// function's own loader, as the function will at start-up.
    pub fn parse_to_render(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::parse_with(text, path, true)
    }

    fn parse_with(text: &str, path: &Path, with_policy: bool) -> Result<Self, ConfigError> {
        let lines = LineIndex::new(text);
        let (config, mut diagnostics) = unknown::parse_known::<Config>(text, &lines);
        let Some(config) = config else {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                diagnostics,
            });
        };
        diagnostics.extend(config.validate(&lines));
        if with_policy
            && let Some(policy) = &config.function.policy
            && let Err(problem) =
                crate::package::policy_files(&config.policy_path(path).unwrap_or_default())
        {
            diagnostics.push(Diagnostic {
                line: Some(lines.line(policy.span().start)),
                message: format!("policy {:?}: {problem}", policy.get_ref()),
                help: Some("the path is relative to landfall.toml's folder".to_owned()),
            });
        }
        // In the order of the file (a problem of no line first).
        diagnostics.sort_by_key(|d| d.line);
        if diagnostics.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                diagnostics,
            })
        }
    }

    /// Where `[function] policy` names the operator's policy, for the configuration file at
    /// `config_path`.
    #[must_use]
    pub fn policy_path(&self, config_path: &Path) -> Option<PathBuf> {
        let policy = self.function.policy.as_ref()?;
        let dir = config_path.parent().unwrap_or(Path::new(""));
        Some(dir.join(policy.get_ref()))
    }

    /// The name prefix of every resource.
    #[must_use]
    pub fn name(&self) -> &str {
        self.platform.name.get_ref()
    }

    /// The state bucket: set in `[state]`, or derived from the name and region.
    #[must_use]
    pub fn state_bucket(&self) -> String {
        self.state.bucket.as_ref().map_or_else(
            || format!("{}-tfstate-{}", self.name(), self.platform.region.get_ref()),
            |b| b.get_ref().clone(),
        )
    }

    /// The DynamoDB table that locks the platform state.
    #[must_use]
    pub fn state_lock_table(&self) -> String {
        self.state.lock_table.as_ref().map_or_else(
            || format!("{}-tflock", self.name()),
            |t| t.get_ref().clone(),
        )
    }

    /// The object key of the platform stage's state.
    #[must_use]
    pub fn state_key(&self) -> String {
        self.state.key.as_ref().map_or_else(
            || "platform/terraform.tfstate".to_owned(),
            |k| k.get_ref().clone(),
        )
    }

    /// The app with this name, if any.
    #[must_use]
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps
            .iter()
            .map(Spanned::get_ref)
            .find(|a| a.name.get_ref() == name)
    }
}

/// Maps byte offsets to 1-based line numbers.
#[derive(Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    #[must_use]
    pub fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    #[must_use]
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}

fn toml_diagnostic(e: &toml::de::Error, lines: &LineIndex) -> Diagnostic {
    let message = e.message().trim().to_owned();
    let line = e.span().map(|s| lines.line(s.start));
    Diagnostic {
        line,
        help: toml_help(&message),
        message,
    }
}

/// A fix for the common serde messages: a misspelt key or a missing one.
fn toml_help(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (unknown, expected) = rest.split_once('`')?;
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let closest = candidates
            .iter()
            .map(|c| (strsim::jaro_winkler(unknown, c), *c))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        return Some(match closest {
            Some((_, c)) => format!("did you mean `{c}`?"),
            None => format!("remove `{unknown}`; see `landfall init --help` for every setting"),
        });
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next()?;
        return Some(format!("add `{field} = ...` to this table"));
    }
    None
}

#[cfg(test)]
mod tests;
