//! internet gateways.
