//! The `manager_ServerManager` singleton (PROTOCOL.md §5.3): what the server says about itself.

use serde_json::{json, Value};

use super::model::{Class, Operation, Property};
use super::params::Params;
use super::{Core, RpcResult, SERVER_MANAGER};

const VERSION: &str = "7.3.0";

fn module(name: &str, factories: &[&str]) -> Value {
    json!({"__module__": "kurento", "__type__": "ModuleInfo", "name": name, "version": VERSION,
        "generationTime": "camview-media-engine", "factories": factories})
}

impl Core {
    /// Operations of the server manager; what it inherits from MediaObject (tags, names) is not
    /// served, as the object is not in the registry.
    pub(super) fn invoke_server_manager(&mut self, op: Operation, operation: &str, params: &Params) -> RpcResult {
        match op {
            Operation::Get(Property::Info) => Ok(self.server_info()),
            Operation::Get(Property::Pipelines) => Ok(json!(self
                .objects
                .iter()
                .filter(|(_, o)| o.class == Class::MediaPipeline)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>())),
            Operation::Get(Property::Sessions) => Ok(json!(self.sessions.keys().cloned().collect::<Vec<_>>())),
            Operation::Get(Property::Metadata) => Ok(json!("")),
            Operation::Get(Property::Id) => Ok(json!(SERVER_MANAGER)),
            Operation::GetCpuCount => Ok(json!(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))),
            // The CPU meter's last period (1 s), whatever interval is asked: the call never blocks.
            Operation::GetUsedCpu(_) => Ok(json!(self.ctx.counters.cpu.percent())),
            Operation::GetUsedMemory => Ok(json!(0)),
            _ => Err(params.unknown_operation(operation)),
        }
    }

    fn server_info(&self) -> Value {
        json!({
            "__module__": "kurento", "__type__": "ServerInfo", "version": VERSION, "type": "KMS", "capabilities": [],
            "modules": [
                module("core", &["kurento.MediaPipeline"]),
                module("elements", &["kurento.RtpEndpoint", "kurento.WebRtcEndpoint"]),
                module("filters", &[]),
            ],
        })
    }
}
