mod descriptors;
mod fake_kms;
mod transport;
