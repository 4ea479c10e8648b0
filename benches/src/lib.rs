//! Shared generators for the etraq benchmarks.
