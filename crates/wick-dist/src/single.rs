//! [`SingleProcess`]: the world of one process.

use crate::communicator::{Communicator, Worker};
use crate::error::{Error, Result};

/// World size 1: every collective leaves its buffers as they are. A distributed `fit` on
/// it is the plain `fit`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

fn root_ok(op: &'static str, root: usize) -> Result<()> {
    if root == 0 {
        Ok(())
    } else {
        Err(Error::Invalid { op, detail: format!("root rank {root} is outside a world of 1 process") })
    }
}

impl Communicator for SingleProcess {
    fn worker(&self) -> Worker {
        Worker::SINGLE
    }
    fn backend(&self) -> &'static str {
        "single-process"
    }
    fn all_reduce_sum_f64(&self, _buf: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn all_reduce_sum_f32(&self, _buf: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn broadcast_f32(&self, _buf: &mut [f32], root: usize) -> Result<()> {
        root_ok("broadcast", root)
    }
    fn broadcast_f64(&self, _buf: &mut [f64], root: usize) -> Result<()> {
        root_ok("broadcast", root)
    }
    fn broadcast_bytes(&self, _buf: &mut Vec<u8>, root: usize) -> Result<()> {
        root_ok("broadcast", root)
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
}
