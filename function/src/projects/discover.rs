//! Autodiscovery for repositories without a config: which directories are Terraform root
//! modules, which local modules each one uses (from `module` blocks' `source`, parsed with
//! hcl-rs), and so which roots a change reaches, directly or through modules, transitively.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::dir::normalize_dir;
use crate::markdown::inline_code;

/// Whether a path is a Terraform configuration file (`.tf`, `.tf.json`, `.tofu`, `.tofu.json`).
#[must_use]
pub fn is_terraform_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    [".tf", ".tf.json", ".tofu", ".tofu.json"]
        .iter()
        .any(|ext| name.ends_with(ext) && name.len() > ext.len())
}

/// Whether a path marks its directory as a project, as Atlantis' project indicators do: a
/// Terraform file, or a Terragrunt unit's `terragrunt.hcl` (whose directory holds no `.tf`).
#[must_use]
pub fn is_project_file(path: &str) -> bool {
    is_terraform_file(path) || path.rsplit('/').next() == Some(TERRAGRUNT_FILE)
}

/// A Terragrunt unit's configuration file.
const TERRAGRUNT_FILE: &str = "terragrunt.hcl";

/// The directory of a path, `.` for files at the root.
#[must_use]
pub fn parent_dir(path: &str) -> &str {
    path.rfind('/').map_or(".", |i| &path[..i])
}

/// One directory holding Terraform files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TerraformDir {
    /// Its Terraform files.
    pub files: Vec<String>,
    /// The local modules it calls (normalised directories).
    pub modules: BTreeSet<String>,
    /// Whether it declares a `backend` or `cloud` block, which marks it a root even when another
    /// directory calls it as a module.
    pub declares_backend: bool,
    /// Whether it calls a module from outside the repository (a registry, Git or archive
    /// source), whose code can change without a commit here.
    pub remote_modules: bool,
}

/// The Terraform directories of a tree at one commit.
#[derive(Clone, Debug, Default)]
pub struct TerraformTree {
    /// Directory (normalised, `.` for the root) to what it holds.
    pub dirs: BTreeMap<String, TerraformDir>,
    /// Files that could not be parsed; their module calls are unknown. Shown in the PR comment.
    pub warnings: Vec<String>,
}

impl TerraformTree {
    /// Builds the tree from `(path, contents)` of every project file ([`is_project_file`]) at
    /// the commit. A `terragrunt.hcl` makes its directory a project; it is not Terraform, so
    /// no module call is read from it.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut tree = TerraformTree::default();
        for (path, text) in files {
            if !is_project_file(path) {
                continue;
            }
            let dir = parent_dir(path).to_owned();
            let entry = tree.dirs.entry(dir.clone()).or_default();
            entry.files.push(path.to_owned());
            if !is_terraform_file(path) {
                continue;
            }
            let parsed = if path.to_ascii_lowercase().ends_with(".json") {
                calls_from_json(text).map_err(|e| e.to_string())
            } else {
                calls_from_hcl(text).map_err(|e| e.to_string())
            };
            match parsed {
                Ok(calls) => {
                    entry.declares_backend |= calls.backend;
                    for source in calls.sources {
                        match local_module_dir(&dir, &source) {
                            Some(m) => {
                                entry.modules.insert(m);
                            }
                            None => entry.remote_modules = true,
                        }
                    }
                }
                // The path and the parser's error (which quotes the file's lines) are the pull
                // request's text: the warning is a note of the PR comment, so both are code.
                Err(e) => tree.warnings.push(format!(
                    "{}: could not be parsed ({}); its module calls are not followed",
                    inline_code(path),
                    inline_code(&e)
                )),
            }
        }
        tree
    }

    /// Whether `dir` holds Terraform files at this commit.
    #[must_use]
    pub fn is_terraform_dir(&self, dir: &str) -> bool {
        self.dirs.contains_key(dir)
    }

    /// For each directory, the directories that call it as a module.
    #[must_use]
    pub fn callers(&self) -> HashMap<&str, Vec<&str>> {
        let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
        for (dir, d) in &self.dirs {
            for m in &d.modules {
                if m != dir {
                    out.entry(m.as_str()).or_default().push(dir.as_str());
                }
            }
        }
        out
    }

    /// The root modules: directories with Terraform files that no other directory calls as a
    /// module and that are not under a `modules/` directory, plus any directory that declares a
    /// backend.
    #[must_use]
    pub fn roots(&self) -> Vec<&str> {
        let callers = self.callers();
        self.dirs
            .iter()
            .filter(|(dir, d)| {
                d.declares_backend
                    || (!callers.contains_key(dir.as_str())
                        && !dir.split('/').any(|part| part == "modules"))
            })
            .map(|(dir, _)| dir.as_str())
            .collect()
    }

    /// The nearest directory at or above `dir` that holds Terraform files.
    #[must_use]
    pub fn owning_dir<'t>(&'t self, mut dir: &str) -> Option<&'t str> {
        loop {
            if let Some((k, _)) = self.dirs.get_key_value(dir) {
                return Some(k.as_str());
            }
            if dir == "." {
                return None;
            }
            dir = parent_dir(dir);
        }
    }
}

/// Where a change reaches a root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A file of the project changed.
    Changed,
    /// A local module it uses changed: the chain from the project to the changed module.
    ModuleChanged(Vec<String>),
    /// Named by a comment command.
    Requested,
}

/// Roots reached by changes to `touched` directories (directly, or through the modules they
/// call, transitively), each with the shortest chain that explains why.
#[must_use]
pub fn reached_roots<'t>(
    tree: &'t TerraformTree,
    touched: &BTreeSet<String>,
) -> BTreeMap<&'t str, Reason> {
    let roots: BTreeSet<&str> = tree.roots().into_iter().collect();
    let callers = tree.callers();
    let mut out: BTreeMap<&str, Reason> = BTreeMap::new();
    // Breadth first from every touched directory at once; `via` records the path back.
    let mut via: HashMap<&str, Vec<String>> = HashMap::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    for t in touched {
        if let Some((k, _)) = tree.dirs.get_key_value(t.as_str()) {
            via.insert(k.as_str(), vec![k.clone()]);
            queue.push_back(k.as_str());
        }
    }
    while let Some(dir) = queue.pop_front() {
        let chain = via[dir].clone();
        if roots.contains(dir) {
            let reason = if chain.len() == 1 {
                Reason::Changed
            } else {
                Reason::ModuleChanged(chain.clone())
            };
            out.entry(dir).or_insert(reason);
        }
        for caller in callers.get(dir).into_iter().flatten() {
            if !via.contains_key(caller) {
                let mut c = vec![(*caller).to_owned()];
                c.extend(chain.iter().cloned());
                via.insert(caller, c);
                queue.push_back(caller);
            }
        }
    }
    out
}

struct Calls {
    sources: Vec<String>,
    backend: bool,
}

fn calls_from_hcl(text: &str) -> Result<Calls, hcl::Error> {
    let body = hcl::parse(text)?;
    let mut calls = Calls {
        sources: Vec::new(),
        backend: false,
    };
    for block in body.blocks() {
        match block.identifier() {
            "module" => {
                for attr in block.body().attributes() {
                    if attr.key() == "source"
                        && let hcl::Expression::String(s) = attr.expr()
                    {
                        calls.sources.push(s.clone());
                    }
                }
            }
            "terraform" => {
                calls.backend |= block
                    .body()
                    .blocks()
                    .any(|b| matches!(b.identifier(), "backend" | "cloud"));
            }
            _ => {}
        }
    }
    Ok(calls)
}

fn calls_from_json(text: &str) -> Result<Calls, serde_json::Error> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let mut calls = Calls {
        sources: Vec::new(),
        backend: false,
    };
    let as_objects = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        match v {
            serde_json::Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        }
    };
    if let Some(modules) = v.get("module") {
        for m in as_objects(modules) {
            if let Some(obj) = m.as_object() {
                for call in obj.values() {
                    for c in as_objects(call) {
                        if let Some(s) = c.get("source").and_then(|s| s.as_str()) {
                            calls.sources.push(s.to_owned());
                        }
                    }
                }
            }
        }
    }
    if let Some(t) = v.get("terraform") {
        calls.backend = as_objects(t)
            .iter()
            .any(|t| t.get("backend").is_some() || t.get("cloud").is_some());
    }
    Ok(calls)
}

/// The directory a local `source` (`./x`, `../x`, as Terraform defines local paths) names,
/// relative to the repo root; `None` for registry, git and other remote sources, or a path that
/// leaves the repository.
#[must_use]
pub fn local_module_dir(caller_dir: &str, source: &str) -> Option<String> {
    if !(source.starts_with("./") || source.starts_with("../")) {
        return None;
    }
    let joined = if caller_dir == "." {
        source.to_owned()
    } else {
        format!("{caller_dir}/{source}")
    };
    normalize_dir(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths_are_local_module_sources() {
        assert_eq!(
            local_module_dir("envs/prod", "../../modules/net").as_deref(),
            Some("modules/net")
        );
        assert_eq!(
            local_module_dir(".", "./modules/net/").as_deref(),
            Some("modules/net")
        );
        assert_eq!(local_module_dir("a", "terraform-aws-modules/vpc/aws"), None);
        assert_eq!(
            local_module_dir("a", "git::https://example.com/m.git"),
            None
        );
        assert_eq!(local_module_dir("a", "../../outside"), None);
    }

    #[test]
    fn module_blocks_and_backends_are_read_from_hcl_and_json() {
        let tree = TerraformTree::from_files([
            (
                "app/main.tf",
                "terraform {\n  backend \"s3\" {}\n}\nmodule \"net\" {\n  source = \"../modules/net\"\n}\nmodule \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n}\n",
            ),
            (
                "svc/main.tf.json",
                r#"{"module": {"db": {"source": "../modules/db"}}}"#,
            ),
            ("modules/net/main.tf", "variable \"x\" {}\n"),
            ("modules/db/main.tf", "variable \"x\" {}\n"),
        ]);
        let app = &tree.dirs["app"];
        assert!(app.declares_backend);
        assert_eq!(app.modules.iter().collect::<Vec<_>>(), ["modules/net"]);
        assert_eq!(
            tree.dirs["svc"].modules.iter().collect::<Vec<_>>(),
            ["modules/db"]
        );
        assert_eq!(tree.roots(), ["app", "svc"]);
    }

    #[test]
    fn an_unparseable_file_is_reported_and_its_directory_kept() {
        let tree = TerraformTree::from_files([("a/main.tf", "module \"x\" {")]);
        assert!(tree.is_terraform_dir("a"));
        assert_eq!(tree.warnings.len(), 1);
        assert!(tree.warnings[0].starts_with("`a/main.tf`: could not be parsed"));
    }

    #[test]
    fn a_module_called_by_nobody_outside_modules_is_a_root() {
        let tree = TerraformTree::from_files([("tools/x/main.tf", "")]);
        assert_eq!(tree.roots(), ["tools/x"]);
    }

    #[test]
    fn the_owning_directory_is_the_nearest_terraform_directory_above() {
        let tree = TerraformTree::from_files([("a/main.tf", "")]);
        assert_eq!(tree.owning_dir("a/env/files"), Some("a"));
        assert_eq!(tree.owning_dir("b"), None);
    }

    #[test]
    fn module_cycles_do_not_loop() {
        let tree = TerraformTree::from_files([
            (
                "modules/a/main.tf",
                "module \"b\" {\n  source = \"../b\"\n}\n",
            ),
            (
                "modules/b/main.tf",
                "module \"a\" {\n  source = \"../a\"\n}\n",
            ),
            (
                "root/main.tf",
                "module \"a\" {\n  source = \"../modules/a\"\n}\n",
            ),
        ]);
        let touched = BTreeSet::from(["modules/b".to_owned()]);
        let reached = reached_roots(&tree, &touched);
        assert_eq!(
            reached["root"],
            Reason::ModuleChanged(vec!["root".into(), "modules/a".into(), "modules/b".into()])
        );
    }
}
