//! The loop's side of [`crate::authz`]: the facts about the sender gathered from the host (its
//! access looked up at most once per delivery, teams only when access does not qualify), the
//! decision, and the one comment a refusal gets; and whether a comment is addressed to this
//! deployment at all (an @-mention of another login is not).

use std::sync::Arc;

use super::{Context, PrContext};
use crate::authz::{self, Decision, Facts, Refusal, Request};
use crate::command::Action;
use crate::event::Event;
use crate::vcs::{Access, Actor, VcsClient};

impl Context {
    /// Whether a comment from `event` is addressed to this deployment: an @-mention only when
    /// it names `LANDFALL_BOT_USER`. One that is not gets no reply at all: it is someone
    /// else's. The webhook handler ignores such comments already; this holds for hand-offs too.
    pub(super) fn addressed(&self, event: &Event) -> bool {
        let other = event.mentions_another(|login| self.switches.mentions_the_bot(login));
        if other.is_some() {
            tracing::info!("the comment mentions someone other than LANDFALL_BOT_USER");
        }
        other.is_none()
    }

    /// Whether `action` may go ahead for `ctx`'s sender. A refusal is commented on the PR and
    /// nothing else happens; `false` is returned for it and for a fork PR's skipped autoplan.
    pub(crate) async fn authorize(
        self: &Arc<Self>,
        ctx: &PrContext,
        action: Action,
        automatic: bool,
        extra_args: &[String],
    ) -> anyhow::Result<bool> {
        let decision = self.decision(ctx, action, automatic, extra_args).await?;
        match decision {
            Decision::Allow => Ok(true),
            Decision::SkipFork => {
                if ctx.announce_fork_skip {
                    let allowed = self.effective_policy(ctx).permissions.allow_fork_prs;
                    self.upsert_comment(ctx, None, &fork_skipped(allowed))
                        .await?;
                }
                Ok(false)
            }
            Decision::Refuse(refusal) => {
                self.upsert_comment(ctx, None, &refused(action, &refusal))
                    .await?;
                Ok(false)
            }
        }
    }

    /// Whether `ctx`'s sender may `action` (a command, without Terraform arguments), decided
    /// as [`Self::authorize`] decides, with no comment.
    pub(crate) async fn may(self: &Arc<Self>, ctx: &PrContext, action: Action) -> anyhow::Result<bool> {
        let decision = self.decision(ctx, action, false, &[]).await?;
        Ok(matches!(decision, Decision::Allow))
    }

    /// The decision on `action` for `ctx`'s sender: the policy's rules, the sender's access
    /// (asked of the host once per delivery) and, when that does not qualify, their teams.
    async fn decision(
        &self,
        ctx: &PrContext,
        action: Action,
        automatic: bool,
        extra_args: &[String],
    ) -> anyhow::Result<Decision> {
        let rules = self.effective_policy(ctx).permissions;
        // People are told apart by what identifies them on this host (Bitbucket Cloud: the
        // account UUID, never the nickname its user picks).
        let sender = ctx.sender.identity(ctx.provider).unwrap_or_default();
        let request = Request {
            action,
            automatic,
            fork: ctx.is_fork(),
            sender: &sender,
            is_author: ctx.is_author(&ctx.sender),
            extra_args,
        };
        let decision = if let Some(decision) = authz::decide_without_lookup(&request, &rules) {
            decision
        } else if sender.is_empty() {
            // Nobody to look up: refused, never taken for someone.
            Decision::Refuse(Refusal::UnknownSender)
        } else {
            let mut facts = Facts::access(self.access(ctx, &ctx.sender).await?);
            let mut decision = authz::decide(&request, &rules, &facts);
            if matches!(decision, Decision::Refuse(_)) {
                for team in authz::teams_to_check(&request, &rules) {
                    match self.vcs.is_member(team, &ctx.sender).await {
                        Ok(true) => facts.member_of.push(team.clone()),
                        Ok(false) => {}
                        // A name this host has no team by (a GitHub team without its
                        // organisation): nobody is its member, and the other teams still count.
                        Err(crate::vcs::VcsError::Config { message }) => {
                            tracing::warn!(team, %message, "a team the host cannot look up has no member");
                        }
                        Err(err) => return Err(err.into()),
                    }
                }
                if !facts.member_of.is_empty() {
                    decision = authz::decide(&request, &rules, &facts);
                }
            }
            decision
        };
        // A fork's code runs on a writer's word for what they reviewed: not for a head pushed
        // after they wrote it (where the delivery names the head it was written at).
        let decision = match decision {
            Decision::Allow if ctx.is_fork() && !automatic && ctx.head_moved() => {
                Decision::Refuse(Refusal::ForkHeadMoved)
            }
            other => other,
        };
        tracing::info!(
            action = action.as_str(),
            automatic,
            fork = ctx.is_fork(),
            sender = %ctx.sender.login,
            decision = ?decision,
            "authorization"
        );
        Ok(decision)
    }

    /// `user`'s access to the PR's repository, asked of the host once per delivery.
    pub(crate) async fn access(&self, ctx: &PrContext, user: &Actor) -> anyhow::Result<Access> {
        if let Some(access) = ctx.known_access(user) {
            return Ok(access);
        }
        let access = self.vcs.permission(&ctx.repo, user).await?;
        ctx.remember_access(user, access);
        Ok(access)
    }
}

/// The comment for a refused command: what, why, and how the operator allows more.
fn refused(action: Action, refusal: &Refusal) -> String {
    let how = match refusal {
        Refusal::NotPermitted { .. } | Refusal::PlanArgsNeedApply => {
            "\n\nThe operator can allow more people with `permissions` in the Landfall policy (`LANDFALL_POLICY`)."
        }
        Refusal::ForkNotAllowed => {
            "\n\nThe operator can allow fork pull requests with `allow_fork_prs: true` in the Landfall policy (`LANDFALL_POLICY`)."
        }
        _ => "",
    };
    format!(
        "**`{}` refused:** {refusal}.{how}\n\nNothing was run and no lock changed.",
        action.as_str()
    )
}

fn fork_skipped(allowed: bool) -> String {
    if allowed {
        "**Not planned automatically:** this pull request comes from a fork. A user with write access can plan it by commenting `landfall plan` after reviewing its code.".to_owned()
    } else {
        "**Not planned:** this pull request comes from a fork, and this deployment does not plan fork pull requests (the operator can allow them with `allow_fork_prs: true` in the Landfall policy).".to_owned()
    }
}
