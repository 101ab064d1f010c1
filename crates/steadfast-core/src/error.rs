use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use core::fmt::Display;

/// A setting that `build()` refused: which field, what value, and the rule it broke.
///
/// Every steadfast builder validates its configuration once, in `build()`, and
/// reports the first problem as a `ConfigError`. The message reads as a
/// sentence: `breaker.failure_rate_threshold must be in (0, 1], got 1.5`.
///
/// A config error is permanent: retrying the same `build()` cannot succeed.
///
/// # Examples
///
/// ```
/// use steadfast_core::ConfigError;
///
/// fn threshold(value: f64) -> Result<f64, ConfigError> {
///     ConfigError::ensure(
///         value > 0.0 && value <= 1.0,
///         "breaker.failure_rate_threshold",
///         value,
///         "in (0, 1]",
///     )?;
///     Ok(value)
/// }
///
/// let err = threshold(1.5).unwrap_err();
/// assert_eq!(err.to_string(), "breaker.failure_rate_threshold must be in (0, 1], got 1.5");
/// assert_eq!(err.field(), "breaker.failure_rate_threshold");
/// assert_eq!(err.value(), "1.5");
/// assert_eq!(err.rule(), "in (0, 1]");
/// // NaN fails every comparison, so it is rejected too.
/// assert!(threshold(f64::NAN).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {rule}, got {value}")]
#[non_exhaustive]
pub struct ConfigError {
    field: Cow<'static, str>,
    value: String,
    rule: Cow<'static, str>,
}

impl ConfigError {
    /// An error saying that `field` must be `rule` but was `value`.
    ///
    /// `rule` completes the sentence "`field` must be ...": write `"in (0, 1]"`,
    /// `"at least 1"`, `"finite"`, `"less than max_delay (2s)"`.
    ///
    /// ```
    /// # use steadfast_core::ConfigError;
    /// let err = ConfigError::new("retry.max_attempts", 0, "at least 1");
    /// assert_eq!(err.to_string(), "retry.max_attempts must be at least 1, got 0");
    /// ```
    #[must_use]
    pub fn new(
        field: impl Into<Cow<'static, str>>,
        value: impl Display,
        rule: impl Into<Cow<'static, str>>,
    ) -> ConfigError {
        ConfigError {
            field: field.into(),
            value: value.to_string(),
            rule: rule.into(),
        }
    }

    /// `Ok(())` when `condition` holds, otherwise [`ConfigError::new`] with the other arguments.
    ///
    /// Write conditions so that NaN fails them (`x > 0.0`, not `!(x <= 0.0)`).
    ///
    /// # Errors
    ///
    /// Returns the error when `condition` is false.
    ///
    /// ```
    /// # use steadfast_core::ConfigError;
    /// assert!(ConfigError::ensure(true, "x", 1, "positive").is_ok());
    /// assert!(ConfigError::ensure(false, "x", 0, "positive").is_err());
    /// ```
    pub fn ensure(
        condition: bool,
        field: impl Into<Cow<'static, str>>,
        value: impl Display,
        rule: impl Into<Cow<'static, str>>,
    ) -> Result<(), ConfigError> {
        if condition {
            Ok(())
        } else {
            Err(ConfigError::new(field, value, rule))
        }
    }

    /// The field's path, e.g. `breaker.failure_rate_threshold`.
    ///
    /// ```
    /// # use steadfast_core::ConfigError;
    /// assert_eq!(ConfigError::new("a.b", 1, "even").field(), "a.b");
    /// ```
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The rejected value, as text.
    ///
    /// ```
    /// # use steadfast_core::ConfigError;
    /// assert_eq!(ConfigError::new("a.b", 1, "even").value(), "1");
    /// ```
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The rule the value broke, completing "must be ...".
    ///
    /// ```
    /// # use steadfast_core::ConfigError;
    /// assert_eq!(ConfigError::new("a.b", 1, "even").rule(), "even");
    /// ```
    #[must_use]
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// Always `false`: the same configuration will be refused again.
    ///
    /// ```
    /// # use steadfast_core::ConfigError;
    /// assert!(!ConfigError::new("a", 0, "positive").is_temporary());
    /// ```
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn message_with_duration_value() {
        let d = core::time::Duration::from_millis(1500);
        let err = ConfigError::new(
            "backoff.max_delay",
            format_args!("{d:?}"),
            "at least initial_delay (2s)",
        );
        assert_eq!(
            err.to_string(),
            "backoff.max_delay must be at least initial_delay (2s), got 1.5s"
        );
    }

    #[test]
    fn owned_field_names() {
        let idx = 3;
        let err = ConfigError::new(format!("tiers[{idx}].factor"), f64::NAN, "finite");
        assert_eq!(err.to_string(), "tiers[3].factor must be finite, got NaN");
    }
}
