//! `landfall.toml`: the platform's one configuration file, its defaults, and its validation.
//!
//! Parsing keeps the byte span of every value that can be wrong, so each diagnostic names the file,
//! the line, the problem and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::names;

/// The default name of the configuration file.
pub const DEFAULT_CONFIG_FILE: &str = "landfall.toml";

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
    #[serde(default = "defaults::runner_image")]
    pub runner_image: Spanned<String>,
    #[serde(default = "defaults::memory_mb")]
    pub memory_mb: Spanned<u32>,
    #[serde(default = "defaults::log_retention_days")]
    pub log_retention_days: Spanned<u32>,
    #[serde(default = "defaults::artifact_retention_days")]
    pub artifact_retention_days: Spanned<u32>,
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
}

impl App {
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
    pub fn runner_image() -> Spanned<String> {
        s(concat!(
            "ghcr.io/landfall-dev/landfall-runner:",
            env!("CARGO_PKG_VERSION")
        ))
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
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
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
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` only names the file in diagnostics.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let lines = LineIndex::new(text);
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            diagnostics: vec![toml_diagnostic(&e, &lines)],
        })?;
        let diagnostics = config.validate(&lines);
        if diagnostics.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                diagnostics,
            })
        }
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

    fn validate(&self, lines: &LineIndex) -> Vec<Diagnostic> {
        let mut v = Validator {
            lines,
            found: Vec::new(),
        };
        let p = &self.platform;
        if let Err(e) = names::platform_name(p.name.get_ref()) {
            v.at(&p.name, format!("invalid platform name: {e}"), None);
        }
        if let Err((message, help)) = names::aws_region(p.region.get_ref()) {
            v.at(&p.region, message, help);
        }
        self.validate_state(&mut v);
        self.validate_network(&mut v);
        self.validate_cluster(&mut v);
        self.validate_gitops(&mut v);
        self.validate_function(&mut v);
        self.validate_apps(&mut v);
        v.found
    }

    fn validate_state(&self, v: &mut Validator<'_>) {
        if let Some(bucket) = &self.state.bucket {
            if let Err(e) = names::s3_bucket(bucket.get_ref()) {
                v.at(bucket, format!("invalid state bucket name: {e}"), None);
            }
        } else if let Err(e) = names::s3_bucket(&self.state_bucket()) {
            v.at(
                &self.platform.name,
                format!("the derived state bucket name is invalid: {e}"),
                Some("set `bucket` in [state]".to_owned()),
            );
        }
        if let Some(table) = &self.state.lock_table
            && let Err(e) = names::dynamodb_table(table.get_ref())
        {
            v.at(table, format!("invalid lock table name: {e}"), None);
        }
        if let Some(key) = &self.state.key {
            let k = key.get_ref();
            if k.is_empty() || k.starts_with('/') || k.ends_with('/') {
                v.at(
                    key,
                    format!("invalid state key {k:?}: it must be a relative object key"),
                    Some("for example key = \"platform/terraform.tfstate\"".to_owned()),
                );
            }
        }
        if let Some(days) = &self.state.noncurrent_version_days
            && *days.get_ref() == 0
        {
            v.at(
                days,
                "noncurrent_version_days must be at least 1".to_owned(),
                None,
            );
        }
    }

    fn validate_network(&self, v: &mut Validator<'_>) {
        let n = &self.network;
        if let Err((message, help)) = names::vpc_cidr(n.vpc_cidr.get_ref()) {
            v.at(&n.vpc_cidr, message, help);
        }
        let azs = *n.availability_zones.get_ref();
        if !(2..=6).contains(&azs) {
            v.at(
                &n.availability_zones,
                format!("availability_zones is {azs}: EKS needs 2 to 6"),
                Some("use 3 for a resilient cluster".to_owned()),
            );
        }
    }

    fn validate_cluster(&self, v: &mut Validator<'_>) {
        let c = &self.cluster;
        let version = c.kubernetes_version.get_ref();
        let valid_version = version
            .split_once('.')
            .is_some_and(|(major, minor)| major == "1" && minor.parse::<u32>().is_ok());
        if !valid_version {
            v.at(
                &c.kubernetes_version,
                format!("invalid kubernetes_version {version:?}"),
                Some("write the EKS minor version, for example \"1.34\"".to_owned()),
            );
        }
        if c.instance_types.is_empty() {
            v.at(
                &c.kubernetes_version,
                "instance_types is empty".to_owned(),
                Some("name at least one, for example [\"m6i.large\"]".to_owned()),
            );
        }
        let (min, max, desired) = (
            *c.min_size.get_ref(),
            *c.max_size.get_ref(),
            *c.desired_size.get_ref(),
        );
        if max == 0 || min > max || desired < min || desired > max {
            v.at(
                &c.desired_size,
                format!(
                    "node group sizes must satisfy min_size <= desired_size <= max_size and max_size >= 1 (got {min} <= {desired} <= {max})"
                ),
                None,
            );
        }
        for cidr in &c.public_access_cidrs {
            if let Err(e) = cidr.get_ref().parse::<ipnet::IpNet>() {
                v.at(
                    cidr,
                    format!(
                        "invalid CIDR {:?} in public_access_cidrs: {e}",
                        cidr.get_ref()
                    ),
                    Some("write an address block such as \"203.0.113.0/24\"".to_owned()),
                );
            }
        }
    }

    fn validate_gitops(&self, v: &mut Validator<'_>) {
        let g = &self.gitops;
        if let Err(e) = names::repo_url(g.repo_url.get_ref()) {
            v.at(&g.repo_url, format!("invalid gitops repo_url: {e}"), None);
        }
        if let Err(e) = names::repo_path(g.path.get_ref()) {
            v.at(&g.path, format!("invalid gitops path: {e}"), None);
        }
        if g.revision.get_ref().trim().is_empty() {
            v.at(
                &g.revision,
                "gitops revision is empty".to_owned(),
                Some("use \"HEAD\", a branch or a tag".to_owned()),
            );
        }
    }

    fn validate_function(&self, v: &mut Validator<'_>) {
        let f = &self.function;
        // The function's own parsers decide what it accepts (forgejo is Gitea, for instance).
        if let Err(err) = f
            .vcs
            .get_ref()
            .parse::<landfall_function::event::Provider>()
        {
            v.at(&f.vcs, err.to_string(), None);
        }
        if let Some(url) = &f.vcs_url
            && landfall_function::config::check_vcs_url(url.get_ref()).is_err()
        {
            v.at(
                url,
                format!("vcs_url {:?} is not an http(s) URL", url.get_ref()),
                Some(
                    "write the API base URL, e.g. \"https://github.example.com/api/v3\"".to_owned(),
                ),
            );
        }
        for glob in &f.repo_allowlist {
            let g = glob.get_ref();
            // One pattern per entry: the function reads the list comma-separated.
            let problem = if g.trim().is_empty() || g.contains(',') {
                Some(String::new())
            } else {
                landfall_function::allowlist::RepoAllowlist::parse(g)
                    .err()
                    .map(|err| format!(": {err}"))
            };
            if let Some(problem) = problem {
                v.at(
                    glob,
                    format!("invalid repo_allowlist entry {g:?}{problem}"),
                    Some("write one `owner/repo` glob per entry, e.g. \"acme/*\"".to_owned()),
                );
            }
        }
        if let Err(e) = names::dns1123_label(f.runner_namespace.get_ref()) {
            v.at(
                &f.runner_namespace,
                format!("invalid runner_namespace: {e}"),
                None,
            );
        }
        if f.runner_image.get_ref().trim().is_empty() {
            v.at(&f.runner_image, "runner_image is empty".to_owned(), None);
        }
        let memory = *f.memory_mb.get_ref();
        if !(128..=10_240).contains(&memory) {
            v.at(
                &f.memory_mb,
                format!("memory_mb is {memory}: Lambda accepts 128 to 10240"),
                None,
            );
        }
        let days = *f.log_retention_days.get_ref();
        if !LOG_RETENTION_DAYS.contains(&days) {
            let nearest = LOG_RETENTION_DAYS
                .iter()
                .min_by_key(|d| d.abs_diff(days))
                .copied()
                .unwrap_or(365);
            v.at(
                &f.log_retention_days,
                format!("log_retention_days is {days}: CloudWatch Logs does not offer it"),
                Some(format!("use {nearest}, the nearest allowed value")),
            );
        }
        if *f.artifact_retention_days.get_ref() == 0 {
            v.at(
                &f.artifact_retention_days,
                "artifact_retention_days must be at least 1".to_owned(),
                None,
            );
        }
    }

    fn validate_apps(&self, v: &mut Validator<'_>) {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for spanned in &self.apps {
            let app = spanned.get_ref();
            let name = app.name.get_ref();
            if let Err(e) = names::app_name(name) {
                v.at(
                    &app.name,
                    format!("invalid app name {name:?}: {e}"),
                    Some(names::suggest_label(name).map_or_else(
                        || "use lowercase letters, digits and '-'".to_owned(),
                        |s| format!("try {s:?}"),
                    )),
                );
            } else if name == self.function.runner_namespace.get_ref() {
                v.at(
                    &app.name,
                    format!("app name {name:?} is taken by the Landfall runner app"),
                    Some("choose another name".to_owned()),
                );
            }
            if let Some(first_line) = seen.get(name.as_str()) {
                v.at(
                    &app.name,
                    format!("duplicate app {name:?}: it is already defined on line {first_line}"),
                    Some("remove one of them or rename it".to_owned()),
                );
            } else {
                seen.insert(name, v.lines.line(app.name.span().start));
            }
            if let Err(e) = names::repo_url(app.repo_url.get_ref()) {
                v.at(
                    &app.repo_url,
                    format!("invalid repo_url of app {name:?}: {e}"),
                    None,
                );
            }
            if let Some(ns) = &app.namespace
                && let Err(e) = names::dns1123_label(ns.get_ref())
            {
                v.at(ns, format!("invalid namespace of app {name:?}: {e}"), None);
            }
            if let Some(rev) = &app.revision
                && rev.get_ref().trim().is_empty()
            {
                v.at(rev, format!("app {name:?} has an empty revision"), None);
            }
            match (&app.path, &app.chart, &app.chart_version) {
                (Some(path), None, None) => {
                    if let Err(e) = names::repo_path(path.get_ref()) {
                        v.at(path, format!("invalid path of app {name:?}: {e}"), None);
                    }
                }
                (None, Some(chart), Some(version)) => {
                    if chart.get_ref().trim().is_empty() || chart.get_ref().contains('/') {
                        v.at(
                            chart,
                            format!("invalid chart of app {name:?}: give the chart's name in its repository"),
                            None,
                        );
                    }
                    if version.get_ref().trim().is_empty() {
                        v.at(
                            version,
                            format!("app {name:?} has an empty chart_version"),
                            None,
                        );
                    }
                }
                (None, Some(_), None) => v.at(
                    spanned,
                    format!("app {name:?} names a chart but no chart_version"),
                    Some("add chart_version = \"x.y.z\": charts are pinned".to_owned()),
                ),
                (Some(_), Some(_), _) => v.at(
                    spanned,
                    format!("app {name:?} sets both path and chart"),
                    Some(
                        "a Git source sets `path`; a Helm source sets `chart` and `chart_version`"
                            .to_owned(),
                    ),
                ),
                (None, None, _) => v.at(
                    spanned,
                    format!("app {name:?} has neither path nor chart"),
                    Some(
                        "set `path` (a folder in repo_url) or `chart` and `chart_version`"
                            .to_owned(),
                    ),
                ),
                (Some(_), None, Some(version)) => v.at(
                    version,
                    format!("app {name:?} sets chart_version without chart"),
                    Some("remove chart_version, or set chart".to_owned()),
                ),
            }
        }
    }
}

struct Validator<'a> {
    lines: &'a LineIndex,
    found: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn at<T>(&mut self, value: &Spanned<T>, message: String, help: Option<String>) {
        let span = value.span();
        // Defaults carry an empty 0..0 span: they have no line.
        let line = (span.end > 0).then(|| self.lines.line(span.start));
        self.found.push(Diagnostic {
            line,
            message,
            help,
        });
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
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[platform]
name = "acme"
region = "eu-west-1"

[gitops]
repo_url = "https://github.com/acme/platform.git"
"#;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("landfall.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_minimal_file_gets_defaults_for_everything_else() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.state_bucket(), "acme-tfstate-eu-west-1");
        assert_eq!(c.state_lock_table(), "acme-tflock");
        assert_eq!(c.network.vpc_cidr.get_ref(), "10.0.0.0/16");
        assert_eq!(c.argocd.namespace.get_ref(), "argocd");
        assert!(c.apps.is_empty());
    }

    #[test]
    fn an_unknown_key_names_the_line_and_the_likely_key() {
        let text = MINIMAL.replace("region =", "regoin =");
        let err = parse(&text).unwrap_err();
        assert!(
            err.starts_with("landfall.toml:4: unknown field `regoin`"),
            "{err}"
        );
        assert!(err.contains("did you mean `region`?"), "{err}");
    }

    #[test]
    fn a_missing_required_field_names_it() {
        let err = parse("[platform]\nname = \"acme\"\n[gitops]\nrepo_url = \"https://x/y.git\"\n")
            .unwrap_err();
        assert!(err.contains("missing field `region`"), "{err}");
        assert!(err.contains("help: add `region = ...`"), "{err}");
    }

    #[test]
    fn an_invalid_cidr_is_reported_at_its_line_with_the_fix() {
        let text = format!("{MINIMAL}\n[network]\nvpc_cidr = \"10.0.0.1/16\"\n");
        let err = parse(&text).unwrap_err();
        assert!(err.starts_with("landfall.toml:10: "), "{err}");
        assert!(err.contains("10.0.0.0/16"), "{err}");
    }

    #[test]
    fn an_unknown_region_suggests_the_closest() {
        let err = parse(&MINIMAL.replace("eu-west-1", "eu-wset-1")).unwrap_err();
        assert!(
            err.contains("landfall.toml:4: unknown AWS region \"eu-wset-1\""),
            "{err}"
        );
        assert!(err.contains("eu-west-1"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let text = format!(
            "{MINIMAL}\n[[apps]]\nname = \"Bad_Name\"\nrepo_url = \"https://x/y.git\"\npath = \"a\"\n\n[[apps]]\nname = \"dup\"\nrepo_url = \"https://x/y.git\"\npath = \"a\"\n\n[[apps]]\nname = \"dup\"\nrepo_url = \"https://x/y.git\"\npath = \"a\"\n"
        );
        let err = parse(&text).unwrap_err();
        assert!(err.contains(":10: invalid app name \"Bad_Name\""), "{err}");
        assert!(err.contains("try \"bad-name\""), "{err}");
        assert!(
            err.contains(":20: duplicate app \"dup\": it is already defined on line 15"),
            "{err}"
        );
    }

    #[test]
    fn a_chart_without_version_is_refused() {
        let text = format!(
            "{MINIMAL}\n[[apps]]\nname = \"x\"\nrepo_url = \"https://charts.example.com\"\nchart = \"x\"\n"
        );
        let err = parse(&text).unwrap_err();
        assert!(err.contains("names a chart but no chart_version"), "{err}");
    }

    #[test]
    fn the_function_settings_are_checked_by_the_functions_own_parsers() {
        let with = |function: &str| format!("{MINIMAL}\n[function]\n{function}\n");
        // Forgejo speaks Gitea's dialect, and the function takes its name.
        parse(&with("vcs = \"forgejo\"")).unwrap();
        let err = parse(&with("vcs = \"sourcehut\"")).unwrap_err();
        assert!(err.contains("unknown VCS \"sourcehut\""), "{err}");
        // A glob the function could not build is refused here, not at the function's start-up.
        let err = parse(&with("repo_allowlist = [\"acme/[infra\"]")).unwrap_err();
        assert!(
            err.contains("invalid repo_allowlist entry \"acme/[infra\""),
            "{err}"
        );
        parse(&with("repo_allowlist = [\"acme/*\", \"github.com/ops/*\"]")).unwrap();
    }

    #[test]
    fn line_index_counts_from_one() {
        let idx = LineIndex::new("a\nb\nc");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(4), 3);
    }
}
