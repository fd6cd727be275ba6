//! Item encoding: the attributes of the items this store writes ([`LockWrite`], [`plan_item`])
//! and reads back ([`Fields`]), which name the item and what is wrong when one is malformed.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoError, DynamoStore};
use crate::store::keys;
use crate::store::{Lock, LockHolder, LockKey, PlanRecord, PlanStatus, StoredArtifact};

/// An item as the SDK gives and takes it.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The pieces of a conditional update of a lock item, shared by the transactional and the
/// one-by-one paths.
pub(super) struct LockWrite {
    pub(super) pk: String,
    pub(super) update: String,
    pub(super) condition: &'static str,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl LockWrite {
    pub(super) fn new(key: &LockKey, holder: &LockHolder, now: u64) -> Self {
        let mut fields = vec![
            ("kind", s("lock")),
            ("repo", s(&key.repo)),
            ("dir", s(&key.dir)),
            ("workspace", s(&key.workspace)),
            ("pr", n(holder.pr)),
            ("user", s(&holder.user)),
            ("head_sha", s(&holder.head_sha)),
            ("pull_url", s(&holder.pull_url)),
            ("gsi1pk", s(keys::repo_index_pk(&key.repo))),
            ("gsi1sk", s(keys::repo_index_sk(key, holder.pr))),
            ("gsi2pk", s(keys::SWEEP_LOCK)),
        ];
        if let Some(project) = &key.project {
            fields.push(("project", s(project)));
        }
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut clauses = Vec::new();
        for (name, value) in fields {
            names.insert(format!("#{name}"), name.to_owned());
            values.insert(format!(":{name}"), value);
            clauses.push(format!("#{name} = :{name}"));
        }
        names.insert("#since".into(), "since".into());
        values.insert(":now".into(), n(now));
        clauses.push("#since = if_not_exists(#since, :now)".into());
        Self {
            pk: keys::lock_pk(key),
            update: format!("SET {}", clauses.join(", ")),
            condition: "attribute_not_exists(pk) OR #pr = :pr",
            names,
            values,
        }
    }
}

/// Reads the attributes of items this module wrote.
pub(super) struct Fields<'a> {
    table: &'a str,
    item: &'a Item,
}

impl Fields<'_> {
    fn malformed(&self, reason: String) -> DynamoError {
        DynamoError::Malformed {
            table: self.table.to_owned(),
            pk: self
                .item
                .get("pk")
                .and_then(|pk| pk.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            reason,
        }
    }

    fn opt_s(&self, name: &str) -> Result<Option<String>, DynamoError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value.clone())),
            Some(other) => Err(self.malformed(format!("{name} is not a string: {other:?}"))),
        }
    }

    fn opt_bool(&self, name: &str) -> Result<Option<bool>, DynamoError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::Bool(value)) => Ok(Some(*value)),
            Some(other) => Err(self.malformed(format!("{name} is not a boolean: {other:?}"))),
        }
    }

    fn s(&self, name: &str) -> Result<String, DynamoError> {
        self.opt_s(name)?
            .ok_or_else(|| self.malformed(format!("{name} is missing")))
    }

    /// A string attribute that must be there.
    pub(super) fn string(&self, name: &str) -> Result<String, DynamoError> {
        self.s(name)
    }

    /// A number attribute that must be there.
    pub(super) fn number(&self, name: &str) -> Result<u64, DynamoError> {
        self.n(name)
    }

    fn opt_n(&self, name: &str) -> Result<Option<u64>, DynamoError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(_) => self.n(name).map(Some),
        }
    }

    fn n(&self, name: &str) -> Result<u64, DynamoError> {
        match self.item.get(name) {
            Some(AttributeValue::N(value)) => value
                .parse()
                .map_err(|_| self.malformed(format!("{name} is not an unsigned integer: {value}"))),
            other => Err(self.malformed(format!("{name} is not a number: {other:?}"))),
        }
    }

    /// A split comment's part ids (`parts`, a list of strings).
    pub(super) fn parts(&self) -> Result<Vec<String>, DynamoError> {
        match self.item.get("parts") {
            Some(AttributeValue::L(values)) => values
                .iter()
                .map(|value| match value {
                    AttributeValue::S(id) => Ok(id.clone()),
                    other => Err(self.malformed(format!("a part id is not a string: {other:?}"))),
                })
                .collect(),
            other => Err(self.malformed(format!("parts is not a list: {other:?}"))),
        }
    }

    pub(super) fn key(&self) -> Result<LockKey, DynamoError> {
        Ok(LockKey {
            repo: self.s("repo")?,
            dir: self.s("dir")?,
            workspace: self.s("workspace")?,
            project: self.opt_s("project")?,
        })
    }

    /// A plan record's project, and whether a run that writes the state runs for it: all a
    /// release reads, so that a record this version cannot read whole is still released.
    pub(super) fn plan_head(&self) -> Result<(LockKey, bool), DynamoError> {
        let status = self.opt_s("status")?;
        Ok((
            self.key()?,
            status.as_deref() == Some(PlanStatus::Applying.as_str()),
        ))
    }

    pub(super) fn lock(&self) -> Result<Lock, DynamoError> {
        Ok(Lock {
            key: self.key()?,
            holder: LockHolder {
                pr: self.n("pr")?,
                user: self.s("user")?,
                head_sha: self.s("head_sha")?,
                pull_url: self.s("pull_url")?,
            },
            since: self.n("since")?,
            kept_after_merge: self.opt_bool("kept_after_merge")?.unwrap_or(false),
        })
    }

    pub(super) fn apply_lock(&self) -> Result<crate::store::ApplyLock, DynamoError> {
        Ok(crate::store::ApplyLock {
            by: self.s("by")?,
            since: self.n("since")?,
            reason: self.opt_s("reason")?,
        })
    }

    pub(super) fn plan(&self) -> Result<PlanRecord, DynamoError> {
        let status = self.s("status")?;
        let planfile = match self.opt_s("planfile_key")? {
            Some(key) => Some(StoredArtifact {
                key,
                sha256: self.s("planfile_sha256")?,
                size: self.n("planfile_size")?,
            }),
            None => None,
        };
        Ok(PlanRecord {
            key: self.key()?,
            pr: self.n("pr")?,
            head_sha: self.s("head_sha")?,
            run_id: self.s("run_id")?,
            status: PlanStatus::parse(&status)
                .ok_or_else(|| self.malformed(format!("unknown plan status {status:?}")))?,
            planfile,
            updated_at: self.n("updated_at")?,
            trigger: self.opt_s("trigger")?,
            result: match self.opt_s("result")? {
                Some(json) => Some(
                    serde_json::from_slice(json.as_bytes())
                        .map_err(|err| self.malformed(format!("unreadable run result: {err}")))?,
                ),
                None => None,
            },
            deadline: self.opt_n("deadline")?,
        })
    }
}

pub(super) fn plan_item(plan: &PlanRecord) -> Item {
    let mut item: Item = [
        ("pk", s(keys::plan_pk(&plan.key.repo, plan.pr))),
        ("sk", s(keys::project_key(&plan.key))),
        ("kind", s("plan")),
        ("repo", s(&plan.key.repo)),
        ("dir", s(&plan.key.dir)),
        ("workspace", s(&plan.key.workspace)),
        ("pr", n(plan.pr)),
        ("head_sha", s(&plan.head_sha)),
        ("run_id", s(&plan.run_id)),
        ("status", s(plan.status.as_str())),
        ("updated_at", n(plan.updated_at)),
        ("approvals", n(plan.approvals() as u64)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    if let Some(project) = &plan.key.project {
        item.insert("project".into(), s(project));
    }
    if let Some(planfile) = &plan.planfile {
        item.insert("planfile_key".into(), s(&planfile.key));
        item.insert("planfile_sha256".into(), s(&planfile.sha256));
        item.insert("planfile_size".into(), n(planfile.size));
    }
    if let Some(trigger) = &plan.trigger {
        item.insert("trigger".into(), s(trigger));
    }
    if let Some(result) = &plan.result {
        let json = serde_json::to_string(result).expect("a run result serialises");
        item.insert("result".into(), s(json));
    }
    // Only a run in progress is in the sweep index (a sparse index): a finished record, which
    // replaces the whole item, leaves it.
    if plan.in_progress() {
        item.insert("gsi2pk".into(), s(keys::SWEEP_RUN));
    }
    if let Some(deadline) = plan.deadline {
        item.insert("deadline".into(), n(deadline));
    }
    item
}

impl DynamoStore {
    /// Reads `item`, naming this store's table when it is malformed.
    pub(super) fn fields<'a>(&'a self, item: &'a Item) -> Fields<'a> {
        Fields {
            table: &self.table,
            item,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> LockHolder {
        LockHolder {
            pr: 7,
            user: "alice".into(),
            head_sha: "abc".into(),
            pull_url: "https://example.test/pr/7".into(),
        }
    }

    #[test]
    fn a_lock_write_is_conditional_on_absence_or_the_same_pr_and_keeps_since() {
        let write = LockWrite::new(&LockKey::new("o/r", ".", "default"), &holder(), 100);
        assert_eq!(write.condition, "attribute_not_exists(pk) OR #pr = :pr");
        assert!(
            write
                .update
                .contains("#since = if_not_exists(#since, :now)")
        );
        assert_eq!(write.values[":pr"], n(7));
        assert!(
            !write.names.contains_key("#project"),
            "no project name, no attribute"
        );
    }

    #[test]
    fn every_placeholder_in_a_lock_write_is_used_and_defined() {
        let key = LockKey::new("o/r", ".", "default").named("p");
        let write = LockWrite::new(&key, &holder(), 100);
        let text = format!("{} {}", write.update, write.condition);
        for name in write.names.keys() {
            assert!(text.contains(name.as_str()), "{name} unused");
        }
        for value in write.values.keys() {
            assert!(text.contains(value.as_str()), "{value} unused");
        }
    }

    #[test]
    fn plan_items_round_trip_through_their_attributes() {
        let plan = PlanRecord {
            key: LockKey::new("o/r", "envs/prod", "default").named("prod"),
            pr: 7,
            head_sha: "abc".into(),
            run_id: "run-1".into(),
            status: PlanStatus::Planned,
            planfile: Some(StoredArtifact {
                key: "planfiles/x".into(),
                sha256: "00".repeat(32),
                size: 12,
            }),
            updated_at: 5,
            trigger: Some("delivery-1".into()),
            result: Some(crate::run::ProjectResult {
                name: Some("prod".into()),
                dir: "envs/prod".into(),
                workspace: "default".into(),
                command: crate::run::RunCommand::Plan,
                outcome: crate::run::Outcome::Refused {
                    reason: "a \"quoted\" reason\nover two lines".into(),
                },
                log: Some(StoredArtifact {
                    key: "logs/x".into(),
                    sha256: "cd".repeat(32),
                    size: 9,
                }),
                steps: Vec::new(),
                counts: None,
                policies: Vec::new(),
                policy_approvals: Vec::new(),
                drift: None,
                base_branch: Some("main".to_owned()),
            }),
            deadline: None,
        };
        let item = plan_item(&plan);
        let fields = Fields {
            table: "t",
            item: &item,
        };
        assert_eq!(fields.plan().unwrap(), plan);
    }

    #[test]
    fn a_malformed_item_names_its_key_and_what_is_wrong() {
        let item: Item = [
            ("pk".to_owned(), s("lock#x")),
            ("pr".to_owned(), s("seven")),
        ]
        .into();
        let err = Fields {
            table: "t",
            item: &item,
        }
        .lock()
        .unwrap_err();
        assert!(err.to_string().contains("lock#x"), "{err}");
    }
}
