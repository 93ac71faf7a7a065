//! Parsing placeholder.
