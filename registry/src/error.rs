//! Errors of the registry.

use abacus_schema::SchemaError;

/// What can go wrong while reading or writing experiment definitions.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A ClickHouse statement failed.
    #[error(transparent)]
    Query(#[from] SchemaError),
    /// A stored definition is not valid JSON or breaks the rules of `abacus-assign`.
    #[error("stored experiment \"{id}\" version {version} is unreadable: {message}")]
    Corrupt {
        /// Experiment id of the row.
        id: String,
        /// Version of the row.
        version: u32,
        /// What is wrong.
        message: String,
    },
    /// A definition could not be encoded as JSON.
    #[error("failed to encode experiment \"{id}\" as JSON: {message}")]
    Encode {
        /// Experiment id.
        id: String,
        /// The encoder's message.
        message: String,
    },
    /// A stored flag does not read back as a valid flag.
    #[error("stored flag \"{name}\" version {version} is unreadable: {message}")]
    CorruptFlag {
        /// Flag name of the row.
        name: String,
        /// Version of the row.
        version: u32,
        /// What is wrong.
        message: String,
    },
    /// A flag could not be encoded for storage.
    #[error("failed to encode flag \"{name}\" for the registry: {message}")]
    EncodeFlag {
        /// Flag name.
        name: String,
        /// What went wrong.
        message: String,
    },
}
