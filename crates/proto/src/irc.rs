//! placeholder: being written (compiles so the rest of the workspace builds).
use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

pub fn probe(_dir: Dir, _data: &[u8]) -> Probe {
    Probe::NotForUs
}

pub struct IrcAnalyzer;

impl IrcAnalyzer {
    pub fn new(_config: &ProtoConfig) -> Self {
        IrcAnalyzer
    }
}

impl Analyzer for IrcAnalyzer {
    fn service(&self) -> &'static str {
        "irc"
    }
    fn data(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _data: &[u8]) -> Status {
        Status::Done
    }
    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Done
    }
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}
