//! Compiles the TensorBoard schemas in `proto/` with protox (pure Rust) and prost-build.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "tensorboard/event.proto",
        "tensorboard/plugins/hparams.proto",
        "tensorboard/plugins/pr_curve.proto",
        "tensorboard/plugins/audio.proto",
        "tensorboard/plugins/custom_scalar.proto",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    for p in &paths {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    for dep in ["summary", "tensor", "tensor_shape", "types", "histogram"] {
        println!("cargo:rerun-if-changed={}", root.join(format!("tensorboard/{dep}.proto")).display());
    }
    let fds = protox::compile(files, [&root])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
