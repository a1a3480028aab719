//! placeholder: being written (compiles so the rest of the workspace builds).
use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

pub fn probe(_dir: Dir, _data: &[u8]) -> Probe {
    Probe::NotForUs
}

pub struct DnsAnalyzer;

impl DnsAnalyzer {
    pub fn new_tcp(_config: &ProtoConfig) -> Self {
        DnsAnalyzer
    }
}

impl Analyzer for DnsAnalyzer {
    fn service(&self) -> &'static str {
        "dns"
    }
    fn data(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _data: &[u8]) -> Status {
        Status::Done
    }
    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Done
    }
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}

pub fn probe_tcp(_dir: Dir, _data: &[u8]) -> Probe {
    Probe::NotForUs
}
