mod codegen;
mod descriptors;
mod engine;
mod fake_kms;
mod transport;
