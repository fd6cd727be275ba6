//! A repository's files from one `.tar.gz` archive of a commit (GitHub's
//! `GET /repos/{o}/{r}/tarball/{sha}`, GitLab's `repository/archive.tar.gz`, Gitea's
//! `archive/{sha}.tar.gz`, Bitbucket Server's `archive?format=tgz&prefix=`: the shape
//! `git archive --prefix` writes): read while it downloads, the single top-level folder
//! stripped, only the regular files a [`TreeFilter`] wants kept.
//!
//! Nothing is written to disk, and an archive is refused rather than half-used when it is
//! malformed (bad gzip, bad tar, a truncated stream), holds a path that climbs out of the tree
//! (`..`, absolute) or is not under one top-level folder, or exceeds [`ArchiveLimits`]: the
//! caller then reads the files one by one. Symlinks and other entry types are skipped, so the
//! caller reads those paths one by one too. Tests: `tests/vcs/vcs_archive.rs`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read};

use bytes::Bytes;
use flate2::read::GzDecoder;
use tar::EntryType;
use tokio::sync::mpsc;

use super::tree::TreeFilter;

/// The most compressed bytes read from the host: 256 MiB.
pub const MAX_COMPRESSED: u64 = 256 << 20;
/// The most uncompressed tar bytes walked through: 2 GiB (a bound on the CPU a
/// decompression bomb can cost).
pub const MAX_UNPACKED: u64 = 2 << 30;
/// The most file bytes kept in memory: 64 MiB.
pub const MAX_KEPT: u64 = 64 << 20;

/// How much of an archive is read before it is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Compressed bytes downloaded.
    pub compressed: u64,
    /// Uncompressed bytes walked through.
    pub unpacked: u64,
    /// Bytes of the wanted files kept.
    pub kept: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            compressed: MAX_COMPRESSED,
            unpacked: MAX_UNPACKED,
            kept: MAX_KEPT,
        }
    }
}

/// Why an archive was not used.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The download failed, or the gzip or tar stream is malformed or truncated.
    #[error("the archive cannot be read")]
    Read(#[source] io::Error),
    /// Over one of [`ArchiveLimits`].
    #[error("the archive's {what} exceed {limit} bytes")]
    TooLarge {
        /// Which bytes: compressed, unpacked, kept.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// An entry's path climbs out of the tree, is absolute or is not UTF-8.
    #[error("the archive holds an unsafe path {path:?}")]
    UnsafePath {
        /// The path as the archive spells it (lossy).
        path: String,
    },
    /// Entries are not all under one top-level folder.
    #[error("the archive's entry {path:?} is not under its single top-level folder")]
    Layout {
        /// The path as the archive spells it.
        path: String,
    },
}

/// Counts the bytes read through it and fails past `limit`.
struct Capped<'a, R> {
    inner: R,
    read: &'a Cell<u64>,
    limit: u64,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        if self.read.get() > self.limit {
            return Err(io::Error::other("archive over its size limit"));
        }
        Ok(n)
    }
}

/// The path inside the repository of an archive entry: its top-level folder (which must be
/// `top`'s, set by the first entry) stripped. `None` for the top-level folder itself.
fn repo_path(raw: &[u8], top: &mut Option<String>) -> Result<Option<String>, ArchiveError> {
    let lossy = || String::from_utf8_lossy(raw).into_owned();
    let text = std::str::from_utf8(raw).map_err(|_| ArchiveError::UnsafePath { path: lossy() })?;
    let parts: Vec<&str> = text.trim_end_matches('/').split('/').collect();
    if text.starts_with('/')
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(ArchiveError::UnsafePath { path: lossy() });
    }
    let Some((first, rest)) = parts.split_first() else {
        return Err(ArchiveError::UnsafePath { path: lossy() });
    };
    match top {
        Some(t) if t != first => return Err(ArchiveError::Layout { path: lossy() }),
        Some(_) => {}
        None => *top = Some((*first).to_owned()),
    }
    Ok((!rest.is_empty()).then(|| rest.join("/")))
}

/// The files `wanted` accepts from the `.tar.gz` read from `reader`, by path in the repository.
///
/// # Errors
///
/// [`ArchiveError`] when the archive is malformed, unsafe or over `limits` (its compressed
/// size is the caller's to count).
pub fn unpack(
    reader: impl Read,
    wanted: &TreeFilter,
    limits: &ArchiveLimits,
) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let walked = Cell::new(0);
    let over = || walked.get() > limits.unpacked;
    let capped = Capped {
        inner: GzDecoder::new(reader),
        read: &walked,
        limit: limits.unpacked,
    };
    let mut archive = tar::Archive::new(capped);
    let mut files = BTreeMap::new();
    let mut kept = 0u64;
    let mut top = None;
    let read_error = |e: io::Error| {
        if over() {
            ArchiveError::TooLarge {
                what: "unpacked bytes",
                limit: limits.unpacked,
            }
        } else {
            ArchiveError::Read(e)
        }
    };
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let kind = entry.header().entry_type();
        // GitHub's archives open with a pax global header carrying the commit id.
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        let Some(path) = repo_path(&entry.path_bytes(), &mut top)? else {
            continue;
        };
        if kind != EntryType::Regular || !wanted.wants(&path) {
            continue;
        }
        kept = kept.saturating_add(entry.size());
        if kept > limits.kept {
            return Err(ArchiveError::TooLarge {
                what: "wanted files",
                limit: limits.kept,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry.read_to_end(&mut bytes).map_err(read_error)?;
        files.insert(path, bytes);
    }
    // Read to the end so that gzip's trailer (CRC and length) proves the stream whole.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(read_error)?;
    Ok(files)
}

/// Reads a channel of chunks as one stream.
struct Chunks {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// [`unpack`]s the body of `response` while it downloads, on a blocking thread, reading at
/// most `limits.compressed` bytes.
///
/// # Errors
///
/// As [`unpack`], and [`ArchiveError::Read`] when the download fails.
pub async fn download(
    mut response: reqwest::Response,
    wanted: TreeFilter,
    limits: ArchiveLimits,
) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let (tx, rx) = mpsc::channel(16);
    let unpacking = tokio::task::spawn_blocking(move || {
        let chunks = Chunks {
            rx,
            current: Bytes::new(),
        };
        unpack(chunks, &wanted, &limits)
    });
    let mut received = 0u64;
    let mut too_large = false;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                // The unpacker sees the failure as a read error, and reports it.
                let _ = tx.send(Err(io::Error::other(e))).await;
                break;
            }
        };
        received += chunk.len() as u64;
        if received > limits.compressed {
            too_large = true;
            let _ = tx.send(Err(io::Error::other("over the limit"))).await;
            break;
        }
        if tx.send(Ok(chunk)).await.is_err() {
            // The unpacker stopped early (an error): it has its answer.
            break;
        }
    }
    drop(tx);
    let unpacked = unpacking
        .await
        .map_err(|e| ArchiveError::Read(io::Error::other(e)))?;
    if too_large {
        return Err(ArchiveError::TooLarge {
            what: "compressed bytes",
            limit: limits.compressed,
        });
    }
    unpacked
}
