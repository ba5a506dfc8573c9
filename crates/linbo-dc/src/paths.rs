//! Paths on the DC: the root prefix that lets every file live in a sandbox directory, school
//! names, and `{school}` placeholders.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The directory that stands for `/`. On a DC it is `/`; tests put a sandbox there, so no test
/// touches the real `/etc` or `/var`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    /// The real root `/`.
    pub fn system() -> Root {
        Root(PathBuf::from("/"))
    }

    /// A sandbox directory standing for `/`.
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root(dir.into())
    }

    /// Where `path` (as the DC names it) is: `/etc/x` → `<root>/etc/x`. A path that already lies
    /// inside the root (a sandbox path written into a sandbox file) stays as it is.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.starts_with(&self.0) {
            return path.to_owned();
        }
        match path.strip_prefix("/") {
            Ok(relative) => self.0.join(relative),
            Err(_) => self.0.join(path),
        }
    }
}

/// A school name as sophomorix knows it (`default-school`, `gymnasium`); it becomes part of file
/// paths, so only letters, digits, `-` and `_` are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct School(String);

impl School {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `default-school`.
    pub fn default_school() -> School {
        School("default-school".to_owned())
    }

    /// Whether this is `default-school` (whose names carry no `<school>-` prefix).
    pub fn is_default(&self) -> bool {
        self.0 == "default-school"
    }

    /// `template` with every `{school}` replaced by this school.
    pub fn expand(&self, template: &str) -> String {
        template.replace("{school}", &self.0)
    }
}

impl FromStr for School {
    type Err = String;

    fn from_str(name: &str) -> Result<School, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(School(name.to_owned()))
        } else {
            Err(format!(
                "expected a school name of letters, digits, '-' and '_' (it becomes part of file paths), found {name:?}"
            ))
        }
    }
}

impl fmt::Display for School {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
