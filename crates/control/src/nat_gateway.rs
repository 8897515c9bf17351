//! nat gateways.
