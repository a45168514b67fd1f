//! Model references, `name`, `name:3` and `name@staging`, parsed exactly as Python parses them.

use std::fmt;
use std::str::FromStr;

use crate::error::{quoted, Error};

/// The alias an unversioned reference resolves to when it is set.
pub const DEFAULT_ALIAS: &str = "production";

/// A reference to a model in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    /// Model name.
    pub name: String,
    /// An explicit version (`name:3`).
    pub version: Option<u64>,
    /// An alias (`name@staging`).
    pub alias: Option<String>,
}

fn name_ok(name: &str) -> bool {
    let bytes = name.as_bytes();
    let body = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-';
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes[1..].iter().all(body)
}

fn alias_ok(alias: &str) -> bool {
    let bytes = alias.as_bytes();
    let body = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes[1..].iter().all(body)
}

/// Refuse a name that is not `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn validate_name(name: &str) -> Result<&str, Error> {
    if name_ok(name) {
        return Ok(name);
    }
    Err(Error::Registry(format!(
        "invalid model name {}: use 1-64 characters of a-z, 0-9, '_' and '-', starting with a \
         letter or digit",
        quoted(name)
    )))
}

/// Refuse an alias that is not `[a-z][a-z0-9-]{0,63}`.
pub fn validate_alias(alias: &str) -> Result<&str, Error> {
    if alias_ok(alias) {
        return Ok(alias);
    }
    Err(Error::Registry(format!(
        "invalid alias {}: use a-z, 0-9 and '-', starting with a letter",
        quoted(alias)
    )))
}

impl ModelRef {
    /// A reference to the default version of `name`.
    pub fn latest(name: &str) -> Self {
        ModelRef {
            name: name.to_string(),
            version: None,
            alias: None,
        }
    }
}

impl FromStr for ModelRef {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let raw = text.trim();
        if let Some((name, rest)) = raw.split_once(':') {
            let version = rest
                .parse::<u64>()
                .ok()
                .filter(|v| *v >= 1 && rest.bytes().all(|b| b.is_ascii_digit()));
            let Some(version) = version else {
                return Err(Error::Registry(format!(
                    "malformed reference {}: version must be 1, 2, ...",
                    quoted(text)
                )));
            };
            validate_name(name)?;
            return Ok(ModelRef {
                name: name.to_string(),
                version: Some(version),
                alias: None,
            });
        }
        if let Some((name, alias)) = raw.split_once('@') {
            validate_name(name)?;
            validate_alias(alias)?;
            return Ok(ModelRef {
                name: name.into(),
                version: None,
                alias: Some(alias.into()),
            });
        }
        if !name_ok(raw) {
            return Err(Error::Registry(format!(
                "malformed reference {}: use name, name:VERSION or name@ALIAS",
                quoted(text)
            )));
        }
        Ok(ModelRef::latest(raw))
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.version, &self.alias) {
            (Some(v), _) => write!(f, "{}:{v}", self.name),
            (None, Some(a)) => write!(f, "{}@{a}", self.name),
            (None, None) => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let r: ModelRef = "churn:3".parse().unwrap();
        assert_eq!((r.name.as_str(), r.version), ("churn", Some(3)));
        let r: ModelRef = "churn@staging".parse().unwrap();
        assert_eq!(r.alias.as_deref(), Some("staging"));
        assert_eq!("churn".parse::<ModelRef>().unwrap().to_string(), "churn");
    }

    #[test]
    fn refuses_what_python_refuses() {
        for bad in [
            "churn:0",
            "churn:x",
            "churn:01x",
            "Churn",
            "churn@1a",
            "",
            "a b",
            "x:+3",
        ] {
            assert!(bad.parse::<ModelRef>().is_err(), "{bad} parsed");
        }
    }
}
