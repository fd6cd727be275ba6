//! `landfall app add|remove|list`: edit the `[[apps]]` of `landfall.toml` in place, keeping the
//! user's comments and order, then regenerate the app of apps.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde::Serialize;
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::cli::{AppAddArgs, AppListArgs, AppRemoveArgs, ConfigArgs};
use crate::config::{App, Config};
use crate::names;

pub fn add(args: &AppAddArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let name = args.name.as_str();
    if let Err(e) = names::app_name(name) {
        let hint = names::suggest_label(name)
            .map(|s| format!("; try {s:?}"))
            .unwrap_or_default();
        bail!("invalid app name {name:?}: {e}{hint}");
    }
    let (text, config) = load(&args.target.config)?;
    if config.app(name).is_some() {
        bail!(
            "app {name:?} already exists in {}; remove it first (`landfall app remove {name}`) or choose another name",
            args.target.config.display()
        );
    }
    let mut doc = parse_document(&text, &args.target.config)?;
    let mut table = Table::new();
    table.insert("name", toml_edit::value(name));
    table.insert("repo_url", toml_edit::value(&args.repo_url));
    if let Some(path) = &args.path {
        table.insert("path", toml_edit::value(path));
    }
    if let Some(chart) = &args.chart {
        table.insert("chart", toml_edit::value(chart));
    }
    if let Some(version) = &args.chart_version {
        table.insert("chart_version", toml_edit::value(version));
    }
    if let Some(namespace) = &args.namespace {
        table.insert("namespace", toml_edit::value(namespace));
    }
    if let Some(revision) = &args.revision {
        table.insert("revision", toml_edit::value(revision));
    }
    if let Some(wave) = args.sync_wave {
        table.insert("sync_wave", toml_edit::value(i64::from(wave)));
    }
    if args.cluster_wide {
        table.insert("cluster_wide", toml_edit::value(true));
    }
    // The comments that close the file (the commented settings `landfall init` writes under
    // the last section) stay with that section, above the first app's table, which goes last:
    // below them, an uncommented setting would be the app's.
    let mut closing = doc.trailing().as_str().unwrap_or_default().to_owned();
    if doc.get("apps").is_none() && !closing.trim().is_empty() {
        if !closing.ends_with('\n') {
            closing.push('\n');
        }
        table.decor_mut().set_prefix(closing);
        doc.set_trailing("");
    }
    match doc.get_mut("apps") {
        None => {
            let mut apps = ArrayOfTables::new();
            apps.push(table);
            doc.insert("apps", Item::ArrayOfTables(apps));
        }
        Some(Item::ArrayOfTables(apps)) => apps.push(table),
        Some(Item::Value(Value::Array(apps))) => {
            apps.push(Value::InlineTable(table.into_inline_table()));
        }
        Some(_) => bail!(
            "`apps` in {} is not a list of tables; write each app as an [[apps]] table",
            args.target.config.display()
        ),
    }
    save_and_render(&doc, &args.target, stdout)?;
    writeln!(stdout, "added app {name}")?;
    Ok(ExitCode::SUCCESS)
}

pub fn remove(args: &AppRemoveArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let name = args.name.as_str();
    let (text, config) = load(&args.target.config)?;
    if config.app(name).is_none() {
        let closest = config
            .apps
            .iter()
            .map(|a| a.get_ref().name.get_ref().as_str())
            .min_by_key(|n| strsim::levenshtein(n, name))
            .filter(|n| strsim::levenshtein(n, name) <= 2)
            .map(|n| format!("; did you mean {n:?}?"))
            .unwrap_or_default();
        bail!(
            "there is no app {name:?} in {}{closest} (`landfall app list` shows them)",
            args.target.config.display()
        );
    }
    let mut doc = parse_document(&text, &args.target.config)?;
    let is_named =
        |t: &dyn toml_edit::TableLike| t.get("name").and_then(Item::as_str) == Some(name);
    let mut closing_left = None;
    match doc.get_mut("apps") {
        Some(Item::ArrayOfTables(apps)) => {
            // The first table's leading comments close the section above it (see `add`): they
            // stay, on the next table or at the end of the file.
            let closing = apps
                .get(0)
                .filter(|t| is_named(*t))
                .and_then(|t| t.decor().prefix())
                .and_then(|p| p.as_str())
                .filter(|p| !p.trim().is_empty())
                .map(str::to_owned);
            apps.retain(|t| !is_named(t));
            if let Some(closing) = closing {
                match apps.get_mut(0) {
                    Some(next) => {
                        let own = next.decor().prefix().and_then(|p| p.as_str());
                        let own = own.unwrap_or_default().trim_start_matches('\n');
                        let joined = format!("{closing}{own}");
                        next.decor_mut().set_prefix(joined);
                    }
                    None => closing_left = Some(closing),
                }
            }
        }
        Some(Item::Value(Value::Array(apps))) => apps.retain(|v| {
            !v.as_inline_table()
                .is_some_and(|t: &InlineTable| is_named(t))
        }),
        _ => unreachable!("the app was found in `apps`"),
    }
    if doc.get("apps").is_some_and(|apps| match apps {
        Item::ArrayOfTables(a) => a.is_empty(),
        Item::Value(Value::Array(a)) => a.is_empty(),
        _ => false,
    }) {
        doc.remove("apps");
    }
    if let Some(closing) = closing_left {
        let existing = doc.trailing().as_str().unwrap_or_default().to_owned();
        doc.set_trailing(format!("{closing}{existing}"));
    }
    save_and_render(&doc, &args.target, stdout)?;
    writeln!(stdout, "removed app {name}")?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Serialize)]
struct AppRow<'a> {
    name: &'a str,
    namespace: &'a str,
    repo_url: &'a str,
    path: Option<&'a str>,
    chart: Option<&'a str>,
    revision: &'a str,
    sync_wave: i32,
    /// Trusted with every namespace and cluster-wide object (`--cluster-wide`).
    cluster_wide: bool,
}

impl<'a> AppRow<'a> {
    fn new(app: &'a App) -> Self {
        let revision = app
            .chart_version
            .as_ref()
            .or(app.revision.as_ref())
            .map_or("HEAD", |r| r.get_ref().as_str());
        Self {
            name: app.name.get_ref(),
            namespace: app.namespace(),
            repo_url: app.repo_url.get_ref(),
            path: app.path.as_ref().map(|p| p.get_ref().as_str()),
            chart: app.chart.as_ref().map(|c| c.get_ref().as_str()),
            revision,
            sync_wave: app.sync_wave,
            cluster_wide: app.cluster_wide,
        }
    }
}

pub fn list(args: &AppListArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let (_, config) = load(&args.config)?;
    let rows: Vec<AppRow<'_>> = config
        .apps
        .iter()
        .map(|a| AppRow::new(a.get_ref()))
        .collect();
    if args.json {
        serde_json::to_writer_pretty(&mut *stdout, &rows)?;
        writeln!(stdout)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        writeln!(
            stdout,
            "no apps yet; add one with `landfall app add NAME --repo-url URL --path PATH`"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let source = |r: &AppRow<'_>| match (r.path, r.chart) {
        (_, Some(chart)) => format!("{} (chart {chart})", r.repo_url),
        (path, None) => format!("{}//{}", r.repo_url, path.unwrap_or(".")),
    };
    let width = |f: &dyn Fn(&AppRow<'_>) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let (wn, wns, wr) = (
        width(&|r| r.name.len(), "NAME"),
        width(&|r| r.namespace.len(), "NAMESPACE"),
        width(&|r| r.revision.len(), "REVISION"),
    );
    writeln!(
        stdout,
        "{:wn$}  {:wns$}  {:>4}  {:wr$}  SOURCE",
        "NAME", "NAMESPACE", "WAVE", "REVISION"
    )?;
    for r in &rows {
        writeln!(
            stdout,
            "{:wn$}  {:wns$}  {:>4}  {:wr$}  {}",
            r.name,
            r.namespace,
            r.sync_wave,
            r.revision,
            source(r)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn load(path: &Path) -> anyhow::Result<(String, Config)> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}; create one with `landfall init`",
            path.display()
        )
    })?;
    let config = Config::parse(&text, path)?;
    Ok((text, config))
}

fn parse_document(text: &str, path: &Path) -> anyhow::Result<DocumentMut> {
    text.parse::<DocumentMut>()
        .with_context(|| format!("cannot edit {}", path.display()))
}

/// Validates the edited file and renders from it; then writes the output, and the file last,
/// with the mode it had: a failure on the way leaves `landfall.toml` as it was, so the command
/// can simply be run again.
fn save_and_render(
    doc: &DocumentMut,
    target: &ConfigArgs,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let text = doc.to_string();
    let config = Config::parse_to_render(&text, &target.config)?;
    let out = super::output_dir(&target.config, target.out.as_deref());
    let changes = super::plan_render(&config, &out)?;
    let dir = super::output_dir(&target.config, None);
    let cannot_write = || format!("cannot write {}", target.config.display());
    let mut file = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(text.as_bytes()).with_context(cannot_write)?;
    let mode = std::fs::metadata(&target.config)
        .with_context(cannot_write)?
        .permissions();
    file.as_file()
        .set_permissions(mode)
        .with_context(cannot_write)?;
    super::write_changes(&out, &changes, stdout)?;
    file.persist(&target.config)
        .map_err(|e| e.error)
        .with_context(cannot_write)?;
    Ok(())
}
