//! Where a new password comes from: one line of standard input (`--password-stdin`), a
//! prompt without echo on a terminal, or, with neither, a random one printed once.

use std::io::{BufRead, IsTerminal};

use camview_common::auth::password::{check_new_password, random_token};

use super::CliError;

/// A new password and whether it was generated (then the caller prints it once).
pub struct NewPassword {
    pub password: String,
    pub generated: bool,
}

/// Reads, prompts for or generates a password for `username`, checked against the rules.
pub fn obtain(username: &str, from_stdin: bool) -> Result<NewPassword, CliError> {
    if from_stdin {
        let password = read_line(std::io::stdin().lock())?;
        check_new_password(&password).map_err(CliError::Usage)?;
        return Ok(NewPassword { password, generated: false });
    }
    if std::io::stdin().is_terminal() {
        let first = prompt(&format!("new password for {username}: "))?;
        check_new_password(&first).map_err(CliError::Usage)?;
        let again = prompt("again: ")?;
        if again != first {
            return Err(CliError::Usage("the passwords differ".into()));
        }
        return Ok(NewPassword { password: first, generated: false });
    }
    Ok(NewPassword { password: generate(), generated: true })
}

/// A random password: 15 random bytes, 20 URL-safe characters.
pub fn generate() -> String {
    random_token(15)
}

/// The first line of `input` without its line ending (`\n` or `\r\n`).
fn read_line(mut input: impl BufRead) -> Result<String, CliError> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| CliError::Runtime(format!("reading the password from standard input: {e}")))?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(CliError::Usage("--password-stdin: standard input held no password".into()));
    }
    Ok(line.to_owned())
}

fn prompt(text: &str) -> Result<String, CliError> {
    rpassword::prompt_password(text)
        .map_err(|e| CliError::Runtime(format!("reading the password from the terminal: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_from_stdin_is_the_first_line_without_its_line_ending() {
        assert_eq!(read_line("s3cret pass\nignored\n".as_bytes()).unwrap(), "s3cret pass");
        assert_eq!(read_line("windows line\r\n".as_bytes()).unwrap(), "windows line");
        assert_eq!(read_line("no newline".as_bytes()).unwrap(), "no newline");
    }

    #[test]
    fn empty_stdin_is_a_usage_error() {
        assert!(matches!(read_line("".as_bytes()), Err(CliError::Usage(_))));
        assert!(matches!(read_line("\n".as_bytes()), Err(CliError::Usage(_))));
    }

    #[test]
    fn a_generated_password_passes_the_password_rules_and_differs_each_time() {
        let (a, b) = (generate(), generate());
        assert!(check_new_password(&a).is_ok());
        assert_ne!(a, b);
    }
}
