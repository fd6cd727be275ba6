//! The tree archive reader on a real `git archive` (what GitHub serves) and on hand-made
//! archives: what it keeps, and every archive it refuses (unsafe paths, a second top-level
//! folder, garbage, truncation, size limits) refused with an error, never a panic.

use std::collections::BTreeMap;

use landfall_e2e::{git, git_bytes};
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::vcs::TreeFilter;
use landfall_function::vcs::archive::{ArchiveError, ArchiveLimits, unpack};
use proptest::prelude::*;

use crate::archive_common::{Entry, github_tarball, gzip, tar};

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

fn terraform() -> TreeFilter {
    TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml")
}

fn unpacked(archive: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    unpack(archive, &terraform(), &ArchiveLimits::default())
}

fn tar_gz(entries: &[(&str, Entry<'_>)]) -> Vec<u8> {
    gzip(&tar(SHA, entries))
}

#[test]
fn the_top_folder_is_stripped_and_only_wanted_regular_files_are_kept() {
    let archive = tar_gz(&[
        ("acme-infra-ec26c3e/", Entry::Dir),
        (
            "acme-infra-ec26c3e/atlantis.yaml",
            Entry::File(b"version: 3\n"),
        ),
        ("acme-infra-ec26c3e/README.md", Entry::File(b"# infra\n")),
        ("acme-infra-ec26c3e/envs/prod/", Entry::Dir),
        (
            "acme-infra-ec26c3e/envs/prod/main.tf",
            Entry::File(b"a = 1\n"),
        ),
        (
            "acme-infra-ec26c3e/envs/prod/shared.tf",
            Entry::Symlink("../../shared.tf"),
        ),
    ]);
    let files = unpacked(&archive).unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["atlantis.yaml", "envs/prod/main.tf"]
    );
    assert_eq!(files["envs/prod/main.tf"], b"a = 1\n");
}

#[test]
fn a_real_git_archive_reads_back_every_regular_file_of_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    // Over 100 bytes: `git archive` writes the path in a pax header.
    let long = format!("modules/{}/{}/main.tf", "a".repeat(60), "b".repeat(60));
    let files = [
        ("atlantis.yaml", "version: 3\n"),
        ("envs/prod/main.tf", "module \"net\" {}\n"),
        ("envs/pr\u{e9}vu/main.tf", "locals {}\n"),
        ("shared/providers.tf", "provider \"aws\" {}\n"),
        ("README.md", "# infra\n"),
        (long.as_str(), "variable \"x\" {}\n"),
    ];
    for (path, text) in files {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::os::unix::fs::symlink(
        "../../shared/providers.tf",
        repo.join("envs/prod/providers.tf"),
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", "tree"]);
    let archive = git_bytes(
        repo,
        &[
            "archive",
            "--format=tar.gz",
            "--prefix=acme-infra-0123456/",
            "HEAD",
        ],
    )
    .unwrap();
    let expected: BTreeMap<String, Vec<u8>> = files
        .iter()
        .filter(|(p, _)| is_terraform_file(p) || *p == "atlantis.yaml")
        .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
        .collect();
    // The symlink is left out: planning reads it on its own.
    assert_eq!(unpacked(&archive).unwrap(), expected);
}

#[test]
fn a_github_shaped_tarball_reads_back_its_files() {
    let archive = github_tarball(
        "acme/infra",
        SHA,
        &[
            ("envs/prod/main.tf", b"a = 1\n"),
            ("modules/net/main.tf", b""),
        ],
    );
    let files = unpacked(&archive).unwrap();
    assert_eq!(
        files,
        BTreeMap::from([
            ("envs/prod/main.tf".to_owned(), b"a = 1\n".to_vec()),
            ("modules/net/main.tf".to_owned(), Vec::new()),
        ])
    );
}

#[test]
fn a_path_that_climbs_out_of_the_tree_refuses_the_archive() {
    for path in [
        "acme-x/../../etc/main.tf",
        "acme-x/envs/../../../main.tf",
        "/acme-x/main.tf",
        "acme-x/a//b.tf",
        "acme-x/./main.tf",
    ] {
        let archive = tar_gz(&[(path, Entry::File(b"a = 1\n"))]);
        assert!(
            matches!(unpacked(&archive), Err(ArchiveError::UnsafePath { .. })),
            "{path}"
        );
    }
}

#[test]
fn entries_outside_the_single_top_folder_refuse_the_archive() {
    let archive = tar_gz(&[
        ("acme-x/main.tf", Entry::File(b"")),
        ("other/main.tf", Entry::File(b"")),
    ]);
    assert!(matches!(
        unpacked(&archive),
        Err(ArchiveError::Layout { .. })
    ));
}

#[test]
fn garbage_and_truncated_archives_are_read_errors() {
    assert!(matches!(
        unpacked(b"not a gzip stream"),
        Err(ArchiveError::Read(_))
    ));
    let archive = tar_gz(&[("acme-x/main.tf", Entry::File(&[b'x'; 4096]))]);
    for cut in [10, archive.len() / 2, archive.len() - 4] {
        assert!(
            matches!(unpacked(&archive[..cut]), Err(ArchiveError::Read(_))),
            "cut at {cut}"
        );
    }
}

#[test]
fn wanted_files_over_the_kept_limit_refuse_the_archive() {
    let archive = tar_gz(&[
        ("acme-x/a.tf", Entry::File(&[b'x'; 600])),
        ("acme-x/b.tf", Entry::File(&[b'x'; 600])),
    ]);
    let limits = ArchiveLimits {
        kept: 1000,
        ..ArchiveLimits::default()
    };
    assert!(matches!(
        unpack(&archive[..], &terraform(), &limits),
        Err(ArchiveError::TooLarge { limit: 1000, .. })
    ));
}

#[test]
fn a_decompression_bomb_stops_at_the_unpacked_limit() {
    let zeros = vec![0; 1 << 20];
    let archive = tar_gz(&[("acme-x/zeros.bin", Entry::File(&zeros))]);
    let limits = ArchiveLimits {
        unpacked: 64 << 10,
        ..ArchiveLimits::default()
    };
    assert!(matches!(
        unpack(&archive[..], &terraform(), &limits),
        Err(ArchiveError::TooLarge {
            what: "unpacked bytes",
            ..
        })
    ));
}

proptest! {
    /// Corrupting the tar inside a valid gzip stream (headers, sizes, checksums, names)
    /// yields an error or some of the files, never a panic or a file outside the tree.
    #[test]
    fn a_corrupted_archive_is_an_error_or_files_inside_the_tree(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)
    ) {
        let mut bytes = tar(SHA, &[
            ("acme-x/", Entry::Dir),
            ("acme-x/envs/main.tf", Entry::File(b"resource \"terraform_data\" \"x\" {}\n")),
            ("acme-x/envs/link.tf", Entry::Symlink("main.tf")),
            ("acme-x/atlantis.yaml", Entry::File(b"version: 3\n")),
        ]);
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(files) = unpacked(&gzip(&bytes)) {
            for path in files.keys() {
                prop_assert!(!path.starts_with('/') && !path.split('/').any(|p| p == ".."), "{path}");
            }
        }
    }
}
