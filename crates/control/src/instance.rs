//! instances.
