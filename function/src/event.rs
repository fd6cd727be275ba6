//! The normalised event model: what every host's webhook becomes once it is authenticated and
//! parsed. Routing decisions downstream (plan, apply, release locks) read only these types, never
//! a host's payload.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::command::ParsedComment;

/// A VCS host whose webhooks the function understands. The names are the values of `LANDFALL_VCS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// github.com and GitHub Enterprise Server.
    Github,
    /// gitlab.com and self-managed GitLab.
    Gitlab,
    /// Azure DevOps Services and Server.
    AzureDevops,
    /// bitbucket.org.
    BitbucketCloud,
    /// Bitbucket Server and Data Center.
    BitbucketServer,
    /// Gitea and Forgejo.
    Gitea,
}

impl Provider {
    /// Every provider, in the order the docs list them.
    pub const ALL: [Provider; 6] = [
        Provider::Github,
        Provider::Gitlab,
        Provider::AzureDevops,
        Provider::BitbucketCloud,
        Provider::BitbucketServer,
        Provider::Gitea,
    ];

    /// Whether a login names one person for good. Bitbucket Cloud's nickname is chosen by its
    /// user and not unique, so people are told apart by their account UUID there.
    #[must_use]
    pub fn logins_are_unique(self) -> bool {
        self != Provider::BitbucketCloud
    }

    /// The name used in `LANDFALL_VCS` and in the `provider` field of `webhook inspect`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
            Provider::AzureDevops => "azure-devops",
            Provider::BitbucketCloud => "bitbucket-cloud",
            Provider::BitbucketServer => "bitbucket-server",
            Provider::Gitea => "gitea",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a provider name that is not one of [`Provider::ALL`].
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown VCS {given:?}: expected one of github, gitlab, azure-devops, bitbucket-cloud, bitbucket-server, gitea"
)]
pub struct UnknownProvider {
    /// The name that was given.
    pub given: String,
}

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        // Forgejo speaks Gitea's webhook dialect; accept its name as an alias.
        if wanted == "forgejo" {
            return Ok(Provider::Gitea);
        }
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| UnknownProvider {
                given: s.to_owned(),
            })
    }
}

/// A repository's full name: `owner/name`, or the whole namespace path for nested GitLab groups
/// (`group/subgroup/project`), `PROJECT/slug` for Bitbucket Server and `project/repo` for Azure
/// DevOps.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RepoName(String);

impl RepoName {
    /// Wraps a full name as the host spells it.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        RepoName(name.into())
    }

    /// The full name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<RepoName> for String {
    fn from(name: RepoName) -> String {
        name.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pull (or merge) request's number as the host shows it to people (GitLab's `iid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PullRequestNumber(pub u64);

impl fmt::Display for PullRequestNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A commit id as the host gives it. Bitbucket Cloud gives 12-character abbreviations; see
/// [`CommitSha::is_abbreviated`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitSha(String);

impl CommitSha {
    /// Wraps a commit id.
    #[must_use]
    pub fn new(sha: impl Into<String>) -> Self {
        CommitSha(sha.into())
    }

    /// The commit id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is shorter than a full SHA-1 id, so it must be resolved through the API before
    /// anything is bound to it.
    #[must_use]
    pub fn is_abbreviated(&self) -> bool {
        self.0.len() < 40
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A comment's id as the host needs it to edit the comment (Azure DevOps: `thread/comment`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommentId(pub String);

impl fmt::Display for CommentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host's id for one delivery, used to log and (later) to de-duplicate redeliveries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(String);

impl DeliveryId {
    /// Wraps a delivery id.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        DeliveryId(id.into())
    }

    /// The delivery id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One webhook delivery, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The host that sent it.
    pub provider: Provider,
    /// The host's delivery id, when it sends one.
    pub delivery: Option<DeliveryId>,
    /// What happened.
    pub kind: EventKind,
    /// The base repository (where the pull request lives), when the payload names it.
    pub repo: Option<RepoName>,
    /// The pull request, when the payload names it.
    pub number: Option<PullRequestNumber>,
    /// The head commit. Absent from GitHub and Gitea comment payloads: fetch it from the API.
    pub head_sha: Option<CommitSha>,
    /// The branch the changes come from (short name, never `refs/heads/...`).
    pub head_branch: Option<String>,
    /// The branch the pull request targets (short name).
    pub base_branch: Option<String>,
    /// Who opened the pull request.
    pub pr_author: Option<String>,
    /// Who caused this delivery.
    pub sender: Option<String>,
    /// The host's id for the sender, where its permission API needs one (GitLab's numeric user
    /// id, Bitbucket Cloud's account UUID, Azure DevOps' identity id); `None` elsewhere.
    pub sender_id: Option<String>,
    /// The repository the PR's head branch lives in, when the payload names it: a fork when it
    /// differs from `repo`. `None` when the payload does not say (or the fork was deleted).
    pub head_repo: Option<RepoName>,
    /// The comment's text, for comment events.
    pub comment: Option<String>,
    /// The host's id for the comment, for comment events (new, edited or deleted): a comment's
    /// command runs at most once, whatever event a delivery of it is sent again as.
    pub comment_id: Option<CommentId>,
    /// The URL to clone the head from, when the payload gives one.
    pub clone_url: Option<String>,
    /// The SHA-256 of the delivery's raw body (hex): a body seen before is a replay, whatever
    /// delivery id it comes with (hosts other than signed GitLab do not sign the id).
    pub body_sha256: Option<String>,
    /// The GitHub App installation that sent the delivery (`installation.id`); API tokens for
    /// the repository are minted for it.
    pub installation: Option<u64>,
    /// Whether the pull request is a draft (each host's flag; on Gitea a `WIP:` title too).
    pub draft: bool,
}

impl Event {
    /// An event of `kind` from `provider` with every other field empty; parsers fill in the rest.
    #[must_use]
    pub fn new(provider: Provider, kind: EventKind) -> Self {
        Event {
            provider,
            delivery: None,
            kind,
            repo: None,
            number: None,
            head_sha: None,
            head_branch: None,
            base_branch: None,
            pr_author: None,
            sender: None,
            sender_id: None,
            head_repo: None,
            comment: None,
            comment_id: None,
            clone_url: None,
            body_sha256: None,
            installation: None,
            draft: false,
        }
    }

    /// The login a comment's command @-mentions when `is_the_bot` does not take it: a command
    /// for another tool with the same words (an empty login for a bare `@`).
    pub fn mentions_another(&self, is_the_bot: impl Fn(&str) -> bool) -> Option<String> {
        let EventKind::Commented(Some(parsed)) = &self.kind else {
            return None;
        };
        if parsed.tool() != crate::command::Tool::Mention {
            return None;
        }
        let login = self.comment.as_deref().and_then(crate::command::mentioned);
        match login {
            Some(login) if is_the_bot(login) => None,
            other => Some(other.unwrap_or_default().to_owned()),
        }
    }

    /// Ignores a comment not addressed to the bot: one that [`Event::mentions_another`] login
    /// ([`IgnoreReason::MentionsAnother`]), or one the bot wrote itself
    /// ([`IgnoreReason::FromTheBot`]: its replies are never commands). Neither gets a reply.
    pub fn ignore_unaddressed(&mut self, is_the_bot: impl Fn(&str) -> bool) {
        if !matches!(self.kind, EventKind::Commented(Some(_))) {
            return;
        }
        if self.sender.as_deref().is_some_and(&is_the_bot) {
            self.kind = EventKind::Ignored(IgnoreReason::FromTheBot);
        } else if let Some(login) = self.mentions_another(is_the_bot) {
            self.kind = EventKind::Ignored(IgnoreReason::MentionsAnother(login));
        }
    }

    /// Ignores an event that would plan a draft pull request by itself (opened, pushed,
    /// reopened: [`IgnoreReason::Draft`]), as Atlantis does unless `--allow-draft-prs`: a draft
    /// is planned once it is marked ready, or when a comment asks.
    pub fn ignore_draft(&mut self) {
        if self.draft
            && matches!(
                self.kind,
                EventKind::Opened | EventKind::Pushed | EventKind::Reopened
            )
        {
            self.kind = EventKind::Ignored(IgnoreReason::Draft);
        }
    }

    /// Whether the function has work to do for this event: everything but pings, ignored
    /// deliveries and comments that carry no command.
    #[must_use]
    pub fn is_actionable(&self) -> bool {
        !matches!(
            self.kind,
            EventKind::Ping | EventKind::Ignored(_) | EventKind::Commented(None)
        )
    }

    /// The stable JSON view printed by `webhook inspect` and returned by the handler.
    #[must_use]
    pub fn view(&self, verified: Option<bool>) -> EventView<'_> {
        let (reason, command) = match &self.kind {
            EventKind::Ignored(reason) => (Some(reason.to_string()), None),
            EventKind::Commented(parsed) => (None, parsed.as_ref()),
            _ => (None, None),
        };
        EventView {
            provider: self.provider,
            event: self.kind.name(),
            reason,
            repo: self.repo.as_ref().map(RepoName::as_str),
            number: self.number.map(|n| n.0),
            head_sha: self.head_sha.as_ref().map(CommitSha::as_str),
            head_branch: self.head_branch.as_deref(),
            base_branch: self.base_branch.as_deref(),
            pr_author: self.pr_author.as_deref(),
            sender: self.sender.as_deref(),
            comment: self.comment.as_deref(),
            command,
            verified,
        }
    }
}

/// What a delivery means for the function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A pull request was opened.
    Opened,
    /// New commits were pushed to a pull request's head branch.
    Pushed,
    /// A draft pull request was marked ready for review.
    Ready,
    /// A closed pull request was reopened.
    Reopened,
    /// A pull request was closed without merging (or deleted).
    Closed,
    /// A pull request was merged.
    Merged,
    /// Someone commented on a pull request: the command it carries (valid or not), or `None` for a
    /// comment that is not addressed to us.
    Commented(Option<ParsedComment>),
    /// The host checks that the hook works.
    Ping,
    /// Nothing for the function to do.
    Ignored(IgnoreReason),
}

impl EventKind {
    /// The `event` name in the inspect view.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Pushed => "pushed",
            EventKind::Ready => "ready",
            EventKind::Reopened => "reopened",
            EventKind::Closed => "closed",
            EventKind::Merged => "merged",
            EventKind::Commented(_) => "comment",
            EventKind::Ping => "ping",
            EventKind::Ignored(_) => "ignored",
        }
    }
}

/// Why a delivery is ignored. The text is shown in logs and in the inspect view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// An event type the function does not handle (`push`, `pipeline`, `workitem.commented`...).
    UnhandledEvent(String),
    /// A pull-request action that changes nothing the function cares about (label, title, assignee...).
    UnhandledAction {
        /// The event type.
        event: String,
        /// The action.
        action: String,
    },
    /// A push to a branch, outside any pull request.
    BranchPush,
    /// A comment on a plain issue, a commit or a snippet.
    NotAPullRequestComment(&'static str),
    /// A comment that was edited or deleted; only new comments carry commands.
    CommentChanged(String),
    /// A system comment written by the host itself.
    SystemComment,
    /// A review comment on a line of the diff; commands go in the conversation.
    ReviewComment,
    /// A GitLab merge-request update that brings no new commits.
    UpdateWithoutCommits(Vec<String>),
    /// A Bitbucket Cloud delivery without the `X-Event-Key` header that names its type.
    MissingEventType,
    /// An Azure DevOps comment event in resource version 1.0, which names no repository: the
    /// service hook must be set to resource version 2.0.
    AzureCommentWithoutRepository,
    /// A comment that @-mentions another login than the bot's (`LANDFALL_BOT_USER`): someone
    /// else's, so it gets no reply.
    MentionsAnother(String),
    /// A comment written by the bot itself (`LANDFALL_BOT_USER`).
    FromTheBot,
    /// An event of a draft pull request, which is not planned by itself
    /// (`LANDFALL_ALLOW_DRAFT_PRS` plans drafts too).
    Draft,
    /// A Bitbucket delivery whose `X-Event-Key` header (not signed) names another event than
    /// its signed body says (Data Center's `eventKey`; Cloud's pull request `state`).
    EventKeyMismatch {
        /// The header's event key.
        header: String,
        /// What the body says instead.
        body: String,
    },
}

impl IgnoreReason {
    /// Whether the host is set up wrongly, so that deliveries the function should act on are lost
    /// until the operator fixes it: logged as a warning, not as routine.
    #[must_use]
    pub fn needs_operator(&self) -> bool {
        matches!(self, IgnoreReason::AzureCommentWithoutRepository)
    }
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::UnhandledEvent(event) => write!(f, "unhandled event type {event:?}"),
            IgnoreReason::UnhandledAction { event, action } => {
                write!(f, "unhandled {event} action {action:?}")
            }
            IgnoreReason::BranchPush => f.write_str("push to a branch"),
            IgnoreReason::NotAPullRequestComment(on) => {
                write!(f, "comment on {on}, not a pull request")
            }
            IgnoreReason::CommentChanged(how) => write!(f, "comment {how}"),
            IgnoreReason::SystemComment => f.write_str("system comment"),
            IgnoreReason::ReviewComment => {
                f.write_str("review comment on the diff (commands go in the conversation)")
            }
            IgnoreReason::UpdateWithoutCommits(fields) if fields.is_empty() => {
                f.write_str("merge request update without new commits")
            }
            IgnoreReason::UpdateWithoutCommits(fields) => {
                write!(
                    f,
                    "merge request update without new commits ({})",
                    fields.join(", ")
                )
            }
            IgnoreReason::MissingEventType => f.write_str("no X-Event-Key header"),
            IgnoreReason::MentionsAnother(login) => {
                write!(f, "comment addressed to @{login}, not to LANDFALL_BOT_USER")
            }
            IgnoreReason::FromTheBot => f.write_str("comment written by LANDFALL_BOT_USER itself"),
            IgnoreReason::Draft => f.write_str(
                "draft pull request: planned once it is ready, or when a comment asks \
                 (LANDFALL_ALLOW_DRAFT_PRS plans drafts too)",
            ),
            IgnoreReason::EventKeyMismatch { header, body } => {
                write!(f, "X-Event-Key {header:?} does not match the signed body's {body}")
            }
            IgnoreReason::AzureCommentWithoutRepository => f.write_str(
                "Azure DevOps comment event in resource version 1.0, which names no repository: \
                 edit the \"Pull request commented on\" service hook and set its resource version to 2.0",
            ),
        }
    }
}

/// The JSON object that `webhook inspect` prints; its keys are a published contract.
#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    /// The provider name.
    pub provider: Provider,
    /// `opened|pushed|ready|reopened|closed|merged|comment|ping|ignored`.
    pub event: &'static str,
    /// Why the event is ignored, for `ignored` only.
    pub reason: Option<String>,
    /// The repository's full name.
    pub repo: Option<&'a str>,
    /// The pull request number.
    pub number: Option<u64>,
    /// The head commit.
    pub head_sha: Option<&'a str>,
    /// The head branch.
    pub head_branch: Option<&'a str>,
    /// The base branch.
    pub base_branch: Option<&'a str>,
    /// The pull request's author.
    pub pr_author: Option<&'a str>,
    /// Who caused the delivery.
    pub sender: Option<&'a str>,
    /// The comment text.
    pub comment: Option<&'a str>,
    /// The parsed command, for `comment` only.
    pub command: Option<&'a ParsedComment>,
    /// Whether the signature matched; `None` when no secret was given.
    pub verified: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip_through_from_str() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>().unwrap(), p);
        }
        assert_eq!("Forgejo".parse::<Provider>().unwrap(), Provider::Gitea);
        assert!("svn".parse::<Provider>().is_err());
    }

    #[test]
    fn view_of_an_ignored_event_carries_its_reason_and_no_command() {
        let event = Event::new(
            Provider::Github,
            EventKind::Ignored(IgnoreReason::BranchPush),
        );
        let json = serde_json::to_value(event.view(None)).unwrap();
        assert_eq!(json["event"], "ignored");
        assert_eq!(json["reason"], "push to a branch");
        assert!(json["command"].is_null());
        assert!(json["verified"].is_null());
    }

    #[test]
    fn view_has_exactly_the_contract_keys() {
        let event = Event::new(Provider::Gitea, EventKind::Opened);
        let json = serde_json::to_value(event.view(Some(true))).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "base_branch",
                "command",
                "comment",
                "event",
                "head_branch",
                "head_sha",
                "number",
                "pr_author",
                "provider",
                "reason",
                "repo",
                "sender",
                "verified"
            ]
        );
    }

    #[test]
    fn shorter_than_forty_characters_is_an_abbreviated_sha() {
        assert!(CommitSha::new("e0624da46d3a").is_abbreviated());
        assert!(!CommitSha::new("ec26c3e57ca3a959ca5aad62de7213c562f8c821").is_abbreviated());
    }
}
