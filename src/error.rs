//! Typed errors. Bad input (a scenario, a tape, an argument) is an
//! [`InputError`], which the command line reports in one line and answers
//! with exit status 2; anything else is an [`Error::Failure`] (status 1).

use std::fmt;

/// Where a bad input was found and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file, or the command-line argument, that holds the bad input.
    pub origin: String,
    /// 1-based line and column inside `origin`, where known.
    pub position: Option<(usize, usize)>,
    /// The scenario key (dotted, as `--set` takes it), where there is one.
    pub key: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl InputError {
    /// An error about a whole input (no position, no key).
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            position: None,
            key: None,
            message: message.into(),
        }
    }

    /// The same error, naming a key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

/// Any error riskpool reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: exit status 2.
    #[error("{0}")]
    Input(#[from] InputError),
    /// Any other failure (writing a file, a worker thread): exit status 1.
    #[error("{0}")]
    Failure(String),
}

impl Error {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Failure(_) => 1,
        }
    }
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
