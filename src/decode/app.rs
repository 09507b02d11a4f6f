//! Application-layer dispatch (replaced by the protocol parsers' branch).
use crate::event::{Fields, Kind};

#[derive(Debug, Clone)]
pub enum AppData {}

impl AppData {
    pub fn app_proto(&self) -> &'static str {
        match *self {}
    }
    pub fn kind(&self) -> Option<Kind> {
        match *self {}
    }
    pub fn fill(&self, _fields: &mut Fields) {
        match *self {}
    }
    pub fn category(&self) -> Option<&'static str> {
        match *self {}
    }
}

pub fn inspect(_proto: u8, _sport: u16, _dport: u16, _payload: &[u8]) -> Option<AppData> {
    None
}
