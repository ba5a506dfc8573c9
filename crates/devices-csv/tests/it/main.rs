//! Integration tests of devices-csv: values, the lossless file model, fixture-driven merge
//! snapshots, conflicts with other schools, the SPEC §9 defects, and properties.

mod cross_school;
mod defects;
mod file_model;
mod job_text;
mod merge_cases;
mod properties;
mod report;
mod values;
