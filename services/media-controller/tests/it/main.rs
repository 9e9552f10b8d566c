mod codegen;
mod descriptors;
mod engine;
mod fake_kms;
mod service;
mod transport;
