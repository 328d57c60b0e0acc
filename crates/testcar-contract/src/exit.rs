//! Exit classes shared by every binary: 0 passed, 1 failed, 2 error.

use crate::result::Status;

/// How a Testcar process ends. The numeric value is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExitClass {
    /// Every suite and check passed.
    Passed = 0,
    /// The tests ran and a check, expectation or threshold failed.
    Failed = 1,
    /// The tests could not be run or judged: bad definitions, unreachable service,
    /// refused credentials, timeout, bad arguments.
    Error = 2,
}

impl ExitClass {
    /// The process exit code of this class.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The worse of two classes (error beats failed beats passed).
    pub fn worst(self, other: ExitClass) -> ExitClass {
        self.max(other)
    }
}

impl From<Status> for ExitClass {
    fn from(status: Status) -> Self {
        match status {
            Status::Passed => ExitClass::Passed,
            Status::Failed => ExitClass::Failed,
            Status::Error => ExitClass::Error,
        }
    }
}

impl From<ExitClass> for std::process::ExitCode {
    fn from(class: ExitClass) -> Self {
        std::process::ExitCode::from(class.code() as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_contract() {
        assert_eq!(ExitClass::from(Status::Passed).code(), 0);
        assert_eq!(ExitClass::from(Status::Failed).code(), 1);
        assert_eq!(ExitClass::from(Status::Error).code(), 2);
    }

    #[test]
    fn worst_prefers_error() {
        assert_eq!(
            ExitClass::Passed.worst(ExitClass::Failed),
            ExitClass::Failed
        );
        assert_eq!(ExitClass::Error.worst(ExitClass::Failed), ExitClass::Error);
        assert_eq!(
            ExitClass::Passed.worst(ExitClass::Passed),
            ExitClass::Passed
        );
    }
}
