//! network interfaces.
