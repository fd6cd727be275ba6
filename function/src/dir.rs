//! The one directory normaliser. Every path named relative to the repository or a project goes
//! through [`normalize_dir`]: a project's `dir` in the repo config, a comment's `-d`, the path
//! arguments a comment passes to Terraform (relative to the project directory), local module
//! sources and a project named by its directory. No two of them disagree on what is inside.

/// Normalises a path relative to a root (the repository's, or a project's for Terraform's path
/// arguments): `/`-separated, without `.` or empty components, `.` for the root itself.
///
/// - `..` is resolved against the component before it as long as the path stays inside the
///   root: `a/../b` is `b`, `a/b/../..` is `.`.
/// - A path that climbs above the root is refused (`None`), wherever its `..` is: `../a`,
///   `a/../../b`.
/// - So is a path that is empty, absolute (`/etc`), or holds a backslash (`\\server`,
///   `C:\x`: a separator on Windows and a name character elsewhere, so either reading could
///   disagree with the other), a colon (a drive, `C:x`, or a URL scheme) or a control
///   character.
///
/// Resolution is lexical, over the text: it reads no file system (a symbolic link in the
/// repository is what the repository says it is, with or without `..`).
#[must_use]
pub fn normalize_dir(dir: &str) -> Option<String> {
    if dir.is_empty()
        || dir.starts_with('/')
        || dir.contains(['\\', ':'])
        || dir.chars().any(char::is_control)
    {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

#[cfg(test)]
mod tests {
    use super::normalize_dir;

    #[test]
    fn paths_inside_the_root_are_normalised() {
        for (dir, normal) in [
            ("./a//b/", "a/b"),
            (".", "."),
            ("./", "."),
            ("a/../b", "b"),
            ("a/b/../..", "."),
            ("a/./b/../c", "a/c"),
            ("envs/prod", "envs/prod"),
            ("-x", "-x"),
        ] {
            assert_eq!(normalize_dir(dir).as_deref(), Some(normal), "{dir:?}");
        }
    }

    #[test]
    fn paths_that_leave_the_root_or_are_not_portable_are_refused() {
        for dir in [
            "",
            "..",
            "../a",
            "a/../../b",
            "a/b/../../..",
            "/etc",
            "//server/share",
            "\\\\server",
            "C:\\x",
            "C:x",
            "a\\b",
            "..\\a",
            "s3://bucket",
            "a\nb",
            "a\tb",
        ] {
            assert_eq!(normalize_dir(dir), None, "{dir:?}");
        }
    }
}
