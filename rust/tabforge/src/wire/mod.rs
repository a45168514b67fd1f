//! The wire protocols: Open Inference Protocol V2 (JSON and binary tensors) and KServe V1.

pub mod assemble;
pub mod binary;
pub(crate) mod json;
mod records;
pub mod response;
pub(crate) mod tensor;
pub mod v1;
pub mod v2;

#[cfg(test)]
mod fuzz;
