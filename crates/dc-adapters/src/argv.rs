//! Checks on values that go onto a command line, shared by the command modules.

use crate::error::{Error, Result};

/// Refuses a value that a command could mistake for an option (leading `-`), an empty value and
/// values with control characters. Callers validate their values properly; this is the last line.
pub(crate) fn check_value(what: &'static str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        "it is empty"
    } else if value.starts_with('-') {
        "it starts with `-` and would be read as an option"
    } else if value.chars().any(char::is_control) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(Error::InvalidArgument {
        what,
        value: value.to_owned(),
        reason,
    })
}
