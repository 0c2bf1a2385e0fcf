//! The device the runner computes on: `WICK_TEST_DEVICE` (`cpu` when unset, `cuda` for
//! GPU 0 in a `--features cuda` build), opened once.

use std::sync::OnceLock;

use candle_core::Device;

/// The runner's device. A device that cannot be opened ends the run with the reason (the
/// runner has nothing to compute without it).
pub fn device() -> &'static Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE.get_or_init(|| {
        let name = std::env::var("WICK_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
        let opened = match name.as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Device::new_cuda(0).map_err(|e| e.to_string()),
            other => Err(format!("expected cpu or cuda, got {other:?}")),
        };
        opened.unwrap_or_else(|e| {
            eprintln!("error: WICK_TEST_DEVICE={name}: {e}");
            std::process::exit(2)
        })
    })
}
