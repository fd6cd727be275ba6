//! Shared by the archive tests: `.tar.gz` archives shaped like the ones GitHub serves (`git
//! archive`: a pax global header with the commit id, then every entry under one
//! `owner-repo-sha/` folder), written header by header so that entries no honest archive holds
//! (`..`, absolute paths) can be written too.
#![allow(dead_code)]

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use landfall_function::vcs::tree::HeadFiles;
use tar::{EntryType, Header};

/// One archive entry.
#[derive(Clone, Copy, Debug)]
pub enum Entry<'a> {
    /// A folder.
    Dir,
    /// A regular file with its contents.
    File(&'a [u8]),
    /// A symlink to the target.
    Symlink(&'a str),
}

fn block(tar: &mut Vec<u8>, path: &str, kind: EntryType, size: usize) -> Header {
    let mut header = Header::new_ustar();
    // A path over the 100 bytes of `name` puts its folders in ustar's `prefix` (155 bytes).
    let (prefix, name) = if path.len() <= 100 {
        ("", path)
    } else {
        let cut = path[..path.len() - 1]
            .rfind('/')
            .filter(|&cut| path.len() - cut - 1 <= 100)
            .expect("a file name of at most 100 bytes");
        (&path[..cut], &path[cut + 1..])
    };
    let ustar = header.as_ustar_mut().unwrap();
    ustar.prefix[..prefix.len()].copy_from_slice(prefix.as_bytes());
    ustar.name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_size(size as u64);
    header.set_cksum();
    tar.extend_from_slice(header.as_bytes());
    header
}

/// The uncompressed tar of `entries`, paths written as they are, opening with the pax global
/// header `git archive` writes for `sha`.
pub fn tar(sha: &str, entries: &[(&str, Entry<'_>)]) -> Vec<u8> {
    let mut tar = Vec::new();
    let comment = format!("52 comment={sha}\n");
    block(
        &mut tar,
        "pax_global_header",
        EntryType::XGlobalHeader,
        comment.len(),
    );
    tar.extend_from_slice(comment.as_bytes());
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    for (path, entry) in entries {
        match entry {
            Entry::Dir => {
                block(&mut tar, path, EntryType::Directory, 0);
            }
            Entry::File(data) => {
                block(&mut tar, path, EntryType::Regular, data.len());
                tar.extend_from_slice(data);
                tar.resize(tar.len().div_ceil(512) * 512, 0);
            }
            Entry::Symlink(target) => {
                let start = tar.len();
                let mut header = block(&mut tar, path, EntryType::Symlink, 0);
                header.set_link_name(target).unwrap();
                header.set_cksum();
                tar[start..].copy_from_slice(header.as_bytes());
            }
        }
    }
    tar.resize(tar.len() + 1024, 0);
    tar
}

/// `bytes` gzipped.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// GitHub's tarball of `files` (path in the repository, contents) in `repo` (`owner/name`) at
/// `sha`: under `owner-name-sha7/`, with an entry for each folder before its files.
pub fn github_tarball(repo: &str, sha: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    tarball(
        &format!("{}-{}", repo.replace('/', "-"), &sha[..7]),
        sha,
        files,
    )
}

/// The `.tar.gz` `git archive --prefix={top}/` writes of `files` (path in the repository,
/// contents) at `sha`, with an entry for each folder before its files.
pub fn tarball(top: &str, sha: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut paths: Vec<(String, Entry<'_>)> = vec![(format!("{top}/"), Entry::Dir)];
    let mut dirs = std::collections::BTreeSet::new();
    for (path, data) in files {
        let mut dir = String::new();
        for part in path.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
            dir.push_str(part);
            dir.push('/');
            if dirs.insert(dir.clone()) {
                paths.push((format!("{top}/{dir}"), Entry::Dir));
            }
        }
        paths.push((format!("{top}/{path}"), Entry::File(data)));
    }
    let entries: Vec<(&str, Entry<'_>)> = paths.iter().map(|(p, e)| (p.as_str(), *e)).collect();
    gzip(&tar(sha, &entries))
}

/// A small tree for the adapters' archive tests: the config, two Terraform files and one other.
pub const TREE: &[(&str, &[u8])] = &[
    ("atlantis.yaml", b"version: 3\n"),
    ("README.md", b"# infra\n"),
    ("envs/prod/main.tf", b"a = 1\n"),
    ("modules/net/main.tf", b"variable \"cidr\" {}\n"),
];

/// The files of [`TREE`] that are read on their own where there is no archive.
pub fn tree_wanted() -> impl Iterator<Item = &'static (&'static str, &'static [u8])> {
    TREE.iter().filter(|(p, _)| *p != "README.md")
}

/// What planning reads of [`TREE`] with `atlantis.yaml` as the config file.
pub fn tree_head() -> HeadFiles {
    HeadFiles {
        config: Some(("atlantis.yaml".into(), "version: 3\n".into())),
        terraform: vec![
            ("envs/prod/main.tf".into(), "a = 1\n".into()),
            (
                "modules/net/main.tf".into(),
                "variable \"cidr\" {}\n".into(),
            ),
        ],
    }
}

/// What `read_tree` gives of [`TREE`] for the config and the Terraform files.
pub fn tree_archived() -> Vec<(String, Vec<u8>)> {
    tree_wanted()
        .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
        .collect()
}
