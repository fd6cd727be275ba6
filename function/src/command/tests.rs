use super::*;

fn command(text: &str) -> Command {
    match parse_comment(text) {
        Some(ParsedComment::Command(c)) => c,
        other => panic!("{text:?} parsed as {other:?}"),
    }
}

fn error(text: &str) -> String {
    match parse_comment(text) {
        Some(ParsedComment::Invalid(i)) => i.error,
        other => panic!("{text:?} parsed as {other:?}"),
    }
}

#[test]
fn a_value_that_looks_like_a_flag_survives_the_canonical_spelling() {
    let Some(ParsedComment::Command(first)) = parse_comment("landfall plan --workspace=--") else {
        panic!("parses");
    };
    assert_eq!(first.to_string(), "landfall plan --workspace=--");
    let Some(ParsedComment::Command(second)) = parse_comment(&first.to_string()) else {
        panic!("the canonical spelling parses");
    };
    assert_eq!(second, first);
}

#[test]
fn a_comment_that_does_not_start_with_the_tool_is_not_a_command() {
    assert_eq!(parse_comment("This MR needs work."), None);
    assert_eq!(parse_comment("please run landfall plan"), None);
    assert_eq!(parse_comment("atlantis-bot plan"), None);
    assert_eq!(parse_comment(""), None);
    assert_eq!(parse_comment("   \n  "), None);
}

#[test]
fn surrounding_whitespace_is_allowed_but_not_more_lines() {
    let c = command("  \n\tlandfall plan -d infra\r\n \r\n");
    assert_eq!(c.action, Action::Plan);
    assert_eq!(c.dir.as_deref(), Some("infra"));
    for text in [
        "landfall plan -d infra\r\nthanks!\natlantis apply",
        "atlantis apply\n\nonly after the DB migration has landed",
    ] {
        let Some(ParsedComment::Invalid(invalid)) = parse_comment(text) else {
            panic!("{text:?} was taken as a command");
        };
        assert!(invalid.error.contains("the whole comment"), "{invalid:?}");
    }
}

#[test]
fn a_command_in_backticks_or_in_another_case_is_read_as_atlantis_reads_it() {
    for text in [
        "`atlantis plan -d infra`",
        "```\natlantis plan -d infra\n```",
        "atlantis Plan -d infra",
        "Landfall PLAN -d infra",
        "run Plan -d infra",
    ] {
        let c = command(text);
        assert_eq!(
            (c.action, c.dir.as_deref()),
            (Action::Plan, Some("infra")),
            "{text}"
        );
    }
    // Still the whole comment: a quoted command inside prose is not one.
    assert_eq!(parse_comment("try `atlantis plan` here"), None);
}

#[test]
fn atlantis_is_an_alias_for_landfall() {
    let c = command("atlantis apply -p staging");
    assert_eq!(
        (c.tool, c.action, c.project.as_deref()),
        (Tool::Atlantis, Action::Apply, Some("staging"))
    );
}

#[test]
fn run_addresses_us_only_when_a_command_follows() {
    let c = command("run plan -d infra");
    assert_eq!(
        (c.tool, c.action, c.dir.as_deref()),
        (Tool::Run, Action::Plan, Some("infra"))
    );
    assert_eq!(
        command("run state -d infra rm aws_s3_bucket.a").action,
        Action::StateRm
    );
    assert!(error("run apply --bogus").contains("--bogus"));
    assert!(error("run plan\nthen apply").contains("the whole comment"));
    for text in [
        "run",
        "run the tests again",
        "run it's flaky",
        "Run plan",
        "running plan",
        "run #123 failed",
        "run help me",
        "run version 2 of the script",
        "run 'plan'",
    ] {
        assert_eq!(parse_comment(text), None, "{text:?}");
    }
}

#[test]
fn every_flag_spelling_is_understood() {
    for text in [
        "landfall plan -d a/b -w prod --verbose",
        "landfall plan --dir a/b --workspace prod --verbose",
        "landfall plan --dir=a/b --workspace=prod --verbose",
        "landfall plan -da/b -wprod --verbose",
        "landfall plan -d=./a/b/ -w=prod --verbose",
    ] {
        let c = command(text);
        assert_eq!(c.dir.as_deref(), Some("a/b"), "{text}");
        assert_eq!(c.workspace.as_deref(), Some("prod"), "{text}");
        assert!(c.verbose, "{text}");
    }
}

#[test]
fn quoting_follows_shell_words() {
    let c = command(r#"landfall plan -p "my project" -- -var 'name=a b' -var=x=\"y\""#);
    assert_eq!(c.project.as_deref(), Some("my project"));
    assert_eq!(c.extra_args, ["-var", "name=a b", "-var=x=\"y\""]);
}

#[test]
fn bare_tool_name_and_help_flags_ask_for_help() {
    for text in [
        "landfall",
        "atlantis help",
        "landfall --help",
        "landfall plan -h",
        "landfall unlock --help",
    ] {
        assert_eq!(command(text).action, Action::Help, "{text}");
    }
    assert!(
        command("landfall help")
            .reply()
            .unwrap()
            .contains("landfall plan")
    );
}

#[test]
fn version_replies_with_the_crate_version() {
    let reply = command("landfall version").reply().unwrap();
    assert!(reply.contains(env!("CARGO_PKG_VERSION")), "{reply}");
    // The host sends the reply back as a new comment: it must not read as a command.
    assert!(parse_comment(&reply).is_none(), "{reply}");
}

#[test]
fn unknown_commands_and_flags_get_a_helpful_reply() {
    assert!(error("landfall destroy").contains("unknown command `\"destroy\"`"));
    assert!(error("landfall plan --force").contains("unknown flag `\"--force\"`"));
    assert!(error("landfall plan infra").contains("unexpected argument"));
    let Some(ParsedComment::Invalid(invalid)) = parse_comment("atlantis destroy") else {
        panic!()
    };
    assert!(invalid.reply().contains("atlantis plan"));
}

#[test]
fn malformed_flags_are_refused() {
    assert!(error("landfall plan -d").contains("needs a value"));
    assert!(error("landfall plan -d a -d b").contains("more than once"));
    assert!(error("landfall plan --verbose=yes").contains("takes no value"));
    assert!(error("landfall plan -p x -d y").contains("cannot be combined"));
    assert!(error("landfall unlock -p x").contains("takes no flags"));
    assert!(error("landfall plan -d 'unterminated").contains("quote"));
    assert!(error("landfall plan -w ../x").contains("workspace"));
}

#[test]
fn directories_outside_the_repository_are_refused() {
    for dir in ["/etc", "../other", "a/../../b", "C:\\x", "\\\\server"] {
        assert!(
            error(&format!("landfall plan -d '{dir}'")).contains("relative path"),
            "{dir}"
        );
    }
    assert_eq!(command("landfall plan -d .").dir.as_deref(), Some("."));
}

#[test]
fn a_directory_is_normalised_as_the_repo_config_normalises_dir() {
    for (dir, normal) in [("./a/b/", "a/b"), ("a/../b", "b"), ("a/b/..", "a")] {
        let c = command(&format!("landfall plan -d '{dir}'"));
        assert_eq!(c.dir.as_deref(), Some(normal), "{dir}");
        assert_eq!(c.dir, crate::repo_config::normalize_dir(dir), "{dir}");
    }
    for dir in ["a\\b", "a:b", "a/../.."] {
        assert!(
            error(&format!("landfall plan -d '{dir}'")).contains("relative path"),
            "{dir}"
        );
    }
}

#[test]
fn extra_args_that_escape_the_project_are_refused() {
    for arg in [
        "-chdir=/tmp",
        "--chdir=x",
        "-out=plan",
        "-state=/var/state",
        "-state-out=../s",
        "-backup ../b",
        "-var-file=/etc/passwd",
        "-state",
        "-var-file=env/../../prod.tfvars",
        r"'-state=a\b'",
        "-backup=c:/b",
    ] {
        assert!(
            error(&format!("landfall plan -- {arg}")).contains("not allowed"),
            "{arg}"
        );
    }
    let c = command(
        "landfall apply -- -var-file=env/prod.tfvars -lock-timeout=5m -target=aws_s3_bucket.x",
    );
    assert_eq!(c.extra_args.len(), 3);
    // Paths are checked, not rewritten: one that climbs back inside the project is passed as is.
    let c = command("landfall plan -- -var-file=env/../prod.tfvars -backup ./b");
    assert_eq!(
        c.extra_args,
        ["-var-file=env/../prod.tfvars", "-backup", "./b"]
    );
}

#[test]
fn display_spells_the_command_canonically() {
    let c = command("atlantis plan --dir=./a -w prod -- -var 'x=a b'");
    assert_eq!(c.to_string(), "atlantis plan -d a -w prod -- -var 'x=a b'");
}

#[test]
fn cancel_takes_a_selection_but_no_terraform_arguments() {
    let c = command("landfall cancel -d envs/prod -w staging");
    assert_eq!(c.action, Action::Cancel);
    assert_eq!(c.dir.as_deref(), Some("envs/prod"));
    assert_eq!(c.workspace.as_deref(), Some("staging"));
    assert_eq!(command("atlantis cancel").action, Action::Cancel);
    assert!(error("landfall cancel -- -lock=false").contains("no Terraform arguments"));
    assert!(error("landfall approve_policies -- -lock=false").contains("no Terraform arguments"));
    assert!(error("landfall cancel --verbose").contains("unknown flag"));
    assert!(error("landfall approve_policies --verbose").contains("unknown flag"));
}

#[test]
fn import_takes_an_address_and_an_id_with_flags_anywhere() {
    let c = command(
        r#"atlantis import -d envs/prod 'module.db["main"].aws_db_instance.this' db-1 -- -var-file=prod.tfvars"#,
    );
    assert_eq!(c.action, Action::Import);
    assert_eq!(c.dir.as_deref(), Some("envs/prod"));
    assert_eq!(
        c.operands,
        [r#"module.db["main"].aws_db_instance.this"#, "db-1"]
    );
    assert_eq!(c.extra_args, ["-var-file=prod.tfvars"]);
    // The canonical spelling reads back as the same command.
    assert_eq!(command(&c.to_string()), c);
    let c = command("landfall import aws_s3_bucket.logs acme-logs -p prod");
    assert_eq!(c.project.as_deref(), Some("prod"));
    assert_eq!(c.operands, ["aws_s3_bucket.logs", "acme-logs"]);
}

#[test]
fn import_with_other_than_two_operands_is_refused() {
    assert!(error("landfall import aws_s3_bucket.logs").contains("an address and an ID"));
    assert!(error("landfall import a b c").contains("an address and an ID"));
    assert!(error("landfall import").contains("an address and an ID"));
    // A word that starts with `-` is a flag, never an operand.
    assert!(error("landfall import a -state=/tmp/x").contains("unknown flag"));
    // Terraform arguments are held to the same rules as plan's.
    assert!(error("landfall import a b -- -chdir=/").contains("not allowed"));
    assert!(error("landfall import a b -- -state=../../x").contains("not allowed"));
}

#[test]
fn state_rm_takes_one_or_more_addresses() {
    let c = command("landfall state rm -d infra aws_s3_bucket.a 'aws_s3_bucket.b[0]'");
    assert_eq!(c.action, Action::StateRm);
    assert_eq!(c.operands, ["aws_s3_bucket.a", "aws_s3_bucket.b[0]"]);
    assert_eq!(
        c.to_string(),
        "landfall state rm aws_s3_bucket.a 'aws_s3_bucket.b[0]' -d infra"
    );
    assert_eq!(command(&c.to_string()), c);
    assert!(error("landfall state rm").contains("one or more addresses"));
    assert!(error("landfall state rm -d infra").contains("one or more addresses"));
    assert!(error("landfall state mv a b").contains("unknown state command `\"mv\"`"));
    assert!(error("landfall state").contains("unknown state command"));
    assert!(error("landfall state -d infra mv a").contains("unknown state command `\"mv\"`"));
    // Flags before `rm`, as Atlantis' docs write them; a directory named `rm` is a value.
    for text in [
        "atlantis state -d infra rm aws_s3_bucket.a",
        "atlantis state --dir=infra rm aws_s3_bucket.a",
        "atlantis state -d infra -w default rm aws_s3_bucket.a",
    ] {
        let c = command(text);
        assert_eq!(
            (c.action, c.dir.as_deref(), c.operands.as_slice()),
            (
                Action::StateRm,
                Some("infra"),
                ["aws_s3_bucket.a".to_owned()].as_slice()
            ),
            "{text}"
        );
    }
    let c = command("atlantis state -d rm rm aws_s3_bucket.a");
    assert_eq!((c.dir.as_deref(), c.operands.len()), (Some("rm"), 1));
    // Positional words stay refused where no command takes them.
    assert!(error("landfall plan aws_s3_bucket.a").contains("unexpected argument"));
}

#[test]
fn an_operand_with_control_characters_is_refused() {
    assert!(error("landfall import \"a\u{7}\" b").contains("not a valid address or ID"));
    let long = "a".repeat(3000);
    assert!(error(&format!("landfall state rm {long}")).contains("not a valid address or ID"));
}

#[test]
fn an_at_mention_followed_by_a_command_is_parsed_for_the_orchestrator_to_check() {
    let Some(ParsedComment::Command(c)) = parse_comment("@landfall-bot plan -d infra") else {
        panic!("a mention followed by a command is parsed");
    };
    assert_eq!(
        (c.tool, c.action, c.dir.as_deref()),
        (Tool::Mention, Action::Plan, Some("infra"))
    );
    assert_eq!(
        mentioned("@landfall-bot plan -d infra"),
        Some("landfall-bot")
    );
    assert!(matches!(
        parse_comment("@landfall-bot help"),
        Some(ParsedComment::Command(Command {
            tool: Tool::Mention,
            action: Action::Help,
            ..
        }))
    ));
    // A mention in conversation is not a command, nor is a lone `@`.
    assert_eq!(parse_comment("@alice please review"), None);
    assert_eq!(parse_comment("@ plan"), None);
    assert_eq!(mentioned("landfall plan"), None);
    // Replies spell commands with a word that always works.
    let Some(ParsedComment::Invalid(invalid)) = parse_comment("@bot plan --bogus") else {
        panic!("an invalid command after a mention is still an invalid command");
    };
    assert!(
        invalid.reply().contains("`landfall plan`"),
        "{}",
        invalid.reply()
    );
}
