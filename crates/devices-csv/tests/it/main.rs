//! Integration tests of devices-csv: values, the lossless file model, fixture-driven merge
//! snapshots, the SPEC §9 defects, and properties.

mod defects;
mod file_model;
mod job_text;
mod merge_cases;
mod properties;
mod report;
mod values;
