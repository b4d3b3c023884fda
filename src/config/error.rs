//! Start-up errors: everything that stops a node before it serves, as one sentence for the
//! operator that names the config file, the JSON key and, where there is one, the file it points to.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a node cannot start (or why `wssnode check` fails).
#[derive(Debug)]
pub enum StartError {
    /// The config file itself cannot be read or parsed.
    ConfigFile {
        /// The config file.
        file: PathBuf,
        /// What is wrong, with line and column where known.
        problem: String,
    },
    /// A key in the config has a value we cannot use.
    Key {
        /// The config file.
        file: PathBuf,
        /// JSON path of the key, e.g. `workers[0].transports[1].type`.
        json_path: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A file named by a config key cannot be used.
    KeyFile {
        /// JSON path of the key that names the file.
        json_path: String,
        /// The path as written in the config.
        named: String,
        /// The path after resolving it against the node directory.
        resolved: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// Features the config asks for that wssnode does not serve, one error each.
    Refused(Vec<StartError>),
    /// The command line is wrong.
    Usage(String),
    /// The system refused something start-up needs (a file `init` writes, signal handlers).
    System(String),
}

impl StartError {
    /// An error about the file that `key` names.
    pub fn file(key: &str, named: &str, resolved: &Path, problem: impl Into<String>) -> Self {
        StartError::KeyFile {
            json_path: key.to_string(),
            named: named.to_string(),
            resolved: resolved.to_path_buf(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::ConfigFile { file, problem } => {
                write!(f, "`{}`: {problem}", shown(file))
            }
            StartError::Key {
                file,
                json_path,
                problem,
            } => {
                write!(f, "`{}`: `{json_path}`: {problem}", shown(file))
            }
            StartError::KeyFile {
                json_path,
                named,
                resolved,
                problem,
            } => write!(
                f,
                "`{json_path}`: `{}` (resolved to `{}`): {problem}",
                named.escape_debug(),
                shown(resolved)
            ),
            StartError::Refused(all) => {
                let lines: Vec<String> = all.iter().map(ToString::to_string).collect();
                write!(f, "{}", lines.join("\n"))
            }
            StartError::Usage(text) | StartError::System(text) => write!(f, "{text}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A path as one line of text: control characters (a NUL, a newline) escaped, not printed.
fn shown(path: &Path) -> String {
    path.display().to_string().escape_debug().to_string()
}
