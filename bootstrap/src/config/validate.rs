//! Checking `landfall.toml` after it parsed: every problem at its line, with the fix; the
//! function's settings by the function's own parsers.

use std::collections::BTreeMap;

use toml::Spanned;

use landfall_function::event::Provider;
use landfall_function::repo_config::DriftSchedule;

use super::vcs_url::{VcsUrlIssue, vcs_url_issue};
use super::{App, Config, Diagnostic, LOG_RETENTION_DAYS, LineIndex};
use crate::names;

impl Config {
    pub(super) fn validate(&self, lines: &LineIndex) -> Vec<Diagnostic> {
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
            // The key stands in HCL strings and in IAM resource ARNs (where `*` is a wildcard).
            let plain = k.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            });
            if !plain {
                v.at(
                    key,
                    format!(
                        "invalid state key {k:?}: it must be a relative object key of letters, \
                         digits, `.`, `_`, `-` and `/` between non-empty parts"
                    ),
                    Some("for example key = \"platform/terraform.tfstate\"".to_owned()),
                );
            } else if k == crate::up::stages::BOOTSTRAP_KEY {
                v.at(
                    key,
                    format!(
                        "state key {k:?} is the bootstrap stage's: the platform stage would \
                         take over (and destroy) the state backend's own resources"
                    ),
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
        for block in &n.runner_private_egress {
            if let Err((message, help)) =
                names::runner_private_egress(block.get_ref(), n.vpc_cidr.get_ref())
            {
                v.at(block, format!("runner_private_egress: {message}"), help);
            }
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
        let minor = version
            .split_once('.')
            .filter(|(major, _)| *major == "1")
            .and_then(|(_, minor)| minor.parse::<u32>().ok());
        match minor {
            None => v.at(
                &c.kubernetes_version,
                format!("invalid kubernetes_version {version:?}"),
                Some("write the EKS minor version, for example \"1.34\"".to_owned()),
            ),
            // The guard of the apps' namespaces (manifests/platform/namespace-guard.yaml) is a
            // ValidatingAdmissionPolicy, GA in 1.30.
            Some(minor) if minor < 30 => v.at(
                &c.kubernetes_version,
                format!("kubernetes_version {version:?} is too old: Landfall needs 1.30 or later"),
                Some("write the EKS minor version, for example \"1.34\"".to_owned()),
            ),
            Some(_) => {}
        }
        let graviton = c
            .instance_types
            .iter()
            .filter(|t| names::is_graviton(t))
            .count();
        if graviton != 0 && graviton != c.instance_types.len() {
            // One node group runs one AMI: the x86 one would not boot the Graviton types.
            v.found.push(super::Diagnostic {
                line: None,
                message: format!(
                    "[cluster] instance_types mixes Graviton (arm64) and x86_64 types ({}): a node \
                     group runs one architecture",
                    c.instance_types.join(", ")
                ),
                help: Some(
                    "list types of one architecture, e.g. [\"m7g.large\", \"c7g.large\"]"
                        .to_owned(),
                ),
            });
        }
        if c.instance_types.is_empty() {
            // The list keeps no position of its own to point at.
            v.found.push(super::Diagnostic {
                line: None,
                message: "[cluster] instance_types is empty".to_owned(),
                help: Some("name at least one, for example [\"m6i.large\"]".to_owned()),
            });
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
        if let Err(e) = names::dns1123_label(self.argocd.namespace.get_ref()) {
            v.at(
                &self.argocd.namespace,
                format!("invalid [argocd] namespace: {e}"),
                None,
            );
        }
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
        let provider = match f.vcs.get_ref().parse::<Provider>() {
            Ok(provider) => Some(provider),
            Err(err) => {
                v.at(&f.vcs, err.to_string(), None);
                None
            }
        };
        let url = f.vcs_url.as_ref();
        match provider.and_then(|p| vcs_url_issue(p, url.map(|u| u.get_ref().as_str()))) {
            None => {}
            Some(VcsUrlIssue::Missing { example }) => v.at(
                &f.vcs,
                format!(
                    "vcs = {:?} needs vcs_url: the host has no public API to default to",
                    f.vcs.get_ref()
                ),
                Some(format!("add vcs_url = {example}")),
            ),
            Some(VcsUrlIssue::Invalid { value, reason }) => v.at(
                url.unwrap_or(&f.vcs),
                format!("vcs_url {value:?} is invalid: {reason}"),
                Some(
                    "write the API base URL, e.g. \"https://github.example.com/api/v3\"".to_owned(),
                ),
            ),
            Some(VcsUrlIssue::NotApiBase {
                url: checked,
                problem,
            }) => v.at(
                url.unwrap_or(&f.vcs),
                format!("vcs_url {checked:?} is not the host's API base URL"),
                Some(problem),
            ),
            Some(VcsUrlIssue::PlainHttp { url: checked }) => v.at(
                url.unwrap_or(&f.vcs),
                format!(
                    "vcs_url {checked:?} is plain http: the function would send the VCS token unencrypted"
                ),
                Some("use the host's https:// URL".to_owned()),
            ),
        }
        // The function reads an empty list as "every repository": fail closed here instead.
        if f.repo_allowlist.is_empty() {
            v.found.push(Diagnostic {
                line: None,
                message: "[function] repo_allowlist is empty or missing: the function would take \
                          pull requests from every repository its webhook covers"
                    .to_owned(),
                help: Some(
                    "list the repositories allowed to use it, e.g. repo_allowlist = [\"acme/*\"]"
                        .to_owned(),
                ),
            });
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
        let runners = f.runner_namespace.get_ref();
        if let Err(e) = names::dns1123_label(runners) {
            v.at(
                &f.runner_namespace,
                format!("invalid runner_namespace: {e}"),
                None,
            );
        } else if runners == self.argocd.namespace.get_ref()
            || runners == "default"
            || runners.starts_with("kube-")
        {
            // The runners' namespace denies every ingress and is labelled `restricted`: shared
            // with Argo CD or the cluster's own pods (CoreDNS), it would cut them off.
            v.at(
                &f.runner_namespace,
                format!(
                    "runner_namespace {runners:?} is Argo CD's, Kubernetes' own or `default`: the runners' \
                     network policy would cut off what else runs there"
                ),
                Some("keep the runners in a namespace of their own, e.g. \"landfall-runner\"".to_owned()),
            );
        }
        if let Some(image) = f.runner_image.as_ref()
            && image.get_ref().trim().is_empty()
        {
            v.at(
                image,
                "runner_image is empty".to_owned(),
                Some("remove it to use the platform's ECR repository".to_owned()),
            );
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
        // The function's own parsers of its switches.
        if let Some(commands) = &f.allow_commands
            && let Err(why) =
                landfall_function::config::AllowedCommands::parse(&commands.get_ref().join(","))
        {
            v.at(commands, format!("invalid allow_commands: {why}"), None);
        }
        if let Some(bot) = &f.bot_user
            && let Err(why) = landfall_function::config::bot_user(bot.get_ref())
        {
            v.at(bot, format!("invalid bot_user: {why}"), None);
        }
        if let Some(name) = &f.vcs_status_name
            && let Err(why) = landfall_function::config::vcs_status_name(name.get_ref())
        {
            v.at(name, format!("invalid vcs_status_name: {why}"), None);
        }
        if let Err(why) = DriftSchedule::parse(f.drift_check_interval.get_ref()) {
            v.at(
                &f.drift_check_interval,
                format!("invalid drift_check_interval: {why}"),
                Some("for example drift_check_interval = \"rate(1 hour)\"".to_owned()),
            );
        }
    }

    /// An app's name and namespace: a valid name that no other project takes, and a namespace
    /// of its own.
    fn validate_app_identity(&self, v: &mut Validator<'_>, app: &App) {
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
        } else if let Some(owner) = self.app_owning(name) {
            v.at(
                &app.name,
                format!("app name {name:?} is taken by the Landfall {owner} app"),
                Some("choose another name".to_owned()),
            );
        } else if name == "default" {
            v.at(
                &app.name,
                "app name \"default\" is taken by Argo CD's own project (each app gets an AppProject of its name)".to_owned(),
                Some("choose another name".to_owned()),
            );
        }
        if let Some(why) = self.reserved_namespace(app.namespace()) {
            v.at(
                app.namespace.as_ref().unwrap_or(&app.name),
                format!(
                    "app {name:?} would deploy into namespace {:?}, {why}: an app's repository could then change what runs there",
                    app.namespace()
                ),
                Some("give the app its own namespace (`namespace = \"...\"`)".to_owned()),
            );
        }
        self.validate_pod_security(v, app);
    }

    /// Why no app may deploy into `namespace`, if none may: Argo CD's, the runners' (where the
    /// apply role's service account lives) and Kubernetes' own.
    fn reserved_namespace(&self, namespace: &str) -> Option<&'static str> {
        if namespace == self.argocd.namespace.get_ref() {
            Some("Argo CD's")
        } else if namespace == self.function.runner_namespace.get_ref() {
            Some("where the Landfall runners run")
        } else if matches!(namespace, "kube-system" | "kube-public" | "kube-node-lease") {
            Some("one of Kubernetes' own")
        } else {
            None
        }
    }

    /// `pod_security`: only where Landfall renders the namespace (an app not trusted with the
    /// cluster), and one level for the apps that share a namespace.
    fn validate_pod_security(&self, v: &mut Validator<'_>, app: &App) {
        let Some(level) = &app.pod_security else {
            return;
        };
        let name = app.name.get_ref();
        if app.cluster_wide {
            v.at(
                level,
                format!("app {name:?} is trusted with the cluster (cluster_wide = true): it creates its own namespace, which pod_security would not reach"),
                Some("remove pod_security, or cluster_wide".to_owned()),
            );
        }
        let other = self.apps.iter().map(Spanned::get_ref).find(|other| {
            !other.cluster_wide
                && other.namespace() == app.namespace()
                && other.pod_security() != app.pod_security()
        });
        if let Some(other) = other {
            v.at(
                level,
                format!(
                    "app {name:?} shares namespace {:?} with app {:?}, which enforces another Pod Security level",
                    app.namespace(),
                    other.name.get_ref()
                ),
                Some("give both apps the same pod_security".to_owned()),
            );
        }
    }

    /// Which of Landfall's own Applications is named `name`, or has its file under that name
    /// (an app of that name would replace it, and Argo CD would prune what it deploys).
    fn app_owning(&self, name: &str) -> Option<&'static str> {
        if name == self.function.runner_namespace.get_ref() || name == super::RUNNER_APP_FILE {
            Some("runner")
        } else if name == super::PLATFORM_APP {
            Some("platform")
        } else if name == super::ROOT_APP {
            Some("root")
        } else {
            None
        }
    }

    fn validate_apps(&self, v: &mut Validator<'_>) {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for spanned in &self.apps {
            let app = spanned.get_ref();
            let name = app.name.get_ref();
            self.validate_app_identity(v, app);
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
            // Landfall's own waves come first: AppProjects (-1000), the platform's cluster-wide
            // objects (-200) and the runner (-100).
            if app.sync_wave < MIN_APP_WAVE {
                v.at(
                    spanned,
                    format!(
                        "app {name:?} has sync_wave {}, not after Landfall's own (its AppProject \
                         at -1000, the platform's cluster-wide objects at -200)",
                        app.sync_wave
                    ),
                    Some(format!("use {MIN_APP_WAVE} or more")),
                );
            }
            match (&app.path, &app.chart, &app.chart_version) {
                (Some(path), None, None) => {
                    if let Err(e) = names::repo_path(path.get_ref()) {
                        v.at(path, format!("invalid path of app {name:?}: {e}"), None);
                    }
                }
                (None, Some(_), Some(_)) if app.revision.is_some() => v.at(
                    app.revision.as_ref().unwrap_or(&app.name),
                    format!("app {name:?} sets revision with a chart"),
                    Some(
                        "a Helm source is pinned by chart_version alone: remove revision"
                            .to_owned(),
                    ),
                ),
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

/// The earliest sync wave an app may take: after its own AppProject (-1000) and the platform's
/// cluster-wide objects (-200), such as the StorageClass its volumes need.
const MIN_APP_WAVE: i32 = -199;
