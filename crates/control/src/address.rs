//! addresss.
