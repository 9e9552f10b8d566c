//! Generates the Kurento client from our descriptors in `proto/kurento/` (camview-kurento-model).

fn main() {
    let model = camview_kurento_model::our_model_for_build_script();
    let code = camview_kurento_model::client::generate(&model).unwrap_or_else(|e| panic!("kurento descriptors: {e}"));
    camview_kurento_model::write_out("kurento_generated.rs", &code);
}
