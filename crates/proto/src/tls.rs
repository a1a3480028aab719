//! placeholder: being written (compiles so the rest of the workspace builds).
use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

pub fn probe(_dir: Dir, _data: &[u8]) -> Probe {
    Probe::NotForUs
}

pub struct TlsAnalyzer;

impl TlsAnalyzer {
    pub fn new(_config: &ProtoConfig) -> Self {
        TlsAnalyzer
    }
}

impl Analyzer for TlsAnalyzer {
    fn service(&self) -> &'static str {
        "tls"
    }
    fn data(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _data: &[u8]) -> Status {
        Status::Done
    }
    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Done
    }
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}
