//! Errors of the dashboard.

/// What can go wrong while serving or loading.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// Reading runs or rendering inputs failed.
    #[error(transparent)]
    Report(#[from] abacus_report::ReportError),
    /// Reading the registry failed.
    #[error(transparent)]
    Registry(#[from] abacus_registry::RegistryError),
    /// The listener failed.
    #[error("dashboard server failed: {0}")]
    Io(std::io::Error),
    /// A setting is invalid.
    #[error("invalid dashboard setting: {0}")]
    Invalid(String),
}
